"""Content-addressed file storage in the database (attachments, form media, XLSForm sources)."""

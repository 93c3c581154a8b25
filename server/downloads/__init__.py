"""Export downloads: who may export what, the audit record, and streaming the file."""

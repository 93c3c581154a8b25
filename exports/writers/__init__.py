"""One writer per format, each over iterables of rows (commcare-export's TableWriter shape).

Writers import neither Flask nor the database: they get table specs and rows.
"""

"""CSV import and export of posts."""

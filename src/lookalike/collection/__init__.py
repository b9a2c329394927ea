"""The collection store: a folder's images embedded once, kept in step with the folder, searchable."""

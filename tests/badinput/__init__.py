"""Bad-input corpus: hostile files, folders and judge replies, each a clear error."""

"""Content policies (REGULATIONS.md C1–C14): one module per rule family, pure."""

"""Data files of the policies (see README.md here)."""

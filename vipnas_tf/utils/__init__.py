"""Small utilities shared by every layer of the package (no TF import here)."""

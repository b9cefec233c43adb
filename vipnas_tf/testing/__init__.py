"""Helpers for tests (importable by the project's tests and by users' own tests)."""

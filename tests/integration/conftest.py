"""Integration tests use the session broker and topic fixtures of tests/conftest.py."""

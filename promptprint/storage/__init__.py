"""Durable state: the SQLite record store, snapshot directories and the per-row
metadata that FAISS ids map to."""

"""promptprint: a prompt-fingerprinting similarity index that finds templated prompt
campaigns sent across many accounts.

The library (text, templates, vectors, storage, index, jobs, reconstruct) knows no gRPC;
``promptprint.server`` adapts it to the ``promptprint.v1`` contract, and
``promptprint.client`` and ``promptprint.cli`` call it. Importing this package is cheap:
heavy dependencies (torch, sentence-transformers, FAISS) load in the modules that need them.
"""

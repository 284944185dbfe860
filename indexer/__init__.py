"""promptprint's library: normalize -> fingerprint -> record -> index -> query.

No gRPC in here: scripts, notebooks and the server all use this package directly.
Heavy dependencies (torch, sentence-transformers, FAISS) are imported by the modules
that need them, so importing ``indexer.records`` or ``indexer.normalize`` stays cheap.
"""

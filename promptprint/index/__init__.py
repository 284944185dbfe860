"""The vector indexes (exact/HNSW, IVF-PQ), how one is chosen and built, and
PromptIndex, the facade that ties record, fingerprint, index and template view together."""

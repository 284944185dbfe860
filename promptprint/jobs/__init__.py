"""Batch jobs over a data directory: reindex (rebuild with a new model or
normalizer) and the retention purge."""

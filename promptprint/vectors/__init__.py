"""Semantic vectors: the embedder seam, the batching front end and the backlog of
rows waiting for their vectors."""

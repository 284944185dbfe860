"""Offline campaign reconstruction: from a corpus of prompts to ranked campaigns.

See :mod:`promptprint.reconstruct.pipeline` for the steps; each lives in its own module
(corpus, knn_graph, graph, clustering, slots, campaigns, outputs, report).
"""

"""Template clusters from the near-duplicate graph.

Connected components are the first cut: cheap, exact, and right for most of a corpus
(ordinary prompts are alone or in tiny groups). But one borderline edge can chain two
unrelated templates into one component, and a big component is usually several
templates glued by a few such edges. So every component of at least
``chain_min_size`` prompts is split by Leiden (modularity, weighted; igraph's C
implementation, seeded, so the same graph gives the same clusters): dense groups stay,
thin bridges are cut. Leiden on an isolated component always finds *some* split
with positive modularity, even of one template (a star of members around a founder
splits in two); so a component whose members are mostly (``whole_share``) one
lexical template of the online tracker is one template by that evidence and is kept
whole.

Labels are renumbered by decreasing cluster size (ties by first member), so cluster 0
is the biggest and the numbering does not depend on igraph's internals.
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from promptprint.reconstruct.knn_graph import Edges
from promptprint.reconstruct.progress import SILENT, Progress


@dataclasses.dataclass(frozen=True)
class ClusterParams:
    """How components are split.

    Attributes:
        chain_min_size: components at least this big are split by Leiden.
        resolution: Leiden's modularity resolution (higher: smaller clusters).
        seed: igraph's random seed (Leiden is randomized).
        whole_share: a component this much one lexical template is not split.
    """

    chain_min_size: int = 8
    resolution: float = 1.0
    seed: int = 0
    whole_share: float = 0.9

    def __post_init__(self) -> None:
        if self.chain_min_size < 2:
            raise ValueError(f"chain_min_size must be >= 2, got {self.chain_min_size}")
        if self.resolution <= 0:
            raise ValueError(f"resolution must be positive, got {self.resolution}")


def components(n: int, edges: Edges) -> np.ndarray:
    """Connected-component label of each of the n nodes."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges.src, edges.dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _leiden(size: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray, params: ClusterParams) -> np.ndarray:
    import igraph

    igraph.set_random_number_generator(random.Random(params.seed))
    graph = igraph.Graph(n=size, edges=np.column_stack([src, dst]).tolist())
    partition = graph.community_leiden(
        objective_function="modularity", weights=weight.tolist(), resolution=params.resolution, n_iterations=-1
    )
    return np.asarray(partition.membership, dtype=np.int64)


def _renumber(labels: np.ndarray) -> np.ndarray:
    uniques, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first, -counts))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    return rank[inverse]


def cluster(
    n: int,
    edges: Edges,
    params: ClusterParams = ClusterParams(),
    lexical: np.ndarray | None = None,
    progress: Progress = SILENT,
) -> np.ndarray:
    """Cluster label of each of the n nodes (0 = biggest cluster).

    Args:
        lexical: optional lexical template id per node (0 = none), see ``whole_share``.
        progress: told of each big component looked at (in prompts).
    """
    labels = components(n, edges)
    if n == 0 or not len(edges):
        return _renumber(labels)
    sizes = np.bincount(labels)
    big = np.flatnonzero(sizes >= params.chain_min_size)
    if len(big):
        # members of each component are contiguous in node_order; local = rank in component
        node_order = np.argsort(labels, kind="stable")
        comp_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        local = np.empty(n, dtype=np.int64)
        local[node_order] = np.arange(n) - comp_start[labels[node_order]]
        edge_comp = labels[edges.src]
        edge_order = np.argsort(edge_comp, kind="stable")
        comp_sorted = edge_comp[edge_order]
        next_label = int(labels.max()) + 1
        with progress("clustering", int(sizes[big].sum()), "prompt") as advance:
            for comp in big:
                members = node_order[comp_start[comp] : comp_start[comp] + sizes[comp]]
                advance(len(members))
                if lexical is not None:
                    ids = lexical[members]
                    ids = ids[ids > 0]
                    if len(ids) and np.bincount(np.unique(ids, return_inverse=True)[1]).max() >= params.whole_share * len(members):
                        continue
                lo, hi = np.searchsorted(comp_sorted, [comp, comp + 1])
                sel = edge_order[lo:hi]
                parts = _leiden(len(members), local[edges.src[sel]], local[edges.dst[sel]], edges.weight[sel], params)
                labels[members] = next_label + parts
                next_label += int(parts.max()) + 1
    return _renumber(labels)

"""Evaluation tooling for promptprint: simulated traffic with ground truth, and
the measurements built on it. It exists so detection quality can be measured on
traffic whose answer is known; nothing in ``promptprint`` imports it, it is not in
the wheel, and it uses the library only through its public modules.

:mod:`evaluation.simulate` writes the traffic, :mod:`evaluation.evaluate` and
:mod:`evaluation.reconstruction` score a detector on it, :mod:`evaluation.harness` is
what the benchmarks share (:mod:`evaluation.benchmark` and the others), the public
datasets are read by :mod:`evaluation.datasets`, and the hand-written texts live in
``evaluation/data``."""

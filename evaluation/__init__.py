"""Evaluation tooling for promptprint: simulated traffic with ground truth, and
the measurements built on it. Nothing here is imported by ``promptprint`` or
``server``; it exists so detection quality can be measured on traffic whose
answer is known."""

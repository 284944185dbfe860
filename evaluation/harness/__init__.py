"""What the benchmarks share: prompts, lookups, timed calls, the machine, reports, ingest.

* :mod:`~evaluation.harness.stream`: the seeded stream of distinct realistic prompts;
* :mod:`~evaluation.harness.lookups`: lookups drawn from what was ingested, exact or edited;
* :mod:`~evaluation.harness.calls`: percentiles, timed concurrent calls, interruptible waits;
* :mod:`~evaluation.harness.machine`: a process's memory and CPU, the machine, versions, commit;
* :mod:`~evaluation.harness.report`: how a bench script ends (Markdown out, JSON saved);
* :mod:`~evaluation.harness.stock`: the stock sentence-transformers baseline, in a child process;
* :mod:`~evaluation.harness.ingest`: ingesting the stream into a running server, RSS-guarded.

The benchmarks themselves are :mod:`evaluation.benchmark` (the service, end to end),
:mod:`evaluation.fingerprint_bench`, :mod:`evaluation.memory_bench` and
:mod:`evaluation.overload`.
"""

"""The benchmarks, each run from the repository's root as `python -m bench.<name>`: stream,
overhead, hot_path, client_costs, model_throughput, semantic_ceiling (baselines is a process
that bench.stream starts; the modules starting with `_` are their shared parts). Results and
the commands that produced them are in docs/benchmarks.md and docs/model.md."""

__all__: list[str] = []

"""What every bench shares, one module per job; benches import the modules, never each other.

- `timing`: bounded loops (sequential, async, threaded), percentiles, waiting with a deadline;
- `rows`: one measured phase (`Row`), its ratios to a reference row, the median of runs;
- `tables`: the one text-table formatter, with the columns the benches pick from;
- `results`: the repository and results paths, the commit and machine a run measured,
  writing the JSON, `BenchFailure` and the exit code;
- `accounting`: CPU per process and per thread group (Linux /proc), SQL statements and
  transactions per engine;
- `profile`: cProfile of worker threads, trimmed stats listings, path stripping;
- `probes`: a recording probe, the stage timings the product reports (node/app/probes.py);
- `log`: progress lines on stderr.
"""

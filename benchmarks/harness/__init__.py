"""The benchmarks' shared harness: problems, runners, tables, JSON and one command line.

Every script in `benchmarks/` builds its parser with `harness.cli.parser` (`--quick`,
`--json PATH`, `--seed`) and ends with `harness.cli.write_json`; runs its systems through
`harness.runners` (`temporary_study`: a hashtune Study on a temporary store, with or without its
cache; `HashtuneRunner` / `OptunaRunner` / `PygloveRunner`: one trial per `step`; `evaluate`: the
one in-process evaluation); takes shared problems from `harness.problems` (Branin, Hartmann-6,
NB201 tabular, MLP digits, the four-decision toy); prints with `harness.tables` (rich, 80
columns). `tests/test_benchmarks.py` runs every script with `--quick`, so none can rot.

Submodules are imported where used (a script needing only the command line stays light).
"""

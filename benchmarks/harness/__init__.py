"""The benchmarks' shared harness: problems, runners, tables, JSON and one command line.

Every script in `benchmarks/` builds its parser with `cli.parser` (`--quick`, `--json PATH`,
`--seed`), runs its systems through `runners` (a hashtune Study on a temporary store, an Optuna
study, PyGlove evolution, one in-process evaluation helper), prints with `tables` (rich, 80
columns) and ends with `cli.write_json`. `tests/test_benchmarks.py` runs each with `--quick`.
"""

from harness.cli import machine, parser, quiet_libraries, write_json
from harness.runners import evaluate, scored_values, temporary_study
from harness.tables import console, fmt, print_table

__all__ = [
    "console",
    "evaluate",
    "fmt",
    "machine",
    "parser",
    "print_table",
    "quiet_libraries",
    "scored_values",
    "temporary_study",
    "write_json",
]

"""Searchers side by side: hashtune's vs Optuna's own samplers vs PyGlove's own evolution.

Quality: on the same seeds and the same trial budget, every method searches
  1. `nb201`: the NAS-Bench-201 cell space, scored by the tabular fixture
     (tests/fixtures/nb201_fixture.csv via `NasBench201TabularEvaluator`; maximise),
  2. `mlp`: the `mlp_digits` space trained by `MLPDigitsEvaluator` with few epochs (maximise),
  3. `branin`: Branin on the unit square with a categorical input transform (minimise),
  4. `hartmann6`: Hartmann-6 with two dimensions picked from a categorical grid and a categorical
     roll of the four continuous ones (minimise).
Methods: hashtune's `random`, `tpe`, `gp` and `regularized_evolution` driven directly through
ask/tell (`make_searcher`, evaluator called in-process: no store, so searchers are compared, not
stores); Optuna's own `TPESampler` / `GPSampler` (default settings) on an Optuna study written with
the same distributions; PyGlove's own `pg.evolution.regularized_evolution` driven with
`pg.sample` / feedback; and one `hashtune Study (store+cache) tpe` row: the full loop on SQLite
(ask, hash, cache, store, tell), whose cost per trial is the wall time less evaluation time.
Both evolutions use the same population and tournament sizes. The Study row's sampler stream
differs from `hashtune tpe`'s: a Study restores its searcher from the (empty) store on creation,
which reseeds it.

Overhead: milliseconds of ask+tell per trial (objective excluded) on the cheap `hartmann6`
function, averaged over a window of trials ending at 1,000 and 10,000 trials. Every method is
run for real up to `--max-trials` (default 1,000) and the window read from that run. Beyond it
(and for GP always: a real GP run to 1,000 costs about an hour) the searcher's history is first
filled with N - window random finished trials through each library's own resume path (hashtune
`Searcher.restore`, Optuna `study.add_trials`, PyGlove `DNAGenerator.recover`) and the window of
real asks is timed: a searcher's cost depends on how many trials it holds, not on who proposed
them. GP is cubic in the number of trials and stops at 1,000; the Study row is n/a beyond
`--max-trials`. Optuna's ask time includes its `suggest_*` calls and building the candidate;
hashtune's includes `space.materialize`; PyGlove's is the `pg.sample` step plus the feedback call.
GPSampler runs with `torch.set_num_threads(1)` (`--torch-threads`): on 2 shared cores torch's
intra-op threads made each ask about 10x slower.

Prints rich tables and writes `benchmarks/results/searchers.json`.
Usage: ``.venv/bin/python benchmarks/searchers.py [--seeds 5] [--budget 50] [--short | --quick]
[--json PATH]``;
``--methods`` adds the diagnostic rows `optuna:tpe-group` and `ht:tpe-indep`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, quiet_libraries, write_json  # noqa: E402
from harness.problems import (  # noqa: E402
    MLP_BATCH,
    NB201_FIXTURE,
    Problem,
    branin_problem,
    hartmann6_mixed_best,
    hartmann6_problem,
    mlp_problem,
    nb201_problem,
)
from searchers_report import print_tables  # noqa: E402
from searchers_runs import (  # noqa: E402
    DEFAULT_METHODS,
    LABELS,
    overhead_for,
    run_quality,
    summarize,
)

FIXTURE = NB201_FIXTURE
BENCHMARKS = ("nb201", "mlp", "branin", "hartmann6")


def make_bench(name: str, args: argparse.Namespace) -> Problem:
    """The benchmark called `name`."""
    if name == "nb201":
        return nb201_problem(FIXTURE)
    if name == "mlp":
        return mlp_problem(args.mlp_epochs)
    if name == "branin":
        return branin_problem()
    if name == "hartmann6":
        return hartmann6_problem(hartmann6_mixed_best())
    raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")


def _quiet_libraries(torch_threads: int) -> None:
    quiet_libraries()
    try:
        import torch

        torch.set_num_threads(torch_threads)
    except ImportError:
        pass


def _warm_up(benches: list[Problem]) -> None:
    """Pay one-time costs (XLA compiles, torch import) before anything is timed."""
    rng = random.Random(12345)
    for b in benches:
        if b.name == "mlp":
            from hashtune.spaces.mlp import MLPConfig

            for bs in MLP_BATCH:
                b.value(MLPConfig(hidden=[16], activation="relu", learning_rate=1e-3,
                                  weight_decay=1e-4, batch_size=bs))  # fmt: skip
        else:
            b.value(b.space.materialize(b.space.random_dna(rng)))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags (see `--help`)."""
    p = parser(__doc__, "searchers", seed=None)
    p.add_argument("--seeds", default="5", help="number of seeds (0..N-1) or a list like 0,3,7")
    p.add_argument("--budget", type=int, default=50, help="trials per run (every benchmark)")
    p.add_argument("--short", action="store_true", help="2 seeds, 20 trials, overhead @1,000 only")
    p.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=", ".join(LABELS))
    p.add_argument("--mlp-epochs", type=int, default=5)
    p.add_argument("--population", type=int, default=10, help="both evolutions")
    p.add_argument("--tournament", type=int, default=3, help="both evolutions")
    p.add_argument("--overhead-trials", default="1000,10000", help="'' skips the overhead part")
    p.add_argument("--overhead-bench", default="hartmann6", choices=BENCHMARKS)
    p.add_argument("--overhead-seed", type=int, default=0)
    p.add_argument(
        "--max-trials",
        type=int,
        default=1000,
        help="longest real run per method for overhead; beyond it histories are prefilled "
        "(the Study row: n/a)",
    )
    p.add_argument("--window", type=int, default=100, help="trials averaged for overhead")
    p.add_argument("--gp-window", type=int, default=5, help="asks timed for GP overhead")
    p.add_argument("--torch-threads", type=int, default=1, help="torch threads (GPSampler)")
    p.add_argument("--skip-quality", action="store_true")
    args = p.parse_args(argv)
    if args.short:
        args.seeds, args.budget = "2", min(args.budget, 20)
        args.overhead_trials, args.gp_window, args.mlp_epochs = "1000", 2, min(args.mlp_epochs, 2)
    if args.quick:  # seconds: one seed, a few trials, the cheap problems, a tiny overhead window
        args.seeds, args.budget, args.benchmarks = "1", min(args.budget, 6), "nb201,branin"
        args.overhead_trials, args.max_trials, args.window, args.gp_window = "30", 30, 10, 2
        args.overhead_bench = "branin"
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    args.seed_list = list(range(seeds[0])) if len(seeds) == 1 else seeds
    args.method_list = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in args.method_list:
        if m not in LABELS:
            p.error(f"unknown method {m!r}; known: {', '.join(LABELS)}")
    args.bench_list = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    args.n_list = sorted(int(n) for n in args.overhead_trials.split(",") if n.strip())
    if args.budget < 1 or not args.seed_list:
        p.error("need --budget >= 1 and at least one seed")
    if args.population < args.tournament or args.tournament < 2:
        p.error("need --population >= --tournament >= 2 (PyGlove's rule)")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the quality and overhead comparisons, print the tables, write the JSON."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    args = parse_args(argv)
    _quiet_libraries(args.torch_threads)
    console = Console(width=max(Console().width, 150))
    t_start = time.perf_counter()
    names = [] if args.skip_quality else list(args.bench_list)
    if args.n_list and args.overhead_bench not in names:
        names.append(args.overhead_bench)
    benches = {n: make_bench(n, args) for n in names}
    _warm_up(list(benches.values()))

    quality_jobs = [] if args.skip_quality else [
        (b, m, s) for b in args.bench_list for m in args.method_list for s in args.seed_list
    ]  # fmt: skip
    n_overhead = len(args.method_list) * len(args.n_list)
    record: dict[str, Any] = {
        "config": {
            **{k: v for k, v in vars(args).items() if k not in ("json",)},
            "seeds": args.seed_list,
            "methods": args.method_list,
            "benchmarks": args.bench_list,
            "overhead_trials": args.n_list,
            "json": str(args.json),
        },
        "env": {
            "python": platform.python_version(),
            "optuna": optuna.__version__,
            "pyglove": pg.__version__,
            "cpus": os.cpu_count(),
            "loadavg_start": os.getloadavg(),
            "platform": platform.platform(),
        },
        "quality": {},
        "overhead": {},
    }
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("searchers", total=len(quality_jobs) + n_overhead)
        for b, m, s in quality_jobs:
            bench = benches[b]
            progress.update(task, description=f"{b} · {LABELS[m]} · seed {s}")
            q = record["quality"].setdefault(
                b,
                {
                    "direction": bench.direction,
                    "budget": args.budget,
                    "best_known": bench.best_known,
                    "note": bench.note,
                    "methods": {},
                },
            )
            runs = q["methods"].setdefault(m, {"runs": {}})["runs"]
            runs[s] = run_quality(bench, m, s, args.budget, args)
            if len(runs) == len(args.seed_list):
                q["methods"][m]["summary"] = summarize(bench, runs, args.budget)
            progress.advance(task)
        record["setup_and_quality_s"] = time.perf_counter() - t_start
        if args.n_list:
            bench = benches[args.overhead_bench]
            record["config"]["overhead_bench"] = args.overhead_bench
            for m in args.method_list:
                progress.update(task, description=f"overhead · {LABELS[m]}")
                record["overhead"][m] = overhead_for(
                    m, bench, args.n_list, args, lambda: progress.advance(task)
                )
    record["env"]["loadavg_end"] = os.getloadavg()
    record["seconds"] = time.perf_counter() - t_start
    record["overhead_s"] = record["seconds"] - record["setup_and_quality_s"]
    print_tables(record, console)
    console.print(f"total {record['seconds']:.0f} s")
    write_json(record, args.json)
    return record


if __name__ == "__main__":
    main()

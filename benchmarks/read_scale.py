"""Reading and resuming big studies: resume time per searcher, query times, CLI, peak memory.

Fills SQLite stores through the store's own bulk API (`Store.add_finished_trials`) with
`--resume-trials` (10k) finished trials per searcher and `--read-trials` (100k) for the reads, on
a 4-parameter space (an int choice, a categorical, two floats; 3% failed, ~10% cache hits).

- resume: `Study.load` (restore) and then the first new trial (`optimize(n_trials=1)`), per
  searcher; Optuna beside it: `optuna.load_study` on its own SQLite holding the same trials, plus
  the first `ask` and its four `suggest_*` calls.
- reads at 100k (median / p95 of `--repeat`): best-10, the last page of 50 trials, stats, the
  Pareto front (2 and 3 objectives), `trials_dataframe()`; Optuna: `trials_dataframe()` and
  `best_trials` on its SQLite.
- CLI wall time of `hashtune best` and `hashtune trials` (a fresh process each, imports included).
- peak memory (tracemalloc) of a resume, of the 100k reads together and of each alone.

Prints an 80-column table and writes benchmarks/results/read_scale.json (`--json PATH` elsewhere).
Usage: ``.venv/bin/python benchmarks/read_scale.py [--resume-trials 10000] [--read-trials 100000]
[--quick] [--no-cli] [--json PATH]``
"""

from __future__ import annotations

import gc
import json
import logging
import math
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

from hashtune import FunctionEvaluator, Space, Study  # noqa: E402
from hashtune.store import Store  # noqa: E402
from hashtune.view import StudyView  # noqa: E402

ACTS = ["relu", "tanh", "gelu", "swish"]
SEARCHERS = ["random", "regularized_evolution", "hill_climb", "nsga2", "tpe", "cmaes", "qmc", "gp"]
MULTI = {"nsga2"}


def bench_space() -> Space:
    """Four decision points: an int choice, a categorical, two floats."""
    return Space(
        pg.Dict(
            a=pg.oneof(list(range(16))), b=pg.oneof(ACTS), x=pg.floatv(0.0, 1.0),
            y=pg.floatv(-2.0, 2.0),
        ),
        name="read_scale4",
    )  # fmt: skip


def score(c: Any) -> float:
    return -((c.a - 9) ** 2) / 10 - (c.x - 0.3) ** 2 - abs(c.y) + 0.1 * ACTS.index(c.b)


def score_cost(c: Any) -> tuple[float, float]:
    return score(c), float(c.a) + c.x


def score_cost_size(c: Any) -> tuple[float, float, float]:
    return score(c), float(c.a) + c.x, abs(c.y)


EVALUATORS = {1: (score, ("score",)), 2: (score_cost, ("score", "cost")),
              3: (score_cost_size, ("score", "cost", "size"))}  # fmt: skip
DIRECTIONS = {1: ("maximize",), 2: ("maximize", "minimize"),
              3: ("maximize", "minimize", "minimize")}  # fmt: skip


def evaluator(k: int) -> FunctionEvaluator:
    fn, names = EVALUATORS[k]
    return FunctionEvaluator(fn, objectives=names)


def make_rows(n: int, k: int, task: str, seed: int = 0) -> list[dict[str, Any]]:
    """`n` finished trials of `bench_space` with `k` objectives (3% failed, ~10% cached)."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1)
    rows: list[dict[str, Any]] = []
    paid: dict[str, int] = {}
    for i in range(n):
        a, bi, x, y = rng.randrange(16), rng.randrange(4), rng.random(), rng.uniform(-2, 2)
        params = {"a": a, "b": ACTS[bi], "x": x, "y": y}
        fhash = f"h{a}-{bi}-{int(x * 40)}-{int(y * 10)}"
        hit = fhash in paid and rng.random() < 0.9
        state = "CACHED" if hit else ("FAILED" if rng.random() < 0.03 else "COMPLETE")
        s = -((a - 9) ** 2) / 10 - (x - 0.3) ** 2 - abs(y) + 0.1 * bi + rng.gauss(0, 0.05)
        vals = [s, a + x, abs(y)][:k]
        start = t0 + timedelta(seconds=i)
        rows.append({
            "state": state, "params": params, "candidate": json.dumps(params),
            "dna": {"_type": "pyglove.core.geno.base.DNA", "format": "compact",
                    "value": [a, bi, x, y]},
            "values": None if state == "FAILED" else vals,
            "started_at": start, "finished_at": start + timedelta(seconds=0.5),
            "functional_hash": fhash, "task": task, "worker": f"w{i % 4}",
            "cached_from": paid.get(fhash) if hit else None,
            "error": "boom" if state == "FAILED" else None,
        })  # fmt: skip
        if state == "COMPLETE":
            paid.setdefault(fhash, i)
    return rows


def fill_study(url: str, name: str, searcher: str, k: int, n: int) -> None:
    """A study of `n` finished trials under `searcher`, created by `Study.create`."""
    study = Study.create(
        name, space=bench_space(), evaluator=evaluator(k), searcher=searcher, storage=url,
        directions=DIRECTIONS[k], seed=1,
    )  # fmt: skip
    rows = make_rows(n, k, study.task, seed=hash(name) % 1000)
    store = study.store
    for j in range(0, n, 20000):
        store.trials.add_finished(study.study_id, rows[j : j + 20000])
    study.close()


def optuna_fill(path: Path, n: int, k: int) -> str:
    """An Optuna SQLite study holding the same kind of trials, inserted with SQL (fast)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
        distribution_to_json,
    )

    url = f"sqlite:///{path}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="bench", storage=url, directions=list(DIRECTIONS[k]))
    dists = {"a": IntDistribution(0, 15), "b": CategoricalDistribution(ACTS),
             "x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(-2.0, 2.0)}  # fmt: skip
    djson = {p: distribution_to_json(d) for p, d in dists.items()}
    rows = make_rows(n, k, "optuna")
    t0 = datetime(2026, 1, 1)
    trials, params, values = [], [], []
    for i, r in enumerate(rows):
        tid = i + 1
        ok = r["values"] is not None
        state = "COMPLETE" if ok else "FAIL"
        trials.append((tid, i, 1, state, t0 + timedelta(seconds=i), t0 + timedelta(seconds=i)))
        p = r["params"]
        internal = {"a": p["a"], "b": ACTS.index(p["b"]), "x": p["x"], "y": p["y"]}
        params += [(tid, name, float(v), djson[name]) for name, v in internal.items()]
        if ok:
            values += [(tid, j, v, "FINITE") for j, v in enumerate(r["values"])]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, "
            "datetime_complete) VALUES (?, ?, ?, ?, ?, ?)", trials,
        )  # fmt: skip
        db.executemany(
            "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
            "VALUES (?, ?, ?, ?)", params,
        )  # fmt: skip
        db.executemany(
            "INSERT INTO trial_values (trial_id, objective, value, value_type) "
            "VALUES (?, ?, ?, ?)", values,
        )  # fmt: skip
    return url


def timed(fn, repeat: int = 1) -> tuple[float, float, Any]:
    """(median s, p95 s, last result) of `repeat` calls."""
    times, out = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return (
        statistics.median(times),
        times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)],
        out,
    )


def peak_mb(fn) -> float:
    """Peak traced Python allocation (MB) while `fn` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def resume(url: str, name: str, k: int) -> tuple[float, float]:
    """(seconds in Study.load, seconds for the first new trial)."""
    t = time.perf_counter()
    study = Study.load(name, storage=url, space=bench_space(), evaluator=evaluator(k))
    loaded = time.perf_counter() - t
    study.optimize(n_trials=1)
    first = time.perf_counter() - t - loaded
    study.close()
    return loaded, first


def optuna_resume(url: str, searcher: str) -> float:
    samplers = {
        "random": lambda: optuna.samplers.RandomSampler(seed=1),
        "tpe": lambda: optuna.samplers.TPESampler(seed=1, multivariate=True, constant_liar=True),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=1),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=1, warn_independent_sampling=False),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=1, warn_independent_sampling=False),
        "gp": lambda: optuna.samplers.GPSampler(seed=1),
    }
    t = time.perf_counter()
    study = optuna.load_study(study_name="bench", storage=url, sampler=samplers[searcher]())
    trial = study.ask()
    trial.suggest_int("a", 0, 15)
    trial.suggest_categorical("b", ACTS)
    trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_float("y", -2.0, 2.0)
    took = time.perf_counter() - t
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return took


def page(view: StudyView, n: int = 50):
    """The CLI's `trials --last 50` rows (the new API when present, else the old path)."""
    latest = getattr(view, "latest_trials", None)
    return latest(n) if latest is not None else view.trials()[-n:]


def cli(args: list[str]) -> float:
    exe = Path(sys.executable).with_name("hashtune")
    t = time.perf_counter()
    subprocess.run([str(exe), *args], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = parser(__doc__, "read_scale", seed=None)
    ap.add_argument("--resume-trials", type=int, default=10_000)
    ap.add_argument("--read-trials", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--searchers", default=",".join(SEARCHERS))
    ap.add_argument("--memory-searchers", default="regularized_evolution,tpe")
    ap.add_argument("--optuna-repeat", type=int, default=3, help="repeats of Optuna's 100k reads")
    ap.add_argument("--skip-reads", action="store_true", help="only the resume part")
    ap.add_argument("--dir", default="/tmp/loopr/read_scale")
    ap.add_argument("--no-cli", action="store_true", help="skip the `hashtune` CLI timings")
    args = ap.parse_args()
    if args.quick:  # seconds: tiny studies, two searchers, no CLI processes, a private folder
        args.resume_trials, args.read_trials, args.repeat, args.optuna_repeat = 30, 200, 2, 1
        args.searchers, args.memory_searchers, args.no_cli = "random,tpe", "random", True
        args.dir = tempfile.mkdtemp(prefix="read_scale_quick_")
    logging.getLogger("hashtune").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.db*"):
        f.unlink()
    out: dict[str, Any] = {"resume_trials": args.resume_trials, "read_trials": args.read_trials,
                           "resume": {}, "reads": {}, "cli": {}, "memory_mb": {}}  # fmt: skip
    n10 = args.resume_trials
    # -- resume per searcher -------------------------------------------------------------------
    opt_urls = {k: optuna_fill(work / f"optuna_resume_{k}.db", n10, k) for k in (1, 2)}
    for name in args.searchers.split(","):
        k = 2 if name in MULTI else 1
        url = f"sqlite:///{work / f'resume_{name}.db'}"
        fill_study(url, f"res_{name}", name, k, n10)
        loaded, first = resume(url, f"res_{name}", k)
        row = {"load_s": loaded, "first_trial_s": first, "total_s": loaded + first}
        if name in ("random", "tpe", "nsga2", "cmaes", "qmc", "gp"):
            row["optuna_s"] = optuna_resume(opt_urls[k], name)
        out["resume"][name] = row
        print(f"resume {name}: {row}", flush=True)
        if name in args.memory_searchers.split(","):
            out["memory_mb"][f"resume_{name}"] = peak_mb(
                lambda u=url, s=f"res_{name}", k=k: resume(u, s, k)
            )
    if args.skip_reads:
        finish(out, args.json)
        return
    # -- reads at 100k -------------------------------------------------------------------------
    n100 = args.read_trials
    read_url = f"sqlite:///{work / 'read.db'}"
    for k in (1, 2, 3):
        fill_study(read_url, f"read{k}", "random", k, n100)
    store = Store(read_url)
    views = {k: StudyView.open(f"read{k}", store) for k in (1, 2, 3)}
    queries = {
        "best_10": lambda: views[1].top(10),
        "page_50": lambda: page(views[1]),
        "stats": lambda: views[1].stats(),
        "pareto_2": lambda: views[2].pareto_front(),
        "pareto_3": lambda: views[3].pareto_front(),
        "trials_dataframe": lambda: views[1].trials_dataframe(),
    }
    for q, fn in queries.items():
        med, p95, res = timed(fn, args.repeat if q != "trials_dataframe" else 3)
        out["reads"][q] = {
            "median_s": med,
            "p95_s": p95,
            "rows": len(res) if hasattr(res, "__len__") else None,
        }
        print(f"read {q}: {out['reads'][q]}", flush=True)
    out["memory_mb"]["reads_100k"] = peak_mb(lambda: [fn() for fn in queries.values()])
    for q, fn in queries.items():  # each read alone: only the DataFrame holds every row
        out["memory_mb"][q] = peak_mb(fn)
    opt100 = {k: optuna_fill(work / f"optuna_read_{k}.db", n100, k) for k in (1, 2)}
    for q, k, fn in (
        ("optuna_trials_dataframe", 1, lambda s: s.trials_dataframe()),
        ("optuna_best_trials_2", 2, lambda s: s.best_trials),
    ):
        med, p95, _ = timed(
            lambda fn=fn, k=k: fn(optuna.load_study(study_name="bench", storage=opt100[k])),
            args.optuna_repeat,
        )
        out["reads"][q] = {"median_s": med, "p95_s": p95}
        print(f"read {q}: {out['reads'][q]}", flush=True)
    for command in () if args.no_cli else ("best", "trials", "stats"):
        out["cli"][command] = statistics.median(
            cli([command, "read1", "-s", read_url]) for _ in range(3)
        )
    finish(out, args.json)


def finish(out: dict[str, Any], path: Path) -> None:
    """Write the record, then print its tables."""
    write_json(out, path, indent=2, announce=False)
    print_table(out)


def print_table(out: dict[str, Any]) -> None:
    print(f"\nresume a {out['resume_trials']:,}-trial study (s)")
    print(
        f"{'searcher':<24}{'load':>10}{'first trial':>14}{'total':>10}{'optuna':>10}{'ratio':>10}"
    )
    for name, r in out["resume"].items():
        opt = r.get("optuna_s")
        ratio = f"{r['total_s'] / opt:.2f}x" if opt else "-"
        o = f"{opt:.3f}" if opt else "-"
        print(
            f"{name:<24}{r['load_s']:>10.3f}{r['first_trial_s']:>14.3f}{r['total_s']:>10.3f}{o:>10}{ratio:>10}"
        )
    print(f"\nreads of a {out['read_trials']:,}-trial study (ms)")
    print(f"{'query':<30}{'median':>12}{'p95':>12}{'rows':>10}")
    for q, r in out["reads"].items():
        rows = r.get("rows")
        print(
            f"{q:<30}{1000 * r['median_s']:>12.1f}{1000 * r['p95_s']:>12.1f}{rows if rows is not None else '-':>10}"
        )
    print(
        "\nCLI wall time, fresh process (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in out["cli"].items())
    )
    print(
        "peak traced memory (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in out["memory_mb"].items())
    )


if __name__ == "__main__":
    main()

"""Scaling: trials per second against the ideal as workers are added, side by side with Ray Tune.

1. `sleep`: 1-second evaluations (a sleep: needs no core, so 16 workers fit on 2 cores) at 1, 2,
   4, 8 and 16 workers, `--rounds` trials per worker (default 20: 320 trials at 16 workers;
   `--full` runs 10,000 trials at 16 workers only). Systems: hashtune Study on the process pool,
   hashtune Study on Ray (local), and Ray Tune + `OptunaSearch` (TPE) on the same evaluation.
   hashtune uses its Optuna TPE searcher (`tpe`), a SQLite store, the cache off (every trial an
   evaluation). Efficiency = ideal / measured, ideal = trials x 1 s / workers; `wall` is the whole
   optimize/fit call (ramp included), `span` first evaluation start to last evaluation end.
2. `cpu`: CPU-bound evaluations (a pure-Python loop calibrated to ~1 s on one core) at 1, 2, 4
   workers: 2 shared cores cap the speed-up at 2.
3. `driver`: trials/s the driver sustains with instant evaluations (random searcher, cache off):
   in-process, and on a 16-worker process pool; SQLite store.
4. `pg`: driver + store milliseconds per trial on PostgreSQL (instant evaluations, in-process,
   random searcher), over the trials ending at 1,000 and at 10,000 (`--pg-trials`).

Prints 80-column tables; writes benchmarks/results/scaling.json.
Usage: ``.venv/bin/python benchmarks/scaling.py [--rounds 20] [--workers 1,2,4,8,16]
[--parts sleep,cpu,driver,pg] [--systems pool,ray,tune] [--full] [--quick] [--json PATH]``
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pyglove as pg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, postgres_database, write_json  # noqa: E402
from harness.runners import temporary_study  # noqa: E402

import hashtune as ht  # noqa: E402
from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext  # noqa: E402
from hashtune.evaluators.executors import (  # noqa: E402
    Executor,
    InProcessExecutor,
    LocalProcessExecutor,
)
from hashtune.vocabulary import TrialState  # noqa: E402

WORK = Path(tempfile.gettempdir()) / "hashtune_scaling"


class SleepEvaluator(Evaluator):
    """Sleeps `seconds`; the score is x; records when it ran (for first-start/last-end spans)."""

    name = "sleep_second"

    def __init__(self, seconds: float = 1.0):
        self.seconds = seconds

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        start = time.time()
        if self.seconds:
            time.sleep(self.seconds)
        return EvaluationResult((float(candidate["x"]),), {"start": start, "end": time.time()})


def busy(iterations: int) -> float:
    """Pure-Python CPU work (holds the GIL and one core)."""
    acc = 0.0
    for i in range(iterations):
        acc += (i % 7) * 0.5
    return acc


class BusyEvaluator(SleepEvaluator):
    """Burns `iterations` of `busy` instead of sleeping."""

    name = "busy_second"

    def __init__(self, iterations: int):
        super().__init__(0.0)
        self.iterations = iterations

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        start = time.time()
        busy(self.iterations)
        return EvaluationResult((float(candidate["x"]),), {"start": start, "end": time.time()})


def calibrate(seconds: float = 1.0) -> tuple[int, float]:
    """Iterations of `busy` taking about `seconds` here, and their measured time."""
    n = 200_000
    t0 = time.perf_counter()
    busy(n)
    n = int(n * seconds / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    busy(n)
    return n, time.perf_counter() - t0


def space() -> ht.Space:
    return ht.Space(pg.Dict(x=pg.floatv(0.0, 1.0)), "unit")


def run_study(evaluator: Evaluator, executor: Executor, n: int, url: str, searcher: str) -> dict:
    """One hashtune Study of `n` trials; wall of optimize() and the evaluations' span."""
    with temporary_study(
        f"scaling-{uuid.uuid4().hex[:8]}", storage=url, space=space(), evaluator=evaluator,
        searcher=searcher, executor=executor, cache={"enabled": False}, seed=0,
    ) as study:  # fmt: skip
        t0 = time.perf_counter()
        study.optimize(n_trials=n, show_progress=False)
        wall = time.perf_counter() - t0
        trials = study.trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    starts = [t.user_attrs["start"] for t in done if "start" in t.user_attrs]
    ends = [t.user_attrs["end"] for t in done if "end" in t.user_attrs]
    span = (max(ends) - min(starts)) if starts else wall
    return {"trials": len(trials), "complete": len(done), "wall_s": wall, "span_s": span}


def run_tune(
    seconds: float, iterations: int | None, n: int, workers: int, searcher: str = "tpe"
) -> dict:
    """Ray Tune on the same evaluation (1 CPU per trial, `workers` at once): OptunaSearch (TPE)
    for `searcher="tpe"`, Tune's own random sampling for `"random"`."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config: dict) -> dict:
        start = time.time()
        if iterations:
            busy(iterations)
        else:
            time.sleep(seconds)
        return {"score": config["x"], "start": start, "end": time.time()}

    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={"x": tune.uniform(0.0, 1.0)},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(metric="score", mode="max", seed=0)
            if searcher == "tpe"
            else None,
            metric="score", mode="max", num_samples=n, max_concurrent_trials=workers, reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(WORK / "tune"), verbose=0),
    )  # fmt: skip
    t0 = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - t0
    ok = [r.metrics for r in results if r.error is None and "end" in (r.metrics or {})]
    span = max(m["end"] for m in ok) - min(m["start"] for m in ok) if ok else wall
    return {"trials": len(results), "complete": len(ok), "wall_s": wall, "span_s": span}


def make(system: str, workers: int) -> Executor:
    if system == "pool":
        return LocalProcessExecutor(max_workers=workers)
    from hashtune.evaluators.executors.ray import RayExecutor

    return RayExecutor(max_workers=workers)


def scaling(
    part: str,
    workers: list[int],
    rounds: int,
    systems: list[str],
    full: bool,
    searcher: str = "tpe",
) -> list:
    """Rows of (system, workers, trials, ideal, wall, span, efficiencies) for `sleep` or `cpu`."""
    if part == "cpu":
        iterations, unit = calibrate()
        evaluator: Evaluator = BusyEvaluator(iterations)
    else:
        iterations, unit = None, 1.0
        evaluator = SleepEvaluator(1.0)
    rows = []
    for w in workers:
        n = 10_000 if full else rounds * w
        ideal = n * unit / w
        for system in systems:
            url = f"sqlite:///{WORK}/{part}-{system}-{w}-{uuid.uuid4().hex[:6]}.db"
            if system == "tune":
                r = run_tune(1.0, iterations, n, w, searcher)
            else:
                ex = make(system, w)
                try:
                    r = run_study(evaluator, ex, n, url, searcher)
                finally:
                    ex.shutdown()
            r.update(system=system, workers=w, ideal_s=ideal, unit_s=unit)
            r["eff_wall"] = ideal / r["wall_s"]
            r["eff_span"] = ideal / r["span_s"]
            rows.append(r)
            print(f"  {part} {system:5s} w={w:<3d} n={n:<6d} wall {r['wall_s']:7.1f}s "
                  f"({r['eff_wall']:.1%} of ideal)", flush=True)  # fmt: skip
    return rows


def driver(n: int, pool: int = 16) -> list[dict]:
    """Trials/s with instant evaluations: in-process, and a `pool`-worker process pool (SQLite;
    `pool=0` leaves the pool out)."""
    rows = []
    executors: list[tuple[str, Executor]] = [("inprocess", InProcessExecutor())]
    if pool:
        executors.append((f"pool{pool}", LocalProcessExecutor(pool)))
    for name, ex in executors:
        url = f"sqlite:///{WORK}/driver-{name}-{uuid.uuid4().hex[:6]}.db"
        try:
            r = run_study(SleepEvaluator(0.0), ex, n, url, "random")
        finally:
            ex.shutdown()
        r.update(executor=name, trials_per_s=r["trials"] / r["wall_s"])
        rows.append(r)
        print(f"  driver {name}: {r['trials_per_s']:.0f} trials/s", flush=True)
    return rows


def pg_overhead(marks: list[int]) -> dict:
    """Driver+store ms per trial on PostgreSQL over the 500 trials ending at each of `marks`."""
    made = postgres_database("ht_executors_scaling", admin_db="test")
    if made is None:
        return {}
    url, drop = made
    try:
        with temporary_study(
            "pg-overhead", storage=url, space=space(), evaluator=SleepEvaluator(0.0),
            searcher="random", cache={"enabled": False}, seed=0,
        ) as study:  # fmt: skip
            out, done, window = {}, 0, 500
            for mark in sorted(marks):
                if mark - window > done:
                    study.optimize(n_trials=mark - window - done, show_progress=False)
                t0 = time.perf_counter()
                study.optimize(n_trials=window, show_progress=False)
                out[str(mark)] = 1000 * (time.perf_counter() - t0) / window
                done = mark
                print(f"  pg: {out[str(mark)]:.2f} ms/trial at {mark} trials", flush=True)
        return out
    finally:
        drop()


def print_scaling(title: str, rows: list[dict]) -> None:
    """Wall and span efficiency against the ideal; `x1w`: trials/s over the same system's
    trials/s at one worker (for CPU-bound work, where the calibrated ideal is noisy)."""
    print(f"\n{title}")
    print(f"{'system':<8}{'w':>4}{'trials':>7}{'done':>6}{'ideal s':>8}{'wall s':>8}"
          f"{'span s':>8}{'trials/s':>9}{'% ideal':>8}{'% span':>7}{'x1w':>6}")  # fmt: skip
    print("-" * 78)
    names = {"pool": "ht pool", "ray": "ht ray", "tune": "ray tune"}
    by = {(r["system"], r["workers"]): r for r in rows}
    for r in rows:
        rate = r["trials"] / r["wall_s"]
        one = by.get((r["system"], 1))
        x1 = f"{rate / (one['trials'] / one['wall_s']):>6.2f}" if one and one["trials"] else ""
        print(f"{names[r['system']]:<8}{r['workers']:>4}{r['trials']:>7}{r['complete']:>6}"
              f"{r['ideal_s']:>8.1f}{r['wall_s']:>8.1f}{r['span_s']:>8.1f}{rate:>9.2f}"
              f"{r['eff_wall']:>8.1%}{r['eff_span']:>7.1%}{x1}")  # fmt: skip
    for w in sorted({r["workers"] for r in rows}):
        tune = by.get(("tune", w))
        for s in ("pool", "ray"):
            if tune and (s, w) in by:
                ratio = tune["wall_s"] / by[(s, w)]["wall_s"]
                print(f"  w={w}: {names[s]} is {ratio:.2f}x Ray Tune's trials/s")


def main() -> None:
    ap = parser(__doc__, "scaling", seed=None)
    ap.add_argument("--rounds", type=int, default=20, help="trials per worker (sleep)")
    ap.add_argument("--cpu-rounds", type=int, default=6, help="trials per worker (cpu)")
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--cpu-workers", default="1,2,4")
    ap.add_argument("--systems", default="pool,ray,tune")
    ap.add_argument("--parts", default="sleep,cpu,driver,pg")
    ap.add_argument("--driver-trials", type=int, default=1000)
    ap.add_argument("--pg-trials", default="1000,10000")
    ap.add_argument("--full", action="store_true", help="sleep: 10,000 trials at 16 workers only")
    ap.add_argument("--searcher", default="tpe", choices=["tpe", "random"],
                    help="sleep/cpu: both systems' searcher (random: Tune's own sampling)")  # fmt: skip
    ap.add_argument(
        "--driver-pool", type=int, default=16, help="process-pool size (driver); 0: none"
    )
    args = ap.parse_args()
    if args.quick:  # seconds: the in-process driver only (worker processes take long to start)
        args.parts, args.driver_trials, args.driver_pool = "driver", 20, 0
    logging.getLogger("ray").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    WORK.mkdir(parents=True, exist_ok=True)
    parts, systems = args.parts.split(","), args.systems.split(",")
    out: dict[str, Any] = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
    }
    if {"ray", "tune"} & set(systems) and {"sleep", "cpu"} & set(parts):
        import ray

        ray.init(num_cpus=16, include_dashboard=False, log_to_driver=False)
    if "sleep" in parts:
        workers = [16] if args.full else [int(w) for w in args.workers.split(",")]
        out["sleep"] = scaling("sleep", workers, args.rounds, systems, args.full, args.searcher)
    if "cpu" in parts:
        workers = [int(w) for w in args.cpu_workers.split(",")]
        out["cpu"] = scaling("cpu", workers, args.cpu_rounds, systems, False, args.searcher)
    if "driver" in parts:
        out["driver"] = driver(args.driver_trials, args.driver_pool)
    if "pg" in parts:
        out["pg_ms_per_trial"] = pg_overhead([int(m) for m in args.pg_trials.split(",")])
    if "sleep" in out:
        print_scaling(f"1-second sleep evaluations (hashtune vs Ray Tune; searcher {args.searcher})",
                      out["sleep"])  # fmt: skip
    if "cpu" in out:
        print_scaling(f"CPU-bound evaluations (~1 s on one core; {os.cpu_count()} cores here)",
                      out["cpu"])  # fmt: skip
    if "driver" in out:
        print("\nDriver with instant evaluations (random searcher, SQLite, cache off)")
        for r in out["driver"]:
            print(f"  {r['executor']:<10} {r['trials']:>6} trials {r['trials_per_s']:>8.0f} "
                  "trials/s  (goal >= 200)")  # fmt: skip
    if "pg_ms_per_trial" in out:
        print("\nDriver + PostgreSQL store, ms per trial (instant evaluations, in-process)")
        for mark, ms in out["pg_ms_per_trial"].items():
            print(f"  trials ending at {int(mark):>6}: {ms:6.2f} ms/trial")
    print()
    write_json(out, args.json, indent=2)


if __name__ == "__main__":
    main()

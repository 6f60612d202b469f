"""The searchers benchmark's runs: which runner each method is, seeded quality runs, and the
ask+tell overhead at N trials (real runs, or histories prefilled through each library's own
resume path). The runners themselves are the harness's (`harness.runners`)."""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from harness.problems import Problem
from harness.runners import (
    HashtuneRunner,
    OptunaRunner,
    PygloveRunner,
    Runner,
    eval_seconds,
    scored_values,
    temporary_study,
)

from hashtune.vocabulary import Direction

#: Method key → table label. Keys after the default set are optional diagnostics (`--methods`).
LABELS: dict[str, str] = {
    "ht:random": "hashtune random (floor)",
    "ht:tpe": "hashtune tpe",
    "optuna:tpe": "Optuna TPESampler",
    "ht:gp": "hashtune gp",
    "optuna:gp": "Optuna GPSampler",
    "ht:re": "hashtune regularized_evolution",
    "pg:re": "PyGlove regularized_evolution",
    "study:tpe": "hashtune Study (store+cache) tpe",
    # diagnostics, not run by default
    "optuna:tpe-group": "Optuna TPESampler(group=True)",
    "ht:tpe-indep": "hashtune tpe(multivariate=False, group=False)",
}
DEFAULT_METHODS = tuple(list(LABELS)[:8])
GP_MAX_TRIALS = 1000


def make_runner(method: str, bench: Problem, seed: int, args: argparse.Namespace) -> Runner:
    """The runner of `method` (a key of LABELS other than the Study row)."""
    evo = {"population_size": args.population, "tournament_size": args.tournament}
    table: dict[str, Callable[[], Runner]] = {
        "ht:random": lambda: HashtuneRunner(bench, "random", seed),
        "ht:tpe": lambda: HashtuneRunner(bench, "tpe", seed),
        "ht:tpe-indep": lambda: HashtuneRunner(
            bench, "tpe", seed, multivariate=False, group=False, constant_liar=False
        ),
        "ht:gp": lambda: HashtuneRunner(bench, "gp", seed),
        "ht:re": lambda: HashtuneRunner(bench, "regularized_evolution", seed, **evo),
        "optuna:tpe": lambda: OptunaRunner(bench, "tpe", seed),
        "optuna:tpe-group": lambda: OptunaRunner(bench, "tpe-group", seed),
        "optuna:gp": lambda: OptunaRunner(bench, "gp", seed),
        "pg:re": lambda: PygloveRunner(bench, seed, args.population, args.tournament),
    }
    if method not in table:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(LABELS)}")
    return table[method]()


# ---- quality -----------------------------------------------------------------------------------


def best_curve(values: Sequence[float | None], direction: str) -> list[float | None]:
    """Best-so-far after each trial (None until the first success)."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and (best is None or Direction(direction).better(v, best)):
            best = v
        out.append(best)
    return out


def run_quality(bench: Problem, method: str, seed: int, budget: int, args: argparse.Namespace):
    """One seeded run of `method` for `budget` trials; returns its record."""
    if method == "study:tpe":
        return run_study_quality(bench, seed, budget)
    runner = make_runner(method, bench, seed, args)
    values: list[float | None] = []
    overhead: list[float] = []
    t0 = time.perf_counter()
    try:
        for i in range(budget):
            dt, v = runner.step(i)
            overhead.append(dt)
            values.append(v)
    finally:
        runner.close()
    wall = time.perf_counter() - t0
    return {
        "values": values,
        "best_curve": best_curve(values, bench.direction),
        "ms_per_trial": 1e3 * statistics.fmean(overhead),
        "wall_s": wall,
        "failed": sum(v is None for v in values),
    }


def run_study_quality(bench: Problem, seed: int, budget: int) -> dict[str, Any]:
    """The full hashtune loop (SQLite store + functional-equivalence cache) with TPE."""
    with temporary_study(
        f"{bench.name}-{seed}",
        space=bench.space,
        evaluator=bench.evaluator,
        searcher="tpe",
        directions=[bench.direction],
        seed=seed,
    ) as study:
        t0 = time.perf_counter()
        study.optimize(n_trials=budget)
        wall = time.perf_counter() - t0
        trials = sorted(study.trials(), key=lambda t: t.number)
        stats = study.stats()
    values = scored_values(trials)
    eval_s = eval_seconds(trials)
    return {
        "values": values,
        "best_curve": best_curve(values, bench.direction),
        "ms_per_trial": 1e3 * (wall - eval_s) / max(1, len(trials)),
        "wall_s": wall,
        "eval_s": eval_s,
        "failed": sum(v is None for v in values),
        "cached": stats.cached,
        "paid": stats.complete,
    }


def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def summarize(bench: Problem, runs: dict[int, dict[str, Any]], budget: int) -> dict[str, Any]:
    """Median (and quartiles) over seeds of best-so-far, at the budget and along the curve."""
    finals = [r["best_curve"][-1] for r in runs.values() if r["best_curve"][-1] is not None]
    curve = []
    for i in range(budget):
        at = [r["best_curve"][i] for r in runs.values() if r["best_curve"][i] is not None]
        curve.append(statistics.median(at) if at else None)
    q1, med, q3 = _quantiles(finals) if finals else (math.nan,) * 3
    return {
        "median_best": med,
        "q25": q1,
        "q75": q3,
        "median_best_half_budget": curve[budget // 2 - 1] if budget >= 2 else curve[-1],
        "median_curve": curve,
        "ms_per_trial_mean": statistics.fmean(r["ms_per_trial"] for r in runs.values()),
        "wall_s_mean": statistics.fmean(r["wall_s"] for r in runs.values()),
    }


# ---- overhead at scale -------------------------------------------------------------------------


def _window_mean(times: list[float], end: int, window: int) -> tuple[float, float]:
    chunk = times[end - window : end]
    return 1e3 * statistics.fmean(chunk), 1e3 * statistics.median(chunk)


def overhead_for(
    method: str, bench: Problem, ns: list[int], args: argparse.Namespace, tick: Callable[[], None]
) -> dict[str, Any]:
    """ms of ask+tell over a window ending at each N in `ns`, with how it was measured."""
    out: dict[str, Any] = {}
    is_gp = method.split(":")[1] == "gp"
    if method == "study:tpe":
        for n in ns:
            if n > args.max_trials:
                out[str(n)] = {"na": f"full loop not run past --max-trials={args.max_trials}"}
            else:
                out[str(n)] = study_overhead(bench, n, args.window)
            tick()
        return out
    run_to = 0
    for n in ns:
        if is_gp and n > GP_MAX_TRIALS:
            out[str(n)] = {"na": f"GP is cubic in the number of trials; capped at {GP_MAX_TRIALS}"}
        elif is_gp or n > args.max_trials:
            window = args.gp_window if is_gp else args.window
            out[str(n)] = prefilled_overhead(method, bench, n, window, args)
        else:
            run_to = max(run_to, n)
            continue
        tick()
    if run_to:
        runner = make_runner(method, bench, args.overhead_seed, args)
        times: list[float] = []
        t0 = time.perf_counter()
        try:
            for i in range(run_to):
                times.append(runner.step(i)[0])
        finally:
            runner.close()
        total = time.perf_counter() - t0
        for n in ns:
            if n <= run_to and str(n) not in out:
                w = min(args.window, n)
                mean, med = _window_mean(times, n, w)
                out[str(n)] = {
                    "ms_mean": mean,
                    "ms_median": med,
                    "how": "run",
                    "window": [n - w + 1, n],
                    "run_s": total,
                }
                tick()
    return out


def prefilled_overhead(
    method: str, bench: Problem, n: int, window: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Fill the history with `n - window` random trials, then time `window` real asks."""
    runner = make_runner(method, bench, args.overhead_seed, args)
    t0 = time.perf_counter()
    runner.prefill(n - window, random.Random(args.overhead_seed))
    fill_s = time.perf_counter() - t0
    times = [runner.step(i)[0] for i in range(n - window, n)]
    runner.close()
    mean, med = _window_mean(times, len(times), len(times))
    return {
        "ms_mean": mean,
        "ms_median": med,
        "how": "prefill",
        "window": [n - window + 1, n],
        "prefill_s": fill_s,
    }


def study_overhead(bench: Problem, n: int, window: int) -> dict[str, Any]:
    """Full-loop ms per trial (wall less evaluation) of a hashtune Study over its last trials."""
    with temporary_study(
        "overhead",
        space=bench.space,
        evaluator=bench.evaluator,
        searcher="tpe",
        directions=[bench.direction],
        seed=0,
    ) as study:
        t0 = time.perf_counter()
        study.optimize(n_trials=n - window)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        study.optimize(n_trials=window)
        wall = time.perf_counter() - t0
        last = sorted(study.trials(), key=lambda t: t.number)[-window:]
    return {
        "ms_mean": 1e3 * (wall - eval_seconds(last)) / window,
        "how": "run",
        "window": [n - window + 1, n],
        "run_s": first + wall,
    }

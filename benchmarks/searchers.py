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
Usage: ``.venv/bin/python benchmarks/searchers.py [--seeds 5] [--budget 50] [--quick]``;
``--methods`` adds the diagnostic rows `optuna:tpe-group` and `ht:tpe-indep`.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg

from hashtune.evaluators.base import EvaluationResult, Evaluator, FunctionEvaluator, TrialContext
from hashtune.search.base import Feedback, Proposal
from hashtune.search.registry import make_searcher
from hashtune.spaces.base import Space

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "nb201_fixture.csv"
RESULTS = Path(__file__).resolve().parent / "results" / "searchers.json"

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
BENCHMARKS = ("nb201", "mlp", "branin", "hartmann6")
GP_MAX_TRIALS = 1000


# ---- black-box functions -----------------------------------------------------------------------


def branin(x1: float, x2: float) -> float:
    """The Branin-Hoo function on [-5, 10] x [0, 15] (minimum 0.397887 at three points)."""
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


#: transform name → (unit-square map, additive offset); "swap" alone reaches the global minimum.
BRANIN_TRANSFORMS: dict[str, tuple[Callable[[float, float], tuple[float, float]], float]] = {
    "identity": (lambda u, v: (u, v), 1.0),
    "mirror": (lambda u, v: (1.0 - u, v), 0.5),
    "swap": (lambda u, v: (v, u), 0.0),
    "shift": (lambda u, v: ((u + 0.3) % 1.0, v), 2.0),
}
BRANIN_BEST = 0.397887


def branin_mixed(c: Mapping[str, Any]) -> float:
    """Branin of (u, v) in [0, 1]^2 after the categorical `transform`, plus its offset.

    Every transform moves the minima elsewhere in (u, v), so a searcher must model the
    categorical jointly with the continuous inputs to exploit what it has seen.
    """
    fn, offset = BRANIN_TRANSFORMS[c["transform"]]
    u, v = fn(float(c["u"]), float(c["v"]))
    return branin(-5.0 + 15.0 * u, 15.0 * v) + offset


_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)
#: The categorical grid of dimensions 5 and 6 (unordered choices to the searchers).
H6_GRID = (0.1, 0.3, 0.5, 0.7, 0.9)
H6_ROLLS = ("r0", "r1", "r2", "r3")


def hartmann6(x: Sequence[float]) -> float:
    """The Hartmann-6 function on [0, 1]^6 (minimum -3.32237)."""
    total = 0.0
    for alpha, a, p in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True):
        total += alpha * math.exp(
            -sum(ai * (xi - pi) ** 2 for ai, xi, pi in zip(a, x, p, strict=True))
        )
    return -total


def hartmann6_mixed(c: Mapping[str, Any]) -> float:
    """Hartmann-6 with x1..x4 continuous but cyclically rolled by the categorical `roll`, and
    x5, x6 chosen from the categorical grid `H6_GRID`."""
    xs = [float(c[f"x{i}"]) for i in range(1, 5)]
    k = H6_ROLLS.index(c["roll"])
    xs = xs[k:] + xs[:k]
    return hartmann6([*xs, float(c["x5"]), float(c["x6"])])


def hartmann6_mixed_best() -> float:
    """Best value reachable in the mixed space (multi-start L-BFGS-B on every grid pair)."""
    import numpy as np
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    best = math.inf
    for x5 in H6_GRID:
        for x6 in H6_GRID:
            for _ in range(6):
                res = minimize(
                    lambda z, a=x5, b=x6: hartmann6([*z, a, b]),
                    rng.uniform(0, 1, 4),
                    bounds=[(0.0, 1.0)] * 4,
                    method="L-BFGS-B",
                )
                best = min(best, float(res.fun))
    return best


# ---- benchmarks --------------------------------------------------------------------------------


@dataclass
class Bench:
    """One search problem: the hashtune space and evaluator, and the Optuna-direct equivalent."""

    name: str
    space: Space
    evaluator: Evaluator
    direction: str
    suggest: Callable[[optuna.trial.Trial], Any]
    note: str
    best_known: float | None = None

    def value(self, candidate: Any, number: int = 0) -> float:
        """The first objective of `candidate`, evaluated in-process."""
        out = self.evaluator.evaluate(candidate, TrialContext(number))
        return EvaluationResult.coerce(out).values[0]


def _nb201() -> Bench:
    from hashtune.evaluators.nas_bench_201 import NasBench201TabularEvaluator
    from hashtune.spaces.nas_bench_201 import EDGES, OPS, Cell, nas_bench_201_space

    names = [f"op_{i}_{j}" for i, j in EDGES]

    def suggest(trial: optuna.trial.Trial) -> Any:
        return Cell(*(trial.suggest_categorical(n, list(OPS)) for n in names))

    ev = NasBench201TabularEvaluator(path=FIXTURE)
    best = max(float(r["val_accuracy"]) for r in ev._rows.values())  # noqa: SLF001
    return Bench(
        "nb201",
        nas_bench_201_space(),
        ev,
        "maximize",
        suggest,
        "6 categorical edges x 5 ops, tabular fixture (synthetic), val_accuracy",
        best,
    )


MLP_WIDTHS = (16, 32, 64, 128)
MLP_ACTS = ("relu", "tanh", "gelu", "swish")
MLP_LR = (1e-4, 1e-1)
MLP_WD = (1e-6, 1e-2)
MLP_BATCH = (32, 64, 128)


def _mlp(epochs: int) -> Bench:
    from hashtune.evaluators.mlp_digits import MLPDigitsEvaluator
    from hashtune.spaces.mlp import MLPConfig, mlp_space

    space = mlp_space(3, MLP_WIDTHS, MLP_ACTS, MLP_LR, MLP_WD, MLP_BATCH)

    def suggest(trial: optuna.trial.Trial) -> Any:
        # The usual Optuna idiom: a depth, then one width parameter per present layer.
        depth = trial.suggest_categorical("depth", [1, 2, 3])
        hidden = [trial.suggest_categorical(f"width_{i}", list(MLP_WIDTHS)) for i in range(depth)]
        return MLPConfig(
            hidden=hidden,
            activation=trial.suggest_categorical("activation", list(MLP_ACTS)),
            learning_rate=trial.suggest_float("learning_rate", *MLP_LR, log=True),
            weight_decay=trial.suggest_float("weight_decay", *MLP_WD, log=True),
            batch_size=trial.suggest_categorical("batch_size", list(MLP_BATCH)),
        )

    return Bench(
        "mlp",
        space,
        MLPDigitsEvaluator(epochs=epochs, seed=0),
        "maximize",
        suggest,
        f"conditional depth/widths + act + log lr/wd + batch; digits, {epochs} epochs, val acc",
    )


def _branin() -> Bench:
    hyper = pg.Dict(
        u=pg.floatv(0.0, 1.0), v=pg.floatv(0.0, 1.0), transform=pg.oneof(list(BRANIN_TRANSFORMS))
    )

    def suggest(trial: optuna.trial.Trial) -> Any:
        return {
            "u": trial.suggest_float("u", 0.0, 1.0),
            "v": trial.suggest_float("v", 0.0, 1.0),
            "transform": trial.suggest_categorical("transform", list(BRANIN_TRANSFORMS)),
        }

    return Bench(
        "branin",
        Space(hyper, name="branin_mixed"),
        FunctionEvaluator(branin_mixed),
        "minimize",
        suggest,
        "2 floats + categorical transform (4), minimise",
        BRANIN_BEST,
    )


def _hartmann6(best: float | None) -> Bench:
    hyper = pg.Dict(
        **{f"x{i}": pg.floatv(0.0, 1.0) for i in range(1, 5)},
        roll=pg.oneof(list(H6_ROLLS)),
        x5=pg.oneof(list(H6_GRID)),
        x6=pg.oneof(list(H6_GRID)),
    )

    def suggest(trial: optuna.trial.Trial) -> Any:
        c: dict[str, Any] = {f"x{i}": trial.suggest_float(f"x{i}", 0.0, 1.0) for i in range(1, 5)}
        c["roll"] = trial.suggest_categorical("roll", list(H6_ROLLS))
        c["x5"] = trial.suggest_categorical("x5", list(H6_GRID))
        c["x6"] = trial.suggest_categorical("x6", list(H6_GRID))
        return c

    return Bench(
        "hartmann6",
        Space(hyper, name="hartmann6_mixed"),
        FunctionEvaluator(hartmann6_mixed),
        "minimize",
        suggest,
        "4 floats + categorical roll (4) + 2 categorical grids (5), minimise",
        best,
    )


def make_bench(name: str, args: argparse.Namespace) -> Bench:
    """The benchmark called `name`."""
    if name == "nb201":
        return _nb201()
    if name == "mlp":
        return _mlp(args.mlp_epochs)
    if name == "branin":
        return _branin()
    if name == "hartmann6":
        return _hartmann6(hartmann6_mixed_best())
    raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")


# ---- method runners: step() = one trial, returning (ask+tell seconds, objective value) ---------


class Runner:
    """Drives one method on one benchmark, one trial per `step`."""

    def step(self, i: int) -> tuple[float, float | None]:
        raise NotImplementedError

    def prefill(self, n: int, rng: random.Random) -> None:
        """Load `n` finished random trials into the searcher's history (cost-at-N measurements)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be prefilled")

    def close(self) -> None:
        """Release what the runner holds."""


def random_history(bench: Bench, n: int, rng: random.Random) -> list[tuple[pg.DNA, float]]:
    """`n` random DNA of `bench.space` with their objective values, for prefilling histories.

    Flat spaces of floats and plain choices (the black-box functions) are drawn directly as
    `pg.DNA` value lists and scored on a dict of the chosen values: `pg.random_dna` plus
    `pg.materialize` cost milliseconds each, minutes for 10,000 trials. Other spaces use them.
    """
    spec, hyper = bench.space.dna_spec, bench.space.hyper_value
    flat = isinstance(hyper, pg.Dict) and all(
        isinstance(dp, pg.geno.Float)
        or (
            isinstance(dp, pg.geno.Choices)
            and dp.num_choices == 1
            and not any(c.elements for c in dp.candidates)
        )
        for dp in spec.elements
    )
    out = []
    for i in range(n):
        if not flat:
            dna = bench.space.random_dna(rng)
            out.append((dna, bench.value(bench.space.materialize(dna), i)))
            continue
        values: list[Any] = []
        candidate: dict[str, Any] = {}
        for dp in spec.elements:
            key = str(dp.location)
            if isinstance(dp, pg.geno.Float):
                values.append(rng.uniform(dp.min_value, dp.max_value))
                candidate[key] = values[-1]
            else:
                values.append(rng.randrange(len(dp.candidates)))
                candidate[key] = hyper.sym_get(key).candidates[values[-1]]
        dna = pg.DNA(values)
        dna.use_spec(spec)
        out.append((dna, bench.value(candidate, i)))
    return out


def _safe_value(bench: Bench, candidate: Any, i: int) -> float | None:
    try:
        v = bench.value(candidate, i)
    except Exception as e:  # noqa: BLE001 - a failed trial must not end the benchmark
        logging.getLogger(__name__).warning("%s trial %d failed: %s", bench.name, i, e)
        return None
    return v if math.isfinite(v) else None


class HashtuneRunner(Runner):
    """A hashtune searcher through ask/tell; the evaluator is called in-process."""

    def __init__(self, bench: Bench, name: str, seed: int, **kwargs: Any):
        self.bench = bench
        self.searcher = make_searcher(name, bench.space, (bench.direction,), seed, **kwargs)

    def step(self, i: int) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        proposal = self.searcher.ask(i)
        t1 = time.perf_counter()
        v = _safe_value(self.bench, proposal.candidate, i)
        t2 = time.perf_counter()
        fb = Feedback("FAILED") if v is None else Feedback("COMPLETE", (v,))
        self.searcher.tell(proposal, fb)
        return (t1 - t0) + (time.perf_counter() - t2), v

    def prefill(self, n: int, rng: random.Random) -> None:
        history = [
            (Proposal(i, dna, None), Feedback("COMPLETE", (v,)))
            for i, (dna, v) in enumerate(random_history(self.bench, n, rng))
        ]
        self.searcher.restore(history)


def _optuna_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "tpe-group":
        return optuna.samplers.TPESampler(seed=seed, group=True)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    raise ValueError(f"unknown Optuna sampler {kind!r}")


class OptunaRunner(Runner):
    """Optuna's own sampler on an Optuna study written with the benchmark's distributions."""

    def __init__(self, bench: Bench, kind: str, seed: int):
        self.bench, self.seed = bench, seed
        self.study = optuna.create_study(
            direction=bench.direction, sampler=_optuna_sampler(kind, seed)
        )

    def step(self, i: int) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        trial = self.study.ask()
        candidate = self.bench.suggest(trial)
        t1 = time.perf_counter()
        v = _safe_value(self.bench, candidate, i)
        t2 = time.perf_counter()
        if v is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, v)
        return (t1 - t0) + (time.perf_counter() - t2), v

    def prefill(self, n: int, rng: random.Random) -> None:
        tmp = optuna.create_study(
            direction=self.bench.direction,
            sampler=optuna.samplers.RandomSampler(seed=rng.randrange(2**31)),
        )
        for i in range(n):
            trial = tmp.ask()
            tmp.tell(trial, self.bench.value(self.bench.suggest(trial), i))
        self.study.add_trials(tmp.get_trials(deepcopy=False))


class PygloveRunner(Runner):
    """PyGlove's own regularized evolution, driven by `pg.sample` and its feedback objects."""

    def __init__(self, bench: Bench, seed: int, population: int, tournament: int):
        self.bench = bench
        self.algo = pg.evolution.regularized_evolution(
            population_size=population, tournament_size=tournament, seed=seed
        )
        self.sign = 1.0 if bench.direction == "maximize" else -1.0
        self._it: Any = None

    def prefill(self, n: int, rng: random.Random) -> None:
        """PyGlove's own resume path: `setup`, then `recover` from (DNA, reward) history.

        `Evolution.recover` reads the metadata its own proposals carry, so the history is tagged
        like a real run: the first `population_size` DNA are the initial population
        (generation 1), every later one a child of its own generation.
        """
        from pyglove.ext.evolution import base

        self.algo.setup(self.bench.space.dna_spec)
        pop = self.algo.population_init[1]
        history = []
        for i, (dna, v) in enumerate(random_history(self.bench, n, rng)):
            base.set_proposal_id(dna, i + 1)
            base.set_generation_id(dna, 1 if i < pop else i - pop + 2)
            dna.set_metadata(base.DNA_METADATA_INITIAL_POPULATION, i < pop)
            history.append((dna, self.sign * v))
        self.algo.recover(history)

    def step(self, i: int) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        if self._it is None:
            self._it = pg.sample(self.bench.space.hyper_value, self.algo)
        example, feedback = next(self._it)
        t1 = time.perf_counter()
        v = _safe_value(self.bench, example, i)
        t2 = time.perf_counter()
        if v is None:
            feedback.skip()
        else:
            feedback(self.sign * v)  # PyGlove maximises the reward
        return (t1 - t0) + (time.perf_counter() - t2), v

    def close(self) -> None:
        if self._it is not None:
            self._it.close()


def make_runner(method: str, bench: Bench, seed: int, args: argparse.Namespace) -> Runner:
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
        if v is not None and (best is None or (v > best if direction == "maximize" else v < best)):
            best = v
        out.append(best)
    return out


def run_quality(bench: Bench, method: str, seed: int, budget: int, args: argparse.Namespace):
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


def run_study_quality(bench: Bench, seed: int, budget: int) -> dict[str, Any]:
    """The full hashtune loop (SQLite store + functional-equivalence cache) with TPE."""
    from hashtune import Study

    with tempfile.TemporaryDirectory() as tmp:
        study = Study.create(
            f"{bench.name}-{seed}",
            space=bench.space,
            evaluator=bench.evaluator,
            searcher="tpe",
            storage=f"sqlite:///{tmp}/quality.db",
            directions=[bench.direction],
            seed=seed,
        )
        try:
            t0 = time.perf_counter()
            study.optimize(n_trials=budget)
            wall = time.perf_counter() - t0
            trials = sorted(study.trials(), key=lambda t: t.number)
            stats = study.stats()
        finally:
            study.close_executor()
            study.store.close()
    values = [
        t.values[0] if t.values and t.state in ("COMPLETE", "CACHED") else None for t in trials
    ]
    eval_s = sum(float(t.user_attrs.get("eval_seconds", 0.0)) for t in trials)
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


def summarize(bench: Bench, runs: dict[int, dict[str, Any]], budget: int) -> dict[str, Any]:
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
    method: str, bench: Bench, ns: list[int], args: argparse.Namespace, tick: Callable[[], None]
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
    method: str, bench: Bench, n: int, window: int, args: argparse.Namespace
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


def study_overhead(bench: Bench, n: int, window: int) -> dict[str, Any]:
    """Full-loop ms per trial (wall less evaluation) of a hashtune Study over its last trials."""
    from hashtune import Study

    with tempfile.TemporaryDirectory() as tmp:
        study = Study.create(
            "overhead",
            space=bench.space,
            evaluator=bench.evaluator,
            searcher="tpe",
            storage=f"sqlite:///{tmp}/overhead.db",
            directions=[bench.direction],
            seed=0,
        )
        try:
            t0 = time.perf_counter()
            study.optimize(n_trials=n - window)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            study.optimize(n_trials=window)
            wall = time.perf_counter() - t0
            last = sorted(study.trials(), key=lambda t: t.number)[-window:]
        finally:
            study.close_executor()
            study.store.close()
    eval_s = sum(float(t.user_attrs.get("eval_seconds", 0.0)) for t in last)
    return {
        "ms_mean": 1e3 * (wall - eval_s) / window,
        "how": "run",
        "window": [n - window + 1, n],
        "run_s": first + wall,
    }


# ---- output ------------------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.4g}"


def print_tables(record: dict[str, Any], console: Any) -> None:
    """Quality table (median best at equal budget), per-trial cost table, overhead table."""
    from rich.table import Table

    quality = record["quality"]
    methods = record["config"]["methods"]
    if quality:
        t = Table(
            title=(
                f"Median best-so-far at equal budget over seeds {record['config']['seeds']} "
                "(IQR in brackets; ↑ maximise, ↓ minimise)"
            )
        )
        t.add_column("method")
        for b, q in quality.items():
            arrow = "↑" if q["direction"] == "maximize" else "↓"
            best = f", best {_fmt(q['best_known'])}" if q["best_known"] is not None else ""
            t.add_column(f"{b} {arrow}\n{q['budget']} trials{best}", justify="right")
        t.add_column("mean rank", justify="right")
        ranks = _mean_ranks(quality, methods)
        for m in methods:
            cells = []
            for q in quality.values():
                s = q["methods"].get(m, {}).get("summary")
                cells.append(
                    "-"
                    if s is None
                    else f"{_fmt(s['median_best'])} [{_fmt(s['q25'])}–{_fmt(s['q75'])}]"
                )
            t.add_row(LABELS[m], *cells, _fmt(ranks.get(m)))
        console.print(t)

        t = Table(
            title="Searcher cost per trial during the quality runs: ms of ask+tell (mean); "
            "Study row: full loop less evaluation"
        )
        t.add_column("method")
        for b in quality:
            t.add_column(b, justify="right")
        for m in methods:
            cells = []
            for q in quality.values():
                s = q["methods"].get(m, {}).get("summary")
                cells.append("-" if s is None else f"{s['ms_per_trial_mean']:.3g}")
            t.add_row(LABELS[m], *cells)
        console.print(t)

    overhead = record["overhead"]
    if overhead:
        ns = record["config"]["overhead_trials"]
        t = Table(
            title=f"Searcher overhead per ask (ask+tell ms, objective excluded) on "
            f"{record['config']['overhead_bench']}"
        )
        t.add_column("method")
        for n in ns:
            t.add_column(f"@ {n:,} trials", justify="right")
        t.add_column("notes")
        for m in methods:
            row = overhead.get(m, {})
            cells, notes = [], []
            for n in ns:
                r = row.get(str(n))
                if r is None:
                    cells.append("-")
                elif "na" in r:
                    cells.append("n/a")
                    notes.append(f"@{n}: {r['na']}")
                else:
                    a, b = r["window"]
                    cells.append(f"{r['ms_mean']:.3g} ({r['how']}, {a}–{b})")
            t.add_row(LABELS[m], *cells, "; ".join(notes))
        console.print(t)


def _mean_ranks(quality: dict[str, Any], methods: Sequence[str]) -> dict[str, float]:
    """Mean over benchmarks of each method's rank by median best (1 = best, ties share)."""
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    for q in quality.values():
        sign = 1.0 if q["direction"] == "maximize" else -1.0
        scores = {
            m: sign * q["methods"][m]["summary"]["median_best"]
            for m in methods
            if m in q["methods"]
        }
        for m, s in scores.items():
            better = sum(1 for o in scores.values() if o > s)
            ties = sum(1 for o in scores.values() if o == s)
            ranks[m].append(better + (ties + 1) / 2)
    return {m: statistics.fmean(r) for m, r in ranks.items() if r}


# ---- main --------------------------------------------------------------------------------------


def _quiet_libraries(torch_threads: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*independent sampl.*")
    logging.getLogger("hashtune").setLevel(logging.ERROR)
    try:
        import torch

        torch.set_num_threads(torch_threads)
    except ImportError:
        pass


def _warm_up(benches: list[Bench]) -> None:
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
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="5", help="number of seeds (0..N-1) or a list like 0,3,7")
    p.add_argument("--budget", type=int, default=50, help="trials per run (every benchmark)")
    p.add_argument("--quick", action="store_true", help="2 seeds, 20 trials, overhead @1,000 only")
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
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = "2", min(args.budget, 20)
        args.overhead_trials, args.gp_window, args.mlp_epochs = "1000", 2, min(args.mlp_epochs, 2)
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
            **{k: v for k, v in vars(args).items() if k not in ("out",)},
            "seeds": args.seed_list,
            "methods": args.method_list,
            "benchmarks": args.bench_list,
            "overhead_trials": args.n_list,
            "out": str(args.out),
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, default=repr))
    console.print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()

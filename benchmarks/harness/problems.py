"""The search problems the benchmarks share: black-box functions on mixed spaces, the NB201
tabular cell space, the MLP digits space, and a four-decision toy for loop overhead.

A `Problem` carries the hashtune space and evaluator and the same search written for Optuna
(`suggest`), so every system searches the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg

from hashtune.evaluators.base import EvaluationResult, Evaluator, FunctionEvaluator, TrialContext
from hashtune.spaces.base import Space
from hashtune.vocabulary import Direction

ROOT = Path(__file__).resolve().parents[2]
NB201_FIXTURE = ROOT / "tests" / "fixtures" / "nb201_fixture.csv"


@dataclass
class Problem:
    """One search problem: the hashtune space and evaluator, and the Optuna-direct equivalent."""

    name: str
    space: Space
    evaluator: Evaluator
    direction: str
    suggest: Callable[[optuna.trial.Trial], Any]
    note: str
    best_known: float | None = None

    def value(self, candidate: Any, number: int = 0) -> float:
        """The first objective of `candidate`, evaluated in-process (raises when it fails)."""
        out = self.evaluator.evaluate(candidate, TrialContext(number))
        return EvaluationResult.coerce(out).values[0]


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


H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
H6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
H6_P = (
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
    for alpha, a, p in zip(H6_ALPHA, H6_A, H6_P, strict=True):
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


# ---- problems ----------------------------------------------------------------------------------


def nb201_problem(path: Path = NB201_FIXTURE) -> Problem:
    """The NAS-Bench-201 cell space scored by a tabular file (the synthetic test fixture)."""
    from hashtune.evaluators.nas_bench_201 import NasBench201TabularEvaluator
    from hashtune.spaces.nas_bench_201 import EDGES, OPS, Cell, nas_bench_201_space

    names = [f"op_{i}_{j}" for i, j in EDGES]

    def suggest(trial: optuna.trial.Trial) -> Any:
        return Cell(*(trial.suggest_categorical(n, list(OPS)) for n in names))

    ev = NasBench201TabularEvaluator(path=path)
    best = max(float(r["val_accuracy"]) for r in ev.rows().values())
    return Problem(
        "nb201",
        nas_bench_201_space(),
        ev,
        Direction.MAXIMIZE,
        suggest,
        "6 categorical edges x 5 ops, tabular fixture (synthetic), val_accuracy",
        best,
    )


MLP_WIDTHS = (16, 32, 64, 128)
MLP_ACTS = ("relu", "tanh", "gelu", "swish")
MLP_LR = (1e-4, 1e-1)
MLP_WD = (1e-6, 1e-2)
MLP_BATCH = (32, 64, 128)


def mlp_problem(epochs: int) -> Problem:
    """The `mlp_digits` space (conditional depth) trained for `epochs` by `MLPDigitsEvaluator`."""
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

    return Problem(
        "mlp",
        space,
        MLPDigitsEvaluator(epochs=epochs, seed=0),
        Direction.MAXIMIZE,
        suggest,
        f"conditional depth/widths + act + log lr/wd + batch; digits, {epochs} epochs, val acc",
    )


def branin_problem() -> Problem:
    """Branin on the unit square behind a categorical input transform (minimise)."""
    hyper = pg.Dict(
        u=pg.floatv(0.0, 1.0), v=pg.floatv(0.0, 1.0), transform=pg.oneof(list(BRANIN_TRANSFORMS))
    )

    def suggest(trial: optuna.trial.Trial) -> Any:
        return {
            "u": trial.suggest_float("u", 0.0, 1.0),
            "v": trial.suggest_float("v", 0.0, 1.0),
            "transform": trial.suggest_categorical("transform", list(BRANIN_TRANSFORMS)),
        }

    return Problem(
        "branin",
        Space(hyper, name="branin_mixed"),
        FunctionEvaluator(branin_mixed),
        Direction.MINIMIZE,
        suggest,
        "2 floats + categorical transform (4), minimise",
        BRANIN_BEST,
    )


def hartmann6_problem(best: float | None) -> Problem:
    """Hartmann-6 with a categorical roll and two categorical grid dimensions (minimise)."""
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

    return Problem(
        "hartmann6",
        Space(hyper, name="hartmann6_mixed"),
        FunctionEvaluator(hartmann6_mixed),
        Direction.MINIMIZE,
        suggest,
        "4 floats + categorical roll (4) + 2 categorical grids (5), minimise",
        best,
    )


# ---- the four-decision toy (loop overhead) -----------------------------------------------------

TOY_ACTS = ("relu", "tanh", "gelu")
TOY_WIDTHS = (1, 2, 4, 8)


def toy_hyper() -> pg.Dict:
    """Two floats and two categoricals: a space whose objective costs microseconds."""
    return pg.Dict(
        x=pg.floatv(0.0, 1.0),
        y=pg.floatv(-1.0, 1.0),
        width=pg.oneof(TOY_WIDTHS),
        act=pg.oneof(TOY_ACTS),
    )


def toy_objective(c: Any) -> float:
    """A sum of the toy's decisions (maximise)."""
    return c["x"] + c["y"] + 0.1 * c["width"] + 0.01 * TOY_ACTS.index(c["act"])


def toy_problem() -> Problem:
    """The four-decision toy as a `Problem` (maximise)."""

    def suggest(trial: optuna.trial.Trial) -> Any:
        return {
            "x": trial.suggest_float("x", 0.0, 1.0),
            "y": trial.suggest_float("y", -1.0, 1.0),
            "width": trial.suggest_categorical("width", TOY_WIDTHS),
            "act": trial.suggest_categorical("act", TOY_ACTS),
        }

    return Problem(
        "toy",
        Space(toy_hyper(), "four"),
        FunctionEvaluator(toy_objective),
        Direction.MAXIMIZE,
        suggest,
        "2 floats + 2 categoricals, a sum (microseconds)",
    )

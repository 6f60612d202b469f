"""Score optimizer programs on the proxy suite relative to Adam, whole populations per call.

A program's task score is `log10(adam_loss / program_loss)` of the final training loss (mean of
log10 over seeds), each side at its own best learning rate of the grid (so ignoring lr never
pays), clipped to [`FLOOR`, `CEIL`] (a diverged run is `FLOOR`); the suite score is the mean over
tasks: Adam scores 0, better than Adam > 0. A search rung's score is stricter (`search_fitness`:
`Fidelity.ceil` below `CEIL`, plus `Fidelity.min_weight` times its worst task), so that a task at
the floor is not bought back by others at the ceiling. `Fidelity` says how long and large training is;
`SuiteScorer` prepares one fidelity's suite and scores many programs per call (batched trainer);
`OptimizerSuiteEvaluator` is the `Evaluator` form (`evaluate` and `evaluate_batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.evaluators.batched_training import (
    INSTR_PAD,
    BatchedTrainer,
    SingleTrainer,
    prepare_suite,
)
from hashtune.evaluators.proxy_tasks import (
    META_TEST,
    QUICK_META,
    QUICK_SUITES,
    SCALES,
    SEARCH_SUITES,
    VALIDATION,
    TaskSpec,
)
from hashtune.spaces.optimizers.program import Program
from hashtune.spaces.optimizers.seeds import ADAM

FLOOR, CEIL = -3.0, 1.0
#: The search rungs' fitness (`search_fitness`): per-task ceiling, weight of the worst task's
#: shortfall beyond `SEARCH_SLACK` (chosen by `benchmarks/rung_agreement.py`: the rungs' ranking
#: of references and past finds agrees best with validation's, adam_nobc still above Adam).
#: Weight 1 and slack 0.25 (were 0.5 and 0.5): a program at -1 on the noisy regression and at the
#: ceiling on two others no longer ties Adam (the islands run's best: +0.02 -> -0.72 at rung 1).
SEARCH_CEIL, SEARCH_MIN_WEIGHT, SEARCH_SLACK = 0.5, 1.0, 0.25
DECADES = tuple(float(x) for x in 10.0 ** np.arange(-4.0, 0.01, 1.0))
HALF_DECADES = tuple(float(x) for x in 10.0 ** np.arange(-4.0, 0.01, 0.5))


@dataclass(frozen=True)
class Fidelity:
    """How a suite is trained: tasks, steps, seeds, learning-rate grid."""

    name: str
    tasks: tuple[TaskSpec, ...]
    steps: int
    seeds: int
    lrs: tuple[float, ...] = DECADES
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: The suite score's per-task ceiling, weight and slack of its worst task (`search_fitness`).
    ceil: float = CEIL
    min_weight: float = 0.0
    slack: float = 0.0

    def config(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "tasks": [t.__dict__ for t in self.tasks],
            "steps": self.steps,
            "seeds": self.seeds,
            "lrs": list(self.lrs),
            "seed": self.seed,
        }
        agg = {"ceil": self.ceil, "min_weight": self.min_weight, "slack": self.slack}
        if agg != {"ceil": CEIL, "min_weight": 0.0, "slack": 0.0}:  # the mean: its old config
            out["aggregate"] = agg
        return out


def search_fitness(
    rel: np.ndarray, ceil: float = CEIL, min_weight: float = 0.0, slack: float = 0.0
) -> np.ndarray:
    """Suite scores (N,) of task scores (N, T): mean(min(s, ceil)) + w * min(0, worst + slack).

    With the defaults this is the plain mean. A lower `ceil` caps what beating Adam on one task
    can buy, and `min_weight` charges the worst task's shortfall beyond `slack` again: a program
    at the floor on one task (diverged, or far behind Adam) ranks below one that is merely a
    little behind everywhere, however far it is ahead on the others.
    """
    rel = np.asarray(rel, dtype=float)
    worst = np.minimum(rel.min(axis=-1) + slack, 0.0)
    return np.minimum(rel, ceil).mean(axis=-1) + min_weight * worst


#: The search rungs' fitness (see `search_fitness`); validation and meta-test keep the mean.
STRICT = {"ceil": SEARCH_CEIL, "min_weight": SEARCH_MIN_WEIGHT, "slack": SEARCH_SLACK}
#: The funnel's rungs (0 cheapest) and the held-out meta-test.
FIDELITIES: dict[int, Fidelity] = {
    0: Fidelity("f0", SEARCH_SUITES[0], steps=100, seeds=1, lrs=DECADES, **STRICT),
    1: Fidelity("f1", SEARCH_SUITES[1], steps=300, seeds=2, lrs=HALF_DECADES, **STRICT),
}


def scaled_fidelity(fidelity: Fidelity, scales: Sequence[float], suffix: str = "s") -> Fidelity:
    """`fidelity` with task i's loss multiplied by `scales[i]` (names tagged `_x<scale>`)."""
    if len(scales) != len(fidelity.tasks) or not all(s > 0 for s in scales):
        raise ValueError(f"`scales` must be {len(fidelity.tasks)} positive numbers, got {scales!r}")
    tasks = tuple(
        replace(t, name=f"{t.name}_x{s:g}", loss_scale=float(s))
        for t, s in zip(fidelity.tasks, scales, strict=True)
    )
    return replace(fidelity, name=f"{fidelity.name}{suffix}", tasks=tasks)


#: The search rungs with each task's loss at another scale (`proxy_tasks.SCALES`, 1e-2 .. 1e2).
SCALED_FIDELITIES: dict[int, Fidelity] = {
    r: scaled_fidelity(f, SCALES[r]) for r, f in FIDELITIES.items()
}
META_FIDELITY = Fidelity("meta_test", META_TEST, steps=400, seeds=2, lrs=HALF_DECADES, seed=1)
#: Where a search's finalists are ranked before the meta-test (see `proxy_tasks.VALIDATION`).
VALIDATION_FIDELITY = Fidelity(
    "validation", VALIDATION, steps=300, seeds=2, lrs=HALF_DECADES, seed=2
)
#: Tiny rungs, validation and meta-test for CPU smoke runs (`--quick`).
QUICK_FIDELITIES: dict[int, Fidelity] = {
    0: Fidelity("q0", QUICK_SUITES[0], steps=30, seeds=1, lrs=DECADES, **STRICT),
    1: Fidelity("q1", QUICK_SUITES[1], steps=60, seeds=1, lrs=DECADES, **STRICT),
}
QUICK_VALIDATION_FIDELITY = Fidelity("q_val", QUICK_SUITES[1], steps=60, seeds=1, seed=2)
QUICK_META_FIDELITY = Fidelity("q_meta", QUICK_META, steps=80, seeds=1, lrs=DECADES, seed=1)


def relative_scores(losses: np.ndarray, ref_best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N, T), best lr index (N, T)) of losses (N, seeds, lrs, T) vs Adam's log10 best."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logl = np.log10(np.where(np.isfinite(losses), np.maximum(losses, 1e-30), np.inf))
    per_lr = logl.mean(axis=1)  # (N, L, T): inf if any seed diverged
    best = per_lr.min(axis=1)
    rel = np.where(np.isfinite(best), ref_best[None, :] - best, FLOOR)
    return np.clip(rel, FLOOR, CEIL), per_lr.argmin(axis=1)


class SuiteScorer:
    """One fidelity's suite, compiled once: `score(programs)` trains them all in one call."""

    def __init__(
        self,
        fidelity: Fidelity,
        population_axis: str = "auto",
        batched: bool = True,
        instr_pad: int = INSTR_PAD,
    ):
        self.fidelity = fidelity
        self.suite = prepare_suite(fidelity.tasks, fidelity.steps, fidelity.seeds, fidelity.seed)
        if batched:
            self.trainer: Any = BatchedTrainer(
                self.suite, fidelity.lrs, population_axis, instr_pad=instr_pad
            )
        else:
            self.trainer = SingleTrainer(self.suite, fidelity.lrs)
        self._ref: np.ndarray | None = None

    @property
    def reference(self) -> np.ndarray:
        """Adam's best mean log10 loss per task (what scores are relative to)."""
        if self._ref is None:
            adam = Program.from_source(ADAM)
            logl = np.log10(np.maximum(self.trainer.losses([adam])[0], 1e-30)).mean(axis=0)
            self._ref = logl.min(axis=0)
        return self._ref

    def score(self, programs: Sequence[Program]) -> list[dict[str, Any]]:
        """Per program: `score` (`search_fitness` of the tasks), `task_scores`, `best_lr`, ..."""
        ref = self.reference
        losses = self.trainer.losses(list(programs))
        rel, best = relative_scores(losses, ref)
        fid = self.fidelity
        fit = search_fitness(rel, fid.ceil, fid.min_weight, fid.slack)
        names = self.suite.names
        lrs = self.fidelity.lrs
        out = []
        for i in range(len(programs)):
            finite = np.isfinite(losses[i]).any(axis=(0, 1))
            out.append(
                {
                    "score": float(fit[i]),
                    "task_scores": {n: float(rel[i, j]) for j, n in enumerate(names)},
                    "best_lr": {n: lrs[int(best[i, j])] for j, n in enumerate(names)},
                    "infeasible": not bool(finite.any()),
                }
            )
        return out


class OptimizerSuiteEvaluator(Evaluator):
    """Suite score of an optimizer `Program` at one fidelity (see module docstring)."""

    name = "optimizer_suite"
    objectives = ("score",)
    fingerprint_ignores = ("_scorer",)

    def __init__(self, fidelity: int = 0, population_axis: str = "auto"):
        if fidelity not in FIDELITIES:
            raise ValueError(f"`fidelity` must be one of {sorted(FIDELITIES)}, got {fidelity!r}")
        self.fidelity = fidelity
        self.population_axis = population_axis
        self._scorer: SuiteScorer | None = None

    def config(self) -> dict[str, Any]:
        return {"fidelity": FIDELITIES[self.fidelity].config(), "relative_to": "adam"}

    @property
    def scorer(self) -> SuiteScorer:
        if self._scorer is None:
            self._scorer = SuiteScorer(FIDELITIES[self.fidelity], self.population_axis)
        return self._scorer

    def evaluate_batch(self, candidates: Sequence[Any]) -> list[EvaluationResult]:
        """Score many candidates (Programs or sources) in one batched training call."""
        programs = [Program.from_source(c) if isinstance(c, str) else c for c in candidates]
        for p in programs:
            if not isinstance(p, Program):
                raise ValueError(f"`candidate` must be a Program, got {type(p).__name__}")
        return [
            EvaluationResult(values=(r["score"],), metadata={**r, "fidelity": self.fidelity})
            for r in self.scorer.score(programs)
        ]

    def evaluate(self, candidate: Any, context: TrialContext | None = None) -> EvaluationResult:
        return self.evaluate_batch([candidate])[0]

"""Run the systems being compared, one helper each: a hashtune Study on a temporary store (with
or without its cache), a hashtune searcher through ask/tell, an Optuna study with its own
sampler, and PyGlove's own evolution; plus the one in-process evaluation every runner uses.
"""

from __future__ import annotations

import logging
import math
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import optuna
import pyglove as pg

from harness.problems import Problem
from hashtune import Study
from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.search.base import Feedback, Proposal
from hashtune.search.registry import make_searcher
from hashtune.vocabulary import SCORED_STATES, Direction, TrialState

log = logging.getLogger(__name__)

#: Metadata keys an evaluator may report its simulated cost under (first one present wins).
COST_KEYS = ("simulated_gpu_seconds", "eval_seconds")


@dataclass
class Evaluated:
    """One in-process evaluation: first objective (None when it failed), seconds, metadata."""

    value: float | None
    seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> float:
        """The evaluator's reported cost when it gives one (tabular tables do), else seconds."""
        return reported_cost(self.metadata, self.seconds)


def reported_cost(meta: dict[str, Any], seconds: float, keys: Sequence[str] = COST_KEYS) -> float:
    """The first number among `meta[key]` for `keys` (an evaluator's own cost), else `seconds`."""
    for key in keys:
        if isinstance(meta.get(key), (int, float)):
            return float(meta[key])
    return seconds


def evaluate(
    evaluator: Evaluator, candidate: Any, number: int = 0, *, catch: bool = True
) -> Evaluated:
    """Evaluate `candidate` in-process as trial `number`; a failure (raised, or a non-finite
    value) gives `value=None` unless `catch=False`, when it raises."""
    start = time.perf_counter()
    try:
        out = EvaluationResult.coerce(evaluator.evaluate(candidate, TrialContext(number)))
    except Exception as e:
        if not catch:
            raise
        log.warning("evaluation %d failed: %s", number, e)
        return Evaluated(None, time.perf_counter() - start)
    value = out.values[0]
    finite = value is not None and math.isfinite(value)
    return Evaluated(value if finite else None, time.perf_counter() - start, dict(out.metadata))


# ---- a hashtune Study on a temporary store -----------------------------------------------------


@contextmanager
def temporary_study(
    name: str, *, storage: str | None = None, prefix: str = "hashtune-bench-", **create: Any
) -> Iterator[Study]:
    """`Study.create(name, storage=..., **create)` on a fresh SQLite file in a temporary folder
    (or on `storage` when given); the study and its store are closed on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        study = Study.create(name, storage=storage or f"sqlite:///{tmp}/bench.db", **create)
        try:
            yield study
        finally:
            study.close()
            store = study.store
            store.close()


def scored_values(trials: Sequence[Any]) -> list[float | None]:
    """First objective of each trial record, None unless it scored (paid or cached)."""
    return [t.values[0] if t.values and t.state in SCORED_STATES else None for t in trials]


def eval_seconds(trials: Sequence[Any]) -> float:
    """Seconds the trials spent in their evaluator (the loop records `eval_seconds`)."""
    return sum(float(t.user_attrs.get("eval_seconds", 0.0)) for t in trials)


# ---- one trial at a time: ask/tell runners ------------------------------------------------------


class Runner:
    """Drives one method on one problem, one trial per `step`."""

    problem: Problem

    def step(self, i: int) -> tuple[float, float | None]:
        """One trial: (seconds spent in the method, objective value or None when it failed)."""
        raise NotImplementedError

    def prefill(self, n: int, rng: random.Random) -> None:
        """Load `n` finished random trials into the searcher's history (cost-at-N measurements)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be prefilled")

    def close(self) -> None:
        """Release what the runner holds."""


def random_history(problem: Problem, n: int, rng: random.Random) -> list[tuple[pg.DNA, float]]:
    """`n` random DNA of `problem.space` with their objective values, for prefilling histories.

    Flat spaces of floats and plain choices (the black-box functions) are drawn directly as
    `pg.DNA` value lists and scored on a dict of the chosen values: `pg.random_dna` plus
    `pg.materialize` cost milliseconds each, minutes for 10,000 trials. Other spaces use them.
    """
    spec, hyper = problem.space.dna_spec, problem.space.hyper_value
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
            dna = problem.space.random_dna(rng)
            out.append((dna, problem.value(problem.space.materialize(dna), i)))
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
        out.append((dna, problem.value(candidate, i)))
    return out


class HashtuneRunner(Runner):
    """A hashtune searcher through ask/tell; the evaluator is called in-process (no store)."""

    def __init__(self, problem: Problem, name: str, seed: int, **kwargs: Any):
        self.problem = problem
        self.searcher = make_searcher(name, problem.space, (problem.direction,), seed, **kwargs)

    def step(self, i: int) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        proposal = self.searcher.ask(i)
        t1 = time.perf_counter()
        v = evaluate(self.problem.evaluator, proposal.candidate, i).value
        t2 = time.perf_counter()
        fb = Feedback(TrialState.FAILED) if v is None else Feedback(TrialState.COMPLETE, (v,))
        self.searcher.tell(proposal, fb)
        return (t1 - t0) + (time.perf_counter() - t2), v

    def prefill(self, n: int, rng: random.Random) -> None:
        history = [
            (Proposal(i, dna, None), Feedback(TrialState.COMPLETE, (v,)))
            for i, (dna, v) in enumerate(random_history(self.problem, n, rng))
        ]
        self.searcher.restore(history)


def optuna_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's own sampler `kind` (random, tpe, tpe-group, gp) with default settings."""
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "tpe-group":
        return optuna.samplers.TPESampler(seed=seed, group=True)
    if kind == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    raise ValueError(f"unknown Optuna sampler {kind!r}")


class OptunaRunner(Runner):
    """Optuna's own sampler on an Optuna study written with the problem's distributions."""

    def __init__(self, problem: Problem, kind: str, seed: int, storage: Any = None):
        self.problem, self.seed = problem, seed
        self.study = optuna.create_study(
            direction=str(problem.direction), sampler=optuna_sampler(kind, seed), storage=storage
        )

    def step(self, i: int) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        trial = self.study.ask()
        candidate = self.problem.suggest(trial)
        t1 = time.perf_counter()
        v = evaluate(self.problem.evaluator, candidate, i).value
        t2 = time.perf_counter()
        if v is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, v)
        return (t1 - t0) + (time.perf_counter() - t2), v

    def prefill(self, n: int, rng: random.Random) -> None:
        tmp = optuna.create_study(
            direction=str(self.problem.direction),
            sampler=optuna.samplers.RandomSampler(seed=rng.randrange(2**31)),
        )
        for i in range(n):
            trial = tmp.ask()
            tmp.tell(trial, self.problem.value(self.problem.suggest(trial), i))
        self.study.add_trials(tmp.get_trials(deepcopy=False))


class PygloveRunner(Runner):
    """PyGlove's own regularized evolution, driven by `pg.sample` and its feedback objects."""

    def __init__(self, problem: Problem, seed: int, population: int, tournament: int):
        self.problem = problem
        self.algo = pg.evolution.regularized_evolution(
            population_size=population, tournament_size=tournament, seed=seed
        )
        self.sign = Direction(problem.direction).sign  # PyGlove maximises the reward
        self.samples: Any = None

    def prefill(self, n: int, rng: random.Random) -> None:
        """PyGlove's own resume path: `setup`, then `recover` from (DNA, reward) history.

        `Evolution.recover` reads the metadata its own proposals carry, so the history is tagged
        like a real run: the first `population_size` DNA are the initial population
        (generation 1), every later one a child of its own generation.
        """
        from pyglove.ext.evolution import base

        self.algo.setup(self.problem.space.dna_spec)
        pop = self.algo.population_init[1]
        history = []
        for i, (dna, v) in enumerate(random_history(self.problem, n, rng)):
            base.set_proposal_id(dna, i + 1)
            base.set_generation_id(dna, 1 if i < pop else i - pop + 2)
            dna.set_metadata(base.DNA_METADATA_INITIAL_POPULATION, i < pop)
            history.append((dna, self.sign * v))
        self.algo.recover(history)

    def step(self, i: int) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        if self.samples is None:
            self.samples = pg.sample(self.problem.space.hyper_value, self.algo)
        example, feedback = next(self.samples)
        t1 = time.perf_counter()
        v = evaluate(self.problem.evaluator, example, i).value
        t2 = time.perf_counter()
        if v is None:
            feedback.skip()
        else:
            feedback(self.sign * v)
        return (t1 - t0) + (time.perf_counter() - t2), v

    def close(self) -> None:
        if self.samples is not None:
            self.samples.close()

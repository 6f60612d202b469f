"""The methods `benchmarks/fec.py` compares, each run budgeted by paid evaluations.

Every run records one `Step` per proposal: its (possibly noisy) score, its true value (the noise-free
table value on NB201), whether it was paid and what it cost (simulated GPU seconds on NB201, the
evaluator's measured seconds on the optimizer space). `summarise` turns them into a `RunResult`.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyglove as pg
from harness.runners import evaluate as harness_evaluate
from harness.runners import reported_cost, temporary_study

from hashtune.evaluators.base import Evaluator
from hashtune.hashing.cache_policy import candidate_hash
from hashtune.spaces.base import Space
from hashtune.spaces.nas_bench_201 import EDGES, OPS
from hashtune.vocabulary import SCORED_STATES, TrialState

RE_FEC = "RE + FEC (hashtune)"
RE_FEC_MEAN2 = "RE + FEC, mean of 2 (hashtune)"
RE_NO_FEC = "RE, no FEC (hashtune)"
PG_RE = "PyGlove RE"
PG_DEDUP = "PyGlove RE + Deduping(DNA)"
TPE_OPTUNA = "Optuna TPE (direct)"
TPE_HASHTUNE = "TPE (hashtune tpe, no cache)"
#: Metadata keys of an evaluation's cost, first found wins.
COST_KEYS = ("simulated_gpu_seconds", "eval_seconds")


@dataclass
class Step:
    """One proposal of a run."""

    score: float | None
    truth: float | None
    paid: bool
    cost: float
    dna: str
    fhash: str | None


@dataclass
class RunResult:
    """The per-run numbers the tables aggregate (costs in the space's cost unit)."""

    method: str
    seed: int
    proposals: int
    paid: int
    paid_to_target: float
    cost_to_target: float
    cost_total: float
    best_truth_at_budget: float
    functional_dup_fraction: float
    dna_repeat_fraction: float
    wall_seconds: float
    rejected_inside_generator: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class SpaceSetup:
    """One benchmark space: its evaluator (per seed), the truth of a DNA, target and settings."""

    key: str
    space: Space
    make_evaluator: Callable[[int], Evaluator]
    truth: Callable[[pg.DNA, float | None], float | None]
    evaluator_args: dict[str, Any]
    target: float
    target_note: str
    cost_unit: str
    cost_scale: float  # seconds per cost unit (3600: GPU hours)
    budget: int
    population: int
    tournament: int
    tpe_method: str
    warm_start: dict[str, pg.DNA] = field(default_factory=dict)


def value_key(space: Space, dna: pg.DNA) -> str:
    """`space.dna_key` (the library's key of a DNA) of `dna`'s decision values alone: metadata
    such as PyGlove's proposal and generation ids dropped, as PyGlove's value-only dedup sees it."""
    return space.dna_key(pg.DNA.from_numbers(dna.to_numbers(), space.dna_spec))


class HashMemo:
    """`candidate_hash` of DNA, memoised per space by `value_key`: duplicate accounting outside
    the timed runs."""

    def __init__(self, space: Space):
        self.space = space
        self.memo: dict[str, str] = {}

    def __call__(self, dna: pg.DNA) -> str:
        key = value_key(self.space, dna)
        if key not in self.memo:
            try:
                self.memo[key] = candidate_hash(self.space.materialize(dna))
            except Exception as e:  # noqa: BLE001 - a candidate that cannot be hashed stays unique
                self.memo[key] = f"unhashable:{key}:{type(e).__name__}"
        return self.memo[key]


def summarise(
    method: str,
    seed: int,
    steps: list[Step],
    setup: SpaceSetup,
    wall: float,
    hasher: HashMemo,
    dnas: list[pg.DNA],
    rejected: int = 0,
    notes: list[str] | None = None,
) -> RunResult:
    """Paid evaluations and cost until a proposal's TRUE value reaches the target, best true
    value within the budget, duplicate fractions."""
    paid, cost = 0, 0.0
    best = -math.inf
    paid_to_target = cost_to_target = math.inf
    seen_f: set[str] = set()
    seen_d: set[str] = set()
    dup_f = dup_d = 0
    for step, dna in zip(steps, dnas, strict=True):
        paid += int(step.paid)
        cost += step.cost if step.paid else 0.0
        fhash = step.fhash or hasher(dna)
        dup_f += fhash in seen_f
        dup_d += step.dna in seen_d
        seen_f.add(fhash)
        seen_d.add(step.dna)
        if step.truth is not None and paid <= setup.budget:
            best = max(best, step.truth)
            if step.truth >= setup.target and math.isinf(paid_to_target):
                paid_to_target, cost_to_target = float(paid), cost / setup.cost_scale
    n = max(len(steps), 1)
    return RunResult(
        method=method,
        seed=seed,
        proposals=len(steps),
        paid=paid,
        paid_to_target=paid_to_target,
        cost_to_target=cost_to_target,
        cost_total=cost / setup.cost_scale,
        best_truth_at_budget=best,
        functional_dup_fraction=dup_f / n,
        dna_repeat_fraction=dup_d / n,
        wall_seconds=wall,
        rejected_inside_generator=rejected,
        notes=list(notes or []),
    )


def run_study(
    setup: SpaceSetup, seed: int, method: str, searcher: str, cache: dict, hasher: HashMemo
) -> RunResult:
    """A hashtune Study in a fresh SQLite store, budgeted by paid evaluations."""
    space = setup.space
    args: dict[str, Any] = {}
    if searcher == "regularized_evolution":
        args = {"population_size": setup.population, "tournament_size": setup.tournament}
    with temporary_study(
        "fec",
        prefix="hashtune-fec-",
        space=space,
        evaluator=setup.make_evaluator(seed),
        searcher=searcher,
        searcher_args=args,
        seed=seed,
        cache=cache,
    ) as study:
        for dna in setup.warm_start.values():
            study.enqueue(dna)
        start = time.perf_counter()
        # n_trials only guards against a searcher that never finds a new function.
        study.optimize(n_trials=50 * setup.budget, max_evaluations=setup.budget)
        wall = time.perf_counter() - start
        trials = study.trials()
        cost_of = {
            t.id: reported_cost(t.user_attrs, t.duration_s or 0.0, COST_KEYS) for t in trials
        }
        steps, dnas = [], []
        for t in trials:
            dna = space.dna_from_json(t.dna)
            score = t.values[0] if t.values and t.state in SCORED_STATES else None
            audited = t.user_attrs.get("audit") is True
            paid = t.state != TrialState.CACHED or audited
            cost = cost_of.get(t.cached_from_trial_id or -1, 0.0) if audited else cost_of[t.id]
            steps.append(
                Step(
                    score,
                    setup.truth(dna, score),
                    paid,
                    cost,
                    value_key(space, dna),
                    t.functional_hash,
                )
            )
            dnas.append(dna)
        stats = study.stats()
    notes = [f"stats: complete={stats.complete} cached={stats.cached} failed={stats.failed}"]
    return summarise(method, seed, steps, setup, wall, hasher, dnas, notes=notes)


@pg.members(
    [
        ("space", pg.typing.Any(), "The hashtune Space whose `mutate` makes the child."),
        ("seed", pg.typing.Int(default=0), "Seed of the mutation stream."),
    ]
)
class SpaceMutator(pg.evolution.Mutator):
    """A PyGlove mutator that applies a hashtune space's own `mutate` (same moves as hashtune)."""

    def _on_bound(self) -> None:
        super()._on_bound()
        self._rng = random.Random(f"pyglove-mutator:{self.seed}")

    def mutate(self, dna: pg.DNA, global_state: Any = None, step: int = 0) -> pg.DNA:
        """The child of `dna` under `space.mutate`."""
        child, _ = self.space.mutate(dna.clone(deep=True), self._rng)
        return child


@pg.members(
    [
        ("first", pg.typing.List(pg.typing.List(pg.typing.Int()), default=[]), "DNA numbers."),
        ("seed", pg.typing.Int(default=0), "Seed of the random proposals that follow."),
    ]
)
class SeedFirst(pg.geno.DNAGenerator):
    """Proposes the DNA in `first` (given as decision numbers), then uniformly random DNA: the
    warm start of PyGlove's initial population, as `study.enqueue` is hashtune's."""

    def _setup(self) -> None:
        self._queue = [list(numbers) for numbers in self.first]
        self._random = pg.geno.Random(seed=self.seed)
        self._random.setup(self.dna_spec)

    def _propose(self) -> pg.DNA:
        if self._queue:
            return pg.DNA.from_numbers(self._queue.pop(0), self.dna_spec)
        return self._random.propose()


def evaluate(evaluator: Evaluator, candidate: Any, number: int) -> tuple[float | None, float]:
    """(first objective or None when it fails, cost) of one paid evaluation."""
    out = harness_evaluate(evaluator, candidate, number)
    return out.value, reported_cost(out.metadata, out.seconds, COST_KEYS)


def run_pyglove(
    setup: SpaceSetup, seed: int, method: str, dedup: bool, hasher: HashMemo
) -> RunResult:
    """PyGlove's regularized evolution through `pg.sample`, optionally DNA-deduplicated."""
    space = setup.space
    algo: pg.geno.DNAGenerator = pg.evolution.regularized_evolution(
        mutator=SpaceMutator(space=space, seed=seed),
        population_size=setup.population,
        tournament_size=setup.tournament,
        seed=seed,
    )
    if setup.warm_start:
        first = [list(dna.to_numbers()) for dna in setup.warm_start.values()]
        algo.rebind(population_init=(SeedFirst(first=first, seed=seed), setup.population))
    drawn = [0]

    def value_hash(dna: pg.DNA) -> int:
        drawn[0] += 1
        return hash(tuple(dna.to_numbers()))

    if dedup:
        algo = pg.geno.Deduping(algo, hash_fn=value_hash)
    evaluator = setup.make_evaluator(seed)
    steps, dnas = [], []
    notes: list[str] = []
    start = time.perf_counter()
    loop = pg.sample(space.dna_spec, algo, name=f"fec-{uuid.uuid4().hex}")
    for number, (dna, feedback) in enumerate(loop):
        dna.use_spec(space.dna_spec)
        score, cost = evaluate(evaluator, space.materialize(dna), number)
        if score is None:
            feedback.skip()
        else:
            feedback(score)
        steps.append(Step(score, setup.truth(dna, score), True, cost, value_key(space, dna), None))
        dnas.append(dna)
        if len(steps) >= setup.budget:
            break
    else:
        notes.append("generator stopped before the budget (Deduping found nothing new)")
    wall = time.perf_counter() - start
    rejected = drawn[0] - len(steps) if dedup else 0
    return summarise(method, seed, steps, setup, wall, hasher, dnas, rejected, notes)


def run_optuna_nb201(setup: SpaceSetup, seed: int, method: str, hasher: HashMemo) -> RunResult:
    """Optuna's TPE directly on the NB201 cell: one categorical over the ops per edge."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = setup.space
    evaluator = setup.make_evaluator(seed)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    steps, dnas = [], []
    start = time.perf_counter()
    for number in range(setup.budget):
        trial = study.ask()
        ops = [trial.suggest_categorical(f"op_{i}_{j}", list(OPS)) for i, j in EDGES]
        dna = pg.DNA([OPS.index(op) for op in ops])
        dna.use_spec(space.dna_spec)
        score, cost = evaluate(evaluator, space.materialize(dna), number)
        if score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, score)
        steps.append(Step(score, setup.truth(dna, score), True, cost, value_key(space, dna), None))
        dnas.append(dna)
    wall = time.perf_counter() - start
    return summarise(method, seed, steps, setup, wall, hasher, dnas)


#: Short ids for `--methods` (the row names contain commas).
METHOD_IDS = {
    "fec": RE_FEC,
    "fec-mean2": RE_FEC_MEAN2,
    "nofec": RE_NO_FEC,
    "pg": PG_RE,
    "pg-dedup": PG_DEDUP,
    "tpe": "tpe",
}


def method_id(method: str) -> str:
    """The `--methods` id of a row name."""
    if method in (TPE_OPTUNA, TPE_HASHTUNE):
        return "tpe"
    return next(k for k, v in METHOD_IDS.items() if v == method)


def methods_for(tpe_method: str) -> list[str]:
    """The rows of a space's table, in order."""
    return [RE_FEC, RE_FEC_MEAN2, RE_NO_FEC, PG_RE, PG_DEDUP, tpe_method]


def run_method(setup: SpaceSetup, method: str, seed: int, hasher: HashMemo) -> RunResult:
    """Dispatch one (method, seed) run."""
    re = "regularized_evolution"
    if method == RE_FEC:
        return run_study(setup, seed, method, re, {"enabled": True}, hasher)
    if method == RE_FEC_MEAN2:
        return run_study(setup, seed, method, re, {"enabled": True, "reevaluate": 2}, hasher)
    if method == RE_NO_FEC:
        return run_study(setup, seed, method, re, {"enabled": False}, hasher)
    if method == PG_RE:
        return run_pyglove(setup, seed, method, False, hasher)
    if method == PG_DEDUP:
        return run_pyglove(setup, seed, method, True, hasher)
    if method == TPE_OPTUNA:
        return run_optuna_nb201(setup, seed, method, hasher)
    if method == TPE_HASHTUNE:
        return run_study(setup, seed, method, "tpe", {"enabled": False}, hasher)
    raise ValueError(f"unknown method {method!r}")

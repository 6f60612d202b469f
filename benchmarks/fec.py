"""Evidence for the functional-equivalence cache (FEC): regularized evolution with and without it.

Side by side, with the same seeds, on the NAS-Bench-201 cell space (the synthetic tabular fixture
`tests/fixtures/nb201_fixture.csv` through the `nas_bench_201_tabular` evaluator) and on the
optimizer-program space (the `optimizer_proxy` evaluator, shrunk so that it runs in minutes):

* ``RE + FEC``: `hashtune.Study`, searcher `regularized_evolution`, cache on. A proposal whose
  functional hash is already in the cache is served from it and costs no evaluation.
* ``RE, no FEC``: the same study with ``cache={"enabled": False}``. hashtune's searcher already
  refuses to re-propose an identical DNA (`ProposalBookMixin`), so only functional duplicates are paid.
* ``PyGlove RE``: `pg.evolution.regularized_evolution` driven by `pg.sample` (no hashtune loop);
  every proposal is evaluated and paid, exact DNA repeats included.
* ``PyGlove RE + Deduping``: the same wrapped in `pg.geno.Deduping(hash_fn=...)` hashing the DNA
  values only: exact repeats are redrawn, functional duplicates are still paid.
* ``Optuna TPE``: on NB201, Optuna directly (`TPESampler(seed=seed)`, one categorical per edge);
  on the optimizer space hashtune's `tpe` searcher in a `Study` with the cache off (the space is a
  register machine of 64 categorical genes, which `hashtune.search.optuna_space` maps to Optuna).

Every method uses the same population and tournament sizes and the space's own `mutate` (PyGlove's
rows get it through a `pg.evolution.Mutator` adapter), so the rows differ only in how duplicates are
handled. Each run is budgeted by paid evaluations (`--budget`); cached proposals are free. On the
optimizer space every method first proposes the SGD seed program (`study.enqueue`; for PyGlove a
`population_init` generator that yields it first), since from random programs the fitness landscape
is flat (~2% of random 8-statement programs train at all) and the result would measure luck.

Per method it prints the median over seeds of: paid evaluations and wall seconds until a proposal
first scores >= the target (runs that never do count as infinite; ``reached`` says how many did),
the ratio of paid evaluations to target against ``RE, no FEC`` (a bound when a median is censored
at the budget), the best score after the budget, and the fractions of proposals that repeat an
earlier proposal's functional hash (the FEC's own `candidate_hash`) or its exact DNA. Hashes of runs
without the cache are computed after the run and are not part of their wall time. With one seed,
``RE + FEC`` and ``RE, no FEC`` walk the same proposal sequence (a cached proposal is told the same
score), so a footnote compares them seed by seed. JSON goes to `benchmarks/results/fec.json`;
``--report PATH`` prints the tables of such a file again without running anything.

Targets: NB201, the 99th percentile of the fixture's `val_accuracy` over all 15,625 cells (computed
from the file). Optimizer space, `OPTIMIZER_TARGET` = 0.93 (momentum's score; SGD, the warm start,
scores 0.880 and Adam 0.947 on this config, see `--show-seed-programs`): in a pilot (seeds 0-3, 60
paid evaluations) `RE + FEC` and `PyGlove RE + Deduping` each reached it in 3 of 4 seeds, after a
median of 25 and 35 paid evaluations.

Wall time on the tabular fixture measures loop overhead (a lookup costs microseconds): hashing and
the SQLite store are what `RE + FEC` pays there. On the optimizer space it is dominated by the XLA
compile of each new program (0.2-0.4 s on 2 CPU cores with `FAST_COMPILE_XLA_FLAGS`, which this
script sets unless XLA_FLAGS is set or `--keep-xla-optimizations` is given). The evaluator keeps
its own compiled trainers keyed by the pruned program text, so re-evaluating a duplicate without
the FEC often skips the compile: paid evaluations of the runs without the cache are cheaper on
average, and `RE + FEC` also pays a functional hash (~60 ms) for every proposal, cached or not.

Run: ``.venv/bin/python benchmarks/fec.py [--seeds 10] [--budget 200] [--optimizer-budget 50]
[--spaces nb201,optimizer] [--quick]`` (the defaults took 21-29 min on a shared 2-core machine;
``--quick`` is a 2-seed smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyglove as pg

from hashtune import Study
from hashtune.equivalence_cache import candidate_hash
from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext
from hashtune.evaluators.nas_bench_201 import NasBench201TabularEvaluator
from hashtune.evaluators.optimizer_proxy import OptimizerProxyEvaluator
from hashtune.spaces.base import Space
from hashtune.spaces.nas_bench_201 import EDGES, OPS, nas_bench_201_space
from hashtune.spaces.optimizers import optimizer_program_space, seed_programs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "fec.json"
NB201_FIXTURE = ROOT / "tests" / "fixtures" / "nb201_fixture.csv"
#: Fraction of NB201 cells at or above the NB201 target.
NB201_TOP_FRACTION = 0.01
#: Small optimizer_proxy config: one task, 50 steps, two learning rates (compile time dominates).
OPTIMIZER_EVALUATOR_ARGS: dict[str, Any] = {
    "tasks": ("logreg",),
    "steps": 50,
    "lr_grid": (0.01, 0.1),
}
OPTIMIZER_SPACE_ARGS: dict[str, Any] = {"max_statements": 8}
OPTIMIZER_TARGET = 0.93
#: Set (unless XLA_FLAGS is already set) to cut each program's XLA compile time by ~30%.
FAST_COMPILE_XLA_FLAGS = "--xla_backend_optimization_level=0"

RE_FEC = "RE + FEC (hashtune)"
RE_NO_FEC = "RE, no FEC (hashtune)"
PG_RE = "PyGlove RE"
PG_DEDUP = "PyGlove RE + Deduping(DNA)"
TPE_OPTUNA = "Optuna TPE (direct)"
TPE_HASHTUNE = "TPE (hashtune tpe, no cache)"


# -- what a run produced ----------------------------------------------------------------------


@dataclass
class Step:
    """One proposal of a run: its score, whether it was paid, its keys and when it finished."""

    score: float | None
    paid: bool
    dna: str
    fhash: str | None
    seconds: float


@dataclass
class RunResult:
    """The per-run numbers the tables aggregate."""

    method: str
    seed: int
    proposals: int
    paid: int
    paid_to_target: float
    seconds_to_target: float
    best_at_budget: float
    functional_dup_fraction: float
    dna_repeat_fraction: float
    wall_seconds: float
    rejected_inside_generator: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class SpaceSetup:
    """One benchmark space: how to build its evaluator, the target and the search settings."""

    key: str
    space: Space
    make_evaluator: Callable[[], Evaluator]
    evaluator_args: dict[str, Any]
    target: float
    target_note: str
    budget: int
    population: int
    tournament: int
    tpe_method: str
    warm_start: dict[str, pg.DNA] = field(default_factory=dict)


def dna_key(dna: pg.DNA) -> str:
    """A DNA's decision values as text (what PyGlove's value-only dedup compares)."""
    return ",".join(str(v) for v in dna.to_numbers())


class HashMemo:
    """`candidate_hash` of DNA, memoised per space: duplicate accounting outside the timed runs."""

    def __init__(self, space: Space):
        self.space = space
        self.memo: dict[str, str] = {}

    def __call__(self, dna: pg.DNA) -> str:
        key = dna_key(dna)
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
    """Paid evaluations/seconds to target, best after the budget and duplicate fractions."""
    paid = 0
    best = -math.inf
    paid_to_target = seconds_to_target = math.inf
    seen_f: set[str] = set()
    seen_d: set[str] = set()
    dup_f = dup_d = 0
    for step, dna in zip(steps, dnas, strict=True):
        paid += int(step.paid)
        fhash = step.fhash or hasher(dna)
        dup_f += fhash in seen_f
        dup_d += step.dna in seen_d
        seen_f.add(fhash)
        seen_d.add(step.dna)
        if step.score is not None and paid <= setup.budget:
            best = max(best, step.score)
            if step.score >= setup.target and math.isinf(paid_to_target):
                paid_to_target, seconds_to_target = float(paid), step.seconds
    n = max(len(steps), 1)
    return RunResult(
        method=method,
        seed=seed,
        proposals=len(steps),
        paid=paid,
        paid_to_target=paid_to_target,
        seconds_to_target=seconds_to_target,
        best_at_budget=best,
        functional_dup_fraction=dup_f / n,
        dna_repeat_fraction=dup_d / n,
        wall_seconds=wall,
        rejected_inside_generator=rejected,
        notes=list(notes or []),
    )


# -- the methods ------------------------------------------------------------------------------


def run_study(
    setup: SpaceSetup, seed: int, method: str, searcher: str, cache: bool, hasher: HashMemo
) -> RunResult:
    """A hashtune Study in a fresh SQLite store, budgeted by paid evaluations."""
    space = setup.space
    args: dict[str, Any] = {}
    if searcher == "regularized_evolution":
        args = {"population_size": setup.population, "tournament_size": setup.tournament}
    with tempfile.TemporaryDirectory(prefix="hashtune-fec-") as tmp:
        study = Study.create(
            "fec",
            space=space,
            evaluator=setup.make_evaluator(),
            searcher=searcher,
            searcher_args=args,
            storage=f"sqlite:///{tmp}/fec.db",
            seed=seed,
            cache={"enabled": cache},
        )
        for dna in setup.warm_start.values():
            study.enqueue(dna)
        t0 = datetime.now(UTC)
        start = time.perf_counter()
        # n_trials only guards against a searcher that never finds a new function.
        study.optimize(n_trials=50 * setup.budget, max_evaluations=setup.budget)
        wall = time.perf_counter() - start
        steps, dnas = [], []
        for t in study.trials():
            dna = space.dna_from_json(t.dna)
            finished = t.finished_at or t0
            if finished.tzinfo is None:
                finished = finished.replace(tzinfo=UTC)
            steps.append(
                Step(
                    score=t.values[0] if t.values and t.state in ("COMPLETE", "CACHED") else None,
                    paid=t.state != "CACHED",
                    dna=dna_key(dna),
                    fhash=t.functional_hash,
                    seconds=(finished - t0).total_seconds(),
                )
            )
            dnas.append(dna)
        stats = study.stats()
        study.store.close()
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
    evaluator = setup.make_evaluator()
    steps, dnas = [], []
    paid = 0
    notes: list[str] = []
    start = time.perf_counter()
    loop = pg.sample(space.dna_spec, algo, name=f"fec-{uuid.uuid4().hex}")
    for number, (dna, feedback) in enumerate(loop):
        dna.use_spec(space.dna_spec)
        score = _evaluate(evaluator, space.materialize(dna), number)
        paid += 1
        if score is None:
            feedback.skip()
        else:
            feedback(score)
        steps.append(Step(score, True, dna_key(dna), None, time.perf_counter() - start))
        dnas.append(dna)
        if paid >= setup.budget:
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
    evaluator = setup.make_evaluator()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    steps, dnas = [], []
    start = time.perf_counter()
    for number in range(setup.budget):
        trial = study.ask()
        ops = [trial.suggest_categorical(f"op_{i}_{j}", list(OPS)) for i, j in EDGES]
        dna = pg.DNA([OPS.index(op) for op in ops])
        dna.use_spec(space.dna_spec)
        score = _evaluate(evaluator, space.materialize(dna), number)
        if score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, score)
        steps.append(Step(score, True, dna_key(dna), None, time.perf_counter() - start))
        dnas.append(dna)
    wall = time.perf_counter() - start
    return summarise(method, seed, steps, setup, wall, hasher, dnas)


def _evaluate(evaluator: Evaluator, candidate: Any, number: int) -> float | None:
    """The first objective of one evaluation (None when it fails)."""
    try:
        out = EvaluationResult.coerce(evaluator.evaluate(candidate, TrialContext(number)))
    except Exception as e:  # noqa: BLE001 - a failed evaluation is a paid, unscored proposal
        logging.getLogger(__name__).warning("evaluation %d failed: %s", number, e)
        return None
    return out.values[0]


def methods_for(tpe_method: str) -> list[str]:
    """The rows of a space's table, in order."""
    return [RE_FEC, RE_NO_FEC, PG_RE, PG_DEDUP, tpe_method]


def run_method(setup: SpaceSetup, method: str, seed: int, hasher: HashMemo) -> RunResult:
    """Dispatch one (method, seed) run."""
    if method == RE_FEC:
        return run_study(setup, seed, method, "regularized_evolution", True, hasher)
    if method == RE_NO_FEC:
        return run_study(setup, seed, method, "regularized_evolution", False, hasher)
    if method == PG_RE:
        return run_pyglove(setup, seed, method, False, hasher)
    if method == PG_DEDUP:
        return run_pyglove(setup, seed, method, True, hasher)
    if method == TPE_OPTUNA:
        return run_optuna_nb201(setup, seed, method, hasher)
    if method == TPE_HASHTUNE:
        return run_study(setup, seed, method, "tpe", False, hasher)
    raise ValueError(f"unknown method {method!r}")


# -- spaces -----------------------------------------------------------------------------------


def nb201_target(path: Path, top_fraction: float = NB201_TOP_FRACTION) -> float:
    """The score that the top `top_fraction` of all cells in the table reach (99th percentile)."""
    table = NasBench201TabularEvaluator(path)
    scores = sorted((row["val_accuracy"] for row in table._rows.values()), reverse=True)
    k = max(1, math.ceil(top_fraction * len(scores)))
    return float(scores[k - 1])


def nb201_setup(args: argparse.Namespace) -> SpaceSetup:
    """NB201 cells scored by the tabular fixture."""
    target = nb201_target(NB201_FIXTURE)
    return SpaceSetup(
        key="nb201",
        space=nas_bench_201_space(),
        make_evaluator=lambda: NasBench201TabularEvaluator(NB201_FIXTURE),
        evaluator_args={"name": "nas_bench_201_tabular", "path": str(NB201_FIXTURE)},
        target=target,
        target_note=(
            f"99th percentile of val_accuracy over all 15,625 cells of {NB201_FIXTURE.name} "
            f"(top {NB201_TOP_FRACTION:.0%} of cells reach it)"
        ),
        budget=args.budget,
        population=args.population,
        tournament=args.tournament,
        tpe_method=TPE_OPTUNA,
    )


def optimizer_setup(args: argparse.Namespace) -> SpaceSetup:
    """Optimizer programs scored by a small optimizer_proxy config, warm-started from seeds."""
    space = optimizer_program_space(**OPTIMIZER_SPACE_ARGS)
    programs = seed_programs()
    names = [
        n.strip() for n in args.optimizer_warm_start.split(",") if n.strip() not in ("", "none")
    ]
    unknown = [n for n in names if n not in programs]
    if unknown:
        raise SystemExit(
            f"--optimizer-warm-start: unknown seed programs {unknown}; known {list(programs)}"
        )
    return SpaceSetup(
        key="optimizer",
        space=space,
        make_evaluator=lambda: OptimizerProxyEvaluator(**OPTIMIZER_EVALUATOR_ARGS),
        evaluator_args={"name": "optimizer_proxy", **OPTIMIZER_EVALUATOR_ARGS},
        target=args.optimizer_target,
        target_note=(
            "momentum's score, reachable by evolution in the budget in a pilot; SGD (the warm "
            f"start: {', '.join(names) or 'none'}) scores 0.880, Adam 0.947 on this config"
        ),
        budget=args.optimizer_budget,
        population=args.optimizer_population,
        tournament=args.optimizer_tournament,
        tpe_method=TPE_HASHTUNE,
        warm_start={n: space.dna_of(programs[n]) for n in names},
    )


def warm_up(setup: SpaceSetup, hasher: HashMemo) -> None:
    """Compile JAX's hashing and evaluation kernels once, so no timed run pays for first use."""
    rng = random.Random(12345)
    evaluator = setup.make_evaluator()
    for number in range(3):
        dna = setup.space.random_dna(rng)
        hasher(dna)
        _evaluate(evaluator, setup.space.materialize(dna), number)


# -- aggregation and printing -----------------------------------------------------------------


@dataclass(frozen=True)
class TableInfo:
    """What a space's table needs (kept in the JSON, so `--report` can print it again)."""

    key: str
    budget: int
    target: float
    target_note: str
    tpe_method: str

    @classmethod
    def of(cls, setup: SpaceSetup) -> TableInfo:
        """The table info of a space setup."""
        return cls(setup.key, setup.budget, setup.target, setup.target_note, setup.tpe_method)


def median(values: list[float]) -> float:
    """Median that keeps infinities (a run that never reached the target)."""
    return float(statistics.median(values)) if values else math.nan


def _ratio(p: float, b: float, budget: int) -> tuple[float, str]:
    """(ratio of paid evaluations to target p/b, relation): '=' exact, '<' or '>' a bound when
    one median is censored at the budget (never reached counts as more than `budget`)."""
    if math.isfinite(p) and math.isfinite(b) and b > 0:
        return p / b, "="
    if math.isfinite(p) and math.isinf(b):
        return p / budget, "<"
    if math.isinf(p) and math.isfinite(b) and b > 0:
        return budget / b, ">"
    return math.nan, "n/a"


def aggregate(runs: list[RunResult], info: TableInfo) -> list[dict[str, Any]]:
    """One row per method: medians over seeds, and the ratio to the no-FEC baseline."""
    rows = []
    for method in methods_for(info.tpe_method):
        mine = [r for r in runs if r.method == method]
        if not mine:
            continue
        rows.append(
            {
                "method": method,
                "seeds": len(mine),
                "reached": sum(not math.isinf(r.paid_to_target) for r in mine),
                "paid_to_target": median([r.paid_to_target for r in mine]),
                "seconds_to_target": median([r.seconds_to_target for r in mine]),
                "best_at_budget": median([r.best_at_budget for r in mine]),
                "proposals": median([float(r.proposals) for r in mine]),
                "functional_dup_fraction": median([r.functional_dup_fraction for r in mine]),
                "dna_repeat_fraction": median([r.dna_repeat_fraction for r in mine]),
                "wall_seconds": median([r.wall_seconds for r in mine]),
                "rejected_inside_generator": median(
                    [float(r.rejected_inside_generator) for r in mine]
                ),
            }
        )
    base = next((r for r in rows if r["method"] == RE_NO_FEC), None)
    for row in rows:
        b = base["paid_to_target"] if base else math.nan
        row["ratio_vs_no_fec"], row["ratio_relation"] = _ratio(
            row["paid_to_target"], b, info.budget
        )
    return rows


def paired_fec(runs: list[RunResult]) -> dict[str, Any] | None:
    """RE + FEC against RE, no FEC seed by seed: with one seed both walk the same proposals (a
    cached proposal is told the same score), so FEC only skips paying for known functions."""
    fec = {r.seed: r for r in runs if r.method == RE_FEC}
    base = {r.seed: r for r in runs if r.method == RE_NO_FEC}
    seeds = sorted(set(fec) & set(base))
    if not seeds:
        return None
    f = [fec[s].paid_to_target for s in seeds]
    b = [base[s].paid_to_target for s in seeds]
    return {
        "seeds": len(seeds),
        "fewer": sum(x < y for x, y in zip(f, b, strict=True)),
        "equal": sum(x == y and math.isfinite(x) for x, y in zip(f, b, strict=True)),
        "neither_reached": sum(math.isinf(x) and math.isinf(y) for x, y in zip(f, b, strict=True)),
        "more": sum(x > y for x, y in zip(f, b, strict=True)),
        "only_fec_reached": sum(
            math.isfinite(x) and math.isinf(y) for x, y in zip(f, b, strict=True)
        ),
        "served_from_cache": median([float(fec[s].proposals - fec[s].paid) for s in seeds]),
    }


def _fmt(x: float, spec: str, budget: int | None = None) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return f"> {budget}" if budget is not None else "never"
    return format(x, spec)


def _fmt_ratio(row: dict[str, Any]) -> str:
    rel = row["ratio_relation"]
    if rel == "n/a":
        return "n/a"
    return f"{'' if rel == '=' else rel}{row['ratio_vs_no_fec']:.2f}x"


def print_table(
    info: TableInfo, rows: list[dict[str, Any]], paired: dict[str, Any] | None, console: Any
) -> None:
    """The rich table of one space, with its footnotes."""
    from rich.table import Table

    seeds = max((r["seeds"] for r in rows), default=0)
    table = Table(
        title=(
            f"{info.key}: median over {seeds} seeds, budget {info.budget} paid evaluations, "
            f"target {info.target:.4g}"
        ),
        title_justify="left",
    )
    for name, justify in (
        ("method", "left"),
        ("reached", "right"),
        ("paid evals\nto target", "right"),
        ("vs no FEC", "right"),
        ("wall s\nto target", "right"),
        (f"best @{info.budget}\npaid", "right"),
        ("proposals", "right"),
        ("functional\ndup %", "right"),
        ("DNA\nrepeat %", "right"),
        ("wall s\n(run)", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r["method"],
            f"{r['reached']}/{r['seeds']}",
            _fmt(r["paid_to_target"], ".1f", info.budget),
            _fmt_ratio(r),
            _fmt(r["seconds_to_target"], ".2f"),
            _fmt(r["best_at_budget"], ".4f"),
            _fmt(r["proposals"], ".0f"),
            _fmt(100 * r["functional_dup_fraction"], ".1f"),
            _fmt(100 * r["dna_repeat_fraction"], ".1f"),
            _fmt(r["wall_seconds"], ".2f"),
        )
    console.print(table)
    console.print(f"  target: {info.target_note}")
    console.print(
        f"  '> {info.budget}': the median run never reached the target; a '<' or '>' ratio is a "
        "bound from such a median"
    )
    if paired is not None:
        console.print(
            f"  paired, same seed (same proposal sequence): RE + FEC needed fewer paid evaluations "
            f"to target than RE, no FEC in {paired['fewer']}/{paired['seeds']} seeds, as many in "
            f"{paired['equal']}, more in {paired['more']}, neither reached it in "
            f"{paired['neither_reached']} (FEC alone reached it in {paired['only_fec_reached']}); median {paired['served_from_cache']:.0f} proposals "
            "per run served from the cache"
        )
    dedup = next((r for r in rows if r["method"] == PG_DEDUP), None)
    if dedup is not None:
        console.print(
            f"  {PG_DEDUP}: median {dedup['rejected_inside_generator']:.0f} exact-DNA repeats "
            "drawn and redrawn inside the generator per run (never proposed, never paid)"
        )
    if info.tpe_method == TPE_HASHTUNE:
        console.print(
            "  TPE row: hashtune's `tpe` searcher (Optuna TPESampler) in a Study with the cache "
            "off, not Optuna directly; it re-asks instead of re-proposing a known DNA"
        )


def report(path: Path, console: Any) -> None:
    """Print the tables of a JSON this script wrote (no runs)."""
    record = json.loads(path.read_text())
    for key, data in record["spaces"].items():
        info = TableInfo(**{**data["table"], "key": key})
        runs = [RunResult(**_floats(r)) for r in data["runs"]]
        print_table(info, aggregate(runs, info), paired_fec(runs), console)
    console.print(f"(from {path}, written {record['created']}, {record['total_seconds']:.0f}s)")


def _floats(run: dict[str, Any]) -> dict[str, Any]:
    """Undo `_jsonable` on a stored run: 'inf'/'nan' strings back to floats."""
    return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in run.items()}


def _jsonable(x: Any) -> Any:
    """Infinities and NaN as strings, so the file is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide hashtune's per-study log lines and library warnings while the bar runs."""
    logger = logging.getLogger("hashtune")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 (default 10)")
    p.add_argument("--budget", type=int, default=200, help="NB201 paid evaluations per run")
    p.add_argument("--population", type=int, default=20, help="NB201 population size")
    p.add_argument("--tournament", type=int, default=5, help="NB201 tournament size")
    p.add_argument("--optimizer-budget", type=int, default=50)
    p.add_argument("--optimizer-population", type=int, default=20)
    p.add_argument("--optimizer-tournament", type=int, default=5)
    p.add_argument("--optimizer-target", type=float, default=OPTIMIZER_TARGET)
    p.add_argument(
        "--optimizer-warm-start",
        default="sgd",
        help="seed programs every method proposes first (comma list, or 'none')",
    )
    p.add_argument("--spaces", default="nb201,optimizer", help="comma list of nb201, optimizer")
    p.add_argument("--methods", default="", help="comma list of method rows to run (default all)")
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 2 seeds, budget 40 (optimizer 20)"
    )
    p.add_argument(
        "--keep-xla-optimizations",
        action="store_true",
        help=f"do not set XLA_FLAGS={FAST_COMPILE_XLA_FLAGS} (an unset XLA_FLAGS only)",
    )
    p.add_argument("--show-seed-programs", action="store_true", help="score the seed optimizers")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--report", type=Path, help="print the tables of this JSON again, run nothing")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.budget, args.optimizer_budget = 2, 40, 20
        args.population = args.optimizer_population = 10
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    bad = [s for s in spaces if s not in ("nb201", "optimizer")]
    if bad or not spaces:
        p.error(f"--spaces must list nb201 and/or optimizer, got {args.spaces!r}")
    args.space_list = spaces
    for name in ("seeds", "budget", "optimizer_budget"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run every (space, seed, method), print the tables and write the JSON."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    args = parse_args(argv)
    if not args.keep_xla_optimizations:
        # Read when JAX creates its CPU backend (first computation), so setting it here is in time.
        os.environ.setdefault("XLA_FLAGS", FAST_COMPILE_XLA_FLAGS)
    console = Console(width=max(Console().width, 160))
    if args.report is not None:
        report(args.report, console)
        return
    builders = {"nb201": nb201_setup, "optimizer": optimizer_setup}
    setups = [builders[s](args) for s in args.space_list]
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.show_seed_programs and any(s.key == "optimizer" for s in setups):
        ev = OptimizerProxyEvaluator(**OPTIMIZER_EVALUATOR_ARGS)
        scores = {k: round(ev.evaluate(p).values[0], 4) for k, p in seed_programs().items()}
        console.print(f"seed programs on the optimizer config: {scores}")
    seeds = list(range(args.seeds))
    plan = [
        (setup, seed, m)
        for setup in setups
        for seed in seeds  # seed-major: load drift on the machine hits every method alike
        for m in methods_for(setup.tpe_method)
        if not wanted or m in wanted
    ]
    hashers = {s.key: HashMemo(s.space) for s in setups}
    runs: dict[str, list[RunResult]] = {s.key: [] for s in setups}
    t_all = time.perf_counter()
    with _quiet():
        for setup in setups:
            warm_up(setup, hashers[setup.key])
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        with progress:
            task = progress.add_task("runs", total=len(plan))
            for setup, seed, method in plan:
                progress.update(task, description=f"{setup.key} seed {seed}: {method}")
                result = run_method(setup, method, seed, hashers[setup.key])
                runs[setup.key].append(result)
                progress.advance(task)
    record: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "space_list")},
        "total_seconds": time.perf_counter() - t_all,
        "spaces": {},
    }
    for setup in setups:
        info = TableInfo.of(setup)
        rows = aggregate(runs[setup.key], info)
        paired = paired_fec(runs[setup.key])
        print_table(info, rows, paired, console)
        table = asdict(info)
        del table["key"]
        record["spaces"][setup.key] = {
            "table": table,
            "population_size": setup.population,
            "tournament_size": setup.tournament,
            "evaluator": setup.evaluator_args,
            "warm_start": sorted(setup.warm_start),
            "summary": rows,
            "paired_fec_vs_no_fec": paired,
            "runs": [asdict(r) for r in runs[setup.key]],
        }
    console.print(f"total {record['total_seconds']:.0f}s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_jsonable(record), indent=2, default=repr))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Searchers driven through `hashtune.Study` on a SQLite store (issue 5).

The searcher unit tests (test_search_optuna.py, test_search_evolution.py, test_pruners.py) call
ask/tell directly. These tests go through the whole loop instead: `Study.create` → `optimize` →
store → `Study.load` → `optimize`, so they catch what only the study wiring can break: the replay of
stored trials into a new searcher on resume, the Pareto queries over stored trials, live pruning
with intermediate values kept in the store, warm starts from `enqueue` and experiment files, every
registered searcher on a mixed space with the cache on, and several proposals pending at once.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyglove as pg
import pytest

from hashtune import FunctionEvaluator, Space, Study, TrialContext
from hashtune.evaluators.executors import Executor, Outcome, ShouldPrune, run_evaluation
from hashtune.experiment import load_experiment, open_study
from hashtune.search.base import Feedback, Proposal
from hashtune.search.book import dna_key
from hashtune.space_registry import make_space
from hashtune.spaces.nas_bench_201 import cell_from_string
from hashtune.spaces.optimizers import seed_programs
from hashtune.store import TrialRecord

FIXTURES = Path(__file__).parent / "fixtures"
NB201_TABLE = FIXTURES / "nb201_fixture.csv"
SCORED = {"COMPLETE", "CACHED"}


def url_of(tmp_path: Path, name: str = "study.db") -> str:
    """A SQLite URL for a new file in the test's temporary directory."""
    return f"sqlite:///{tmp_path / name}"


def key_of(trial: TrialRecord) -> str:
    """A canonical string for a stored trial's DNA (what 're-proposed' compares)."""
    return dna_key(
        pg.DNA.from_json(trial.dna) if isinstance(trial.dna, dict) else pg.DNA.parse(trial.dna)
    )


# ---- 1. resume rebuilds the searcher ------------------------------------------------------------
def grid_space() -> Space:
    """64 discrete DNA: 30 uniform draws repeat one with probability > 0.999."""
    return Space(pg.Dict(a=pg.oneof(list(range(8))), b=pg.oneof(list(range(8)))), name="grid64")


def grid_score(c: Any) -> float:
    """A single peak at (a, b) = (5, 2)."""
    return -float((c.a - 5) ** 2 + (c.b - 2) ** 2)


def grid_two(c: Any) -> tuple[float, float]:
    """Two objectives on the grid: (grid_score, a) for maximize/minimize."""
    return grid_score(c), float(c.a)


RESUME_CASES = {
    "regularized_evolution": ({"population_size": 6, "tournament_size": 3}, ("maximize",)),
    "tpe": ({"n_startup_trials": 5}, ("maximize",)),
    "nsga2": ({"population_size": 6}, ("maximize", "minimize")),
}


def searcher_state(searcher: Any) -> Any:
    """The deterministic part of a searcher's learned state, comparable across instances."""
    if hasattr(searcher, "population"):  # evolution: members in order (number, values)
        return (
            searcher.num_asked,
            sorted(searcher.book.seen),
            [(m.number, dna_key(m.dna), m.values) for m in searcher.population],
        )
    done = [t for t in searcher.study.trials if t.state.name == "COMPLETE"]  # Optuna
    return sorted((repr(sorted(t.params.items())), tuple(t.values)) for t in done)


@pytest.mark.parametrize("name", list(RESUME_CASES))
def test_resume_rebuilds_searcher_and_never_reproposes(tmp_path: Path, name: str) -> None:
    """Study.load replays the stored trials: same state as the live searcher, no repeats after."""
    args, dirs = RESUME_CASES[name]
    space = grid_space()
    fn = grid_score if len(dirs) == 1 else grid_two
    objectives = ("score",) if len(dirs) == 1 else ("score", "a")
    evaluator = FunctionEvaluator(fn, objectives=objectives)
    url = url_of(tmp_path)
    first = Study.create(
        "resume", space=space, evaluator=evaluator, searcher=name, searcher_args=args,
        storage=url, directions=dirs, seed=7,
    )  # fmt: skip
    n1, n2 = 15, 15
    first.optimize(n_trials=n1)
    before = first.trials()
    assert len(before) == n1 and {t.state for t in before} <= SCORED

    # Control: a fresh searcher with the study's seed replays the first run's stream, so only the
    # restore keeps the second run from proposing the same DNA again.
    fresh = Study.create(
        "control", space=space, evaluator=evaluator, searcher=name, searcher_args=args,
        storage=url_of(tmp_path, "control.db"), directions=dirs, seed=7,
    )  # fmt: skip
    assert key_of(before[0]) == dna_key(fresh.searcher.ask(0).dna)

    resumed = Study.load("resume", storage=url, space=space, evaluator=evaluator)
    assert type(resumed.searcher) is type(first.searcher)
    assert searcher_state(resumed.searcher) == searcher_state(first.searcher)
    if name == "tpe":
        assert len(resumed.searcher.book.seen) == n1

    resumed.optimize(n_trials=n2)
    after = resumed.trials()
    assert [t.number for t in after] == list(range(n1 + n2))
    old = {key_of(t) for t in before}
    new = [key_of(t) for t in after[n1:]]
    assert not old & set(new), f"{name} re-proposed DNA of the first run after resume"
    assert len(set(new)) == n2, f"{name} proposed a DNA twice in the resumed run"
    assert {t.state for t in after} == {"COMPLETE"}  # no repeat, so nothing served from cache


@pytest.mark.parametrize("name", ["regularized_evolution", "tpe"])
def test_two_resumes_from_the_same_store_propose_the_same(tmp_path: Path, name: str) -> None:
    """Resuming is deterministic: two copies of one store resume into the same proposals."""
    args, dirs = RESUME_CASES[name]
    space, evaluator = grid_space(), FunctionEvaluator(grid_score)
    Study.create(
        "det", space=space, evaluator=evaluator, searcher=name, searcher_args=args,
        storage=url_of(tmp_path, "a.db"), seed=3,
    ).optimize(n_trials=10)  # fmt: skip
    with sqlite3.connect(tmp_path / "a.db") as src, sqlite3.connect(tmp_path / "b.db") as dst:
        src.backup(dst)  # WAL-safe copy: a plain file copy misses the -wal file
    runs = []
    for db in ("a.db", "b.db"):
        study = Study.load("det", storage=url_of(tmp_path, db), space=space, evaluator=evaluator)
        study.optimize(n_trials=6)
        runs.append([key_of(t) for t in study.trials()[10:]])
    assert runs[0] == runs[1]


# ---- 2. NSGA-II through the study ---------------------------------------------------------------
def tradeoff_space() -> Space:
    """A width choice and a float knob: enough for a front of several points."""
    return Space(pg.Dict(width=pg.oneof([8, 16, 32, 64, 128]), x=pg.floatv(0.0, 1.0)))


def acc_cost(c: Any) -> tuple[float, float]:
    """Accuracy rises with width and x, cost rises with width: a real trade-off."""
    acc = 1.0 - 1.0 / math.log2(c.width) - 0.3 * (c.x - 0.7) ** 2
    return acc, float(c.width) * (1.0 + c.x)


def better_eq(a: Sequence[float], b: Sequence[float]) -> bool:
    """(acc, cost) `a` dominates `b`: acc >= and cost <=, strictly better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def test_nsga2_pareto_front_through_study(tmp_path: Path) -> None:
    """pareto_front is exactly the non-dominated stored trials; best_trials is the front."""
    evaluator = FunctionEvaluator(acc_cost, objectives=("acc", "cost"))
    study = Study.create(
        "moo", space=tradeoff_space(), evaluator=evaluator, searcher="nsga2",
        searcher_args={"population_size": 8}, storage=url_of(tmp_path),
        directions=["maximize", "minimize"], seed=1,
    )  # fmt: skip
    study.optimize(n_trials=30)
    scored = study.scored_trials()
    assert len(scored) == 30
    front = study.pareto_front()
    front_ids = {t.id for t in front}
    assert len(front) >= 2, "a width/cost trade-off has more than one non-dominated point"
    for t in front:
        assert not any(better_eq(o.values, t.values) for o in scored), f"trial {t.number} dominated"
    for t in scored:
        if t.id not in front_ids:
            assert any(better_eq(f.values, t.values) for f in front), f"{t.number} not dominated"
    assert [t.id for t in study.best_trials] == [t.id for t in front]
    assert any(t.parents for t in scored), "past population_size NSGA-II proposes mutants"


# ---- 3. pruning --------------------------------------------------------------------------------
LEVELS = [0.8, 0.85, 0.9, 0.1, 0.95, 0.05]  # each good curve beats the running median


def curve_fn(c: Any, context: TrialContext) -> float:
    """An accuracy-like curve rising to `c.level` over 10 reported steps."""
    value = 0.0
    for step in range(10):
        value = c.level * (1.0 - math.exp(-0.5 * step))
        context.report(step, value)
    return value


def test_median_pruner_stops_clearly_bad_trials(tmp_path: Path) -> None:
    """Good curves complete; bad ones become PRUNED early with their curve kept in the store."""
    space = Space(pg.Dict(level=pg.oneof(sorted(set(LEVELS)))))
    evaluator = FunctionEvaluator(curve_fn)
    url = url_of(tmp_path)
    study = Study.create(
        "prune", space=space, evaluator=evaluator, searcher="random", storage=url,
        pruner="median", pruner_args={"n_startup_trials": 2, "n_warmup_steps": 1},
    )  # fmt: skip
    for level in LEVELS:
        assert study.enqueue(pg.Dict(level=level))
    study.optimize(n_trials=len(LEVELS))
    trials = study.trials()
    assert [float(pg.from_json_str(t.candidate).level) for t in trials] == LEVELS
    states = [t.state for t in trials]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "PRUNED"], states
    for t in trials:
        assert t.intermediate, f"trial {t.number} lost its intermediate values"
        if t.state == "PRUNED":
            # stopped at the first step past warm-up, its two reported values kept
            assert t.values is None and [s for s, _ in t.intermediate] == [0, 1], t.intermediate
        else:
            assert len(t.intermediate) == 10 and t.values == pytest.approx((t.intermediate[-1][1],))
    assert study.stats().pruned == 2

    # A new Study object rebuilds the pruner's curves from the store: a bad trial is pruned at once.
    resumed = Study.load("prune", storage=url, space=space, evaluator=evaluator)
    assert resumed.pruner is not None
    assert not resumed.enqueue(space.dna_from_json(trials[3].dna)), "already tried"
    resumed.enqueue(space.dna_from_json(trials[3].dna), skip_if_exists=False)  # force it again
    resumed.optimize(n_trials=1)
    last = resumed.trials()[-1]
    assert last.number == len(LEVELS) and last.state == "PRUNED", (last.state, last.intermediate)


# ---- 4. warm start -----------------------------------------------------------------------------
def program_size(program: Any) -> float:
    """A cheap stand-in score for optimizer programs: fewer live statements is better."""
    return -float(len(program.live_statements()))


@pytest.fixture(scope="module")
def program_space() -> Space:
    """The optimizer-program space with 16 slots (Adam has 13 statements; the default 8 is short).

    Built once: its DNA spec takes a second or two to construct.
    """
    return make_space("optimizer_programs", max_statements=16)


@pytest.mark.parametrize("searcher", ["regularized_evolution", "random", "tpe"])
def test_enqueued_seed_programs_are_the_first_trials(
    tmp_path: Path, searcher: str, program_space: Space
) -> None:
    """enqueue('adam'), enqueue('lion') → trials 0 and 1 are those programs; re-enqueue is a no-op."""
    study = Study.create(
        "warm", space=program_space, evaluator=FunctionEvaluator(program_size), searcher=searcher,
        storage=url_of(tmp_path), seed=0, cache={"enabled": False},
    )  # fmt: skip
    space = study.space
    assert study.enqueue("adam") and study.enqueue("lion")
    study.optimize(n_trials=4)
    trials = study.trials()
    seeds = seed_programs()
    for t, name in zip(trials[:2], ["adam", "lion"], strict=True):
        program = space.materialize(space.dna_from_json(t.dna))
        assert program.canonical() == seeds[name].canonical(), f"trial {t.number} is not {name}"
        assert t.values == (program_size(seeds[name]),)
    for t in trials[2:]:
        program = space.materialize(space.dna_from_json(t.dna))
        assert all(program.canonical() != p.canonical() for p in seeds.values())
    assert {t.state for t in trials} <= SCORED
    assert not study.enqueue("adam"), "enqueue must refuse a candidate the study already tried"


def test_enqueue_from_experiment_file(tmp_path: Path) -> None:
    """An experiment file's `enqueue` of NB201 strings makes those cells the first trials."""
    cells = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|",
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    ]
    path = tmp_path / "exp.yaml"
    lines = [
        "study: nb201_warm",
        f"storage: {url_of(tmp_path)}",
        "seed: 4",
        "space: nas_bench_201",
        "evaluator:",
        "  name: nas_bench_201_tabular",
        f"  args: {{path: '{NB201_TABLE}'}}",
        "searcher:",
        "  name: regularized_evolution",
        "  args: {population_size: 5, tournament_size: 2}",
        "budget: {trials: 6}",
        "cache: {enabled: false}",
        "enqueue:",
        *[f"  - '{c}'" for c in cells],
    ]
    path.write_text("\n".join(lines) + "\n")
    exp = load_experiment(path)
    assert exp.enqueue == cells
    study = open_study(exp, path)
    study.optimize(n_trials=exp.budget.total_trials)
    trials = study.trials()
    archs = [study.space.materialize(study.space.dna_from_json(t.dna)).to_string() for t in trials]
    assert archs[:3] == cells
    assert all(cell_from_string(a).to_string() == a for a in archs)
    assert {t.state for t in trials} == {"COMPLETE"}

    # Re-opening the file resumes: the enqueued cells are already trials, so none is re-proposed.
    again = open_study(load_experiment(path), path)
    again.optimize(n_trials=3)
    archs = [
        again.space.materialize(again.space.dna_from_json(t.dna)).to_string()
        for t in again.trials()
    ]
    assert len(archs) == 9 and all(archs.count(c) == 1 for c in cells), archs


# ---- 5. every searcher through the study -------------------------------------------------------
def mixed_space() -> Space:
    """Categorical, log-float, int-like choice and float decision points together."""
    return Space(
        pg.Dict(
            opt=pg.oneof(["sgd", "adam", "rmsprop"]),
            lr=pg.floatv(1e-4, 1e-1, scale="log"),
            depth=pg.oneof([1, 2, 3, 4]),
            dropout=pg.floatv(0.0, 0.5),
        )
    )


def mixed_score(c: Any) -> float:
    """Best near adam, lr = 1e-2.5, depth 3, dropout 0.1."""
    bonus = {"sgd": 0.0, "adam": 1.0, "rmsprop": 0.5}[c.opt]
    return bonus - (math.log10(c.lr) + 2.5) ** 2 - 0.2 * (c.depth - 3) ** 2 - (c.dropout - 0.1) ** 2


ALL_SEARCHERS = {
    "tpe": {"n_startup_trials": 5},
    "gp": {"n_startup_trials": 10},  # GP fits cost ~0.5 s each: keep them few
    "cmaes": {},
    "qmc": {},
    "random": {},
    "regularized_evolution": {"population_size": 5, "tournament_size": 2},
    "hill_climb": {"batch": 3},
    "nsga2": {"population_size": 5},
}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n == "gp" else n for n in ALL_SEARCHERS],
)  # gp: importing torch plus a few GP fits take ~5 s on 2 cores
def test_every_searcher_runs_through_study(tmp_path: Path, name: str) -> None:
    """15 trials on a mixed space with the cache on: only COMPLETE/CACHED, a finite best."""
    space = mixed_space()
    if name == "nsga2":
        evaluator = FunctionEvaluator(
            lambda c: (mixed_score(c), c.depth), objectives=("s", "depth")
        )
        dirs: list[str] | None = ["maximize", "minimize"]
    else:
        evaluator, dirs = FunctionEvaluator(mixed_score), None
    study = Study.create(
        f"all_{name}", space=space, evaluator=evaluator, searcher=name,
        searcher_args=ALL_SEARCHERS[name], storage=url_of(tmp_path), directions=dirs, seed=11,
        cache={"enabled": True},
    )  # fmt: skip
    study.optimize(n_trials=15)
    trials = study.trials()
    assert len(trials) == 15
    assert {t.state for t in trials} <= SCORED, [(t.number, t.state, t.error) for t in trials]
    assert all(t.functional_hash for t in trials), "cache on: every trial is hashed"
    best = study.best_trial
    assert best.values is not None and all(math.isfinite(v) for v in best.values)
    stats = study.stats()
    assert stats.proposals == 15 and stats.complete + stats.cached == 15


# ---- 6. several proposals pending at once ------------------------------------------------------
class ThreadExecutor(Executor):
    """Runs evaluations on a thread pool of `max_workers` (a cheap parallel executor for tests).

    The first evaluation waits (up to 2 s) for a second one to start, so a loop that launches
    several trials before waiting shows an overlap (`peak >= 2`) regardless of machine speed, and a
    loop that waits for each trial before launching the next shows none.
    """

    def __init__(self, max_workers: int = 3):
        self.max_workers = max_workers
        self.pool = cf.ThreadPoolExecutor(max_workers, thread_name_prefix="test-eval")
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._overlap = threading.Event()

    def submit(
        self,
        evaluator: Any,
        candidate: Any,
        number: int,
        timeout_s: float | None = None,
        should_prune: ShouldPrune | None = None,
    ) -> cf.Future[Outcome]:
        """Evaluate on the pool, counting how many run at once."""

        def job() -> Outcome:
            with self._lock:
                self.running += 1
                self.peak = max(self.peak, self.running)
                if self.running >= 2:
                    self._overlap.set()
            self._overlap.wait(timeout=2.0)
            try:
                return run_evaluation(evaluator, candidate, number, should_prune)
            finally:
                with self._lock:
                    self.running -= 1

        return self.pool.submit(job)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool (what a real executor does on shutdown)."""
        self.pool.shutdown(wait=wait)


class PendingSpy:
    """Wraps a searcher's ask/tell to record which proposals were outstanding together."""

    def __init__(self, searcher: Any):
        self.pending: dict[int, str] = {}
        self.snapshots: list[list[str]] = []
        ask, tell = searcher.ask, searcher.tell

        def spy_ask(number: int) -> Proposal:
            proposal = ask(number)
            self.pending[number] = dna_key(proposal.dna)
            self.snapshots.append(list(self.pending.values()))
            return proposal

        def spy_tell(proposal: Proposal, feedback: Feedback) -> None:
            self.pending.pop(proposal.number, None)
            tell(proposal, feedback)

        searcher.ask, searcher.tell = spy_ask, spy_tell


def small_space() -> Space:
    """12 DNA: without de-duplication, pending proposals would often collide."""
    return Space(pg.Dict(a=pg.oneof([1, 2, 3, 4]), b=pg.oneof(["u", "v", "w"])), name="small12")


def small_score(c: Any) -> float:
    """A score on `small_space` after a short nap (evaluations take time)."""
    time.sleep(0.05)
    return float(c.a) + {"u": 0.0, "v": 0.5, "w": 0.2}[c.b]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("tpe", {"n_startup_trials": 3}),
        ("regularized_evolution", {"population_size": 3, "tournament_size": 2}),
        ("random", {}),
    ],
)
def test_pending_proposals_differ(tmp_path: Path, name: str, args: dict[str, Any]) -> None:
    """With 3 workers the searcher has 3 proposals outstanding at once, all different DNA."""
    executor = ThreadExecutor(max_workers=3)
    study = Study.create(
        f"pending_{name}", space=small_space(), evaluator=FunctionEvaluator(small_score),
        searcher=name, searcher_args=args, storage=url_of(tmp_path), executor=executor, seed=2,
    )  # fmt: skip
    spy = PendingSpy(study.searcher)
    study.optimize(n_trials=10)
    assert max(len(s) for s in spy.snapshots) == 3, spy.snapshots
    assert executor.peak >= 2, "the loop should launch a second trial before the first ends"
    for snap in spy.snapshots:
        assert len(set(snap)) == len(snap), f"{name} proposed the same DNA twice while pending"
    trials = study.trials()
    assert len(trials) == 10 and {t.state for t in trials} <= SCORED
    if name != "regularized_evolution":  # evolution only de-duplicates within a few mutations
        assert len({key_of(t) for t in trials}) == 10, f"{name} repeated a DNA on a 12-DNA space"


def test_given_executor_survives_a_second_optimize(tmp_path: Path) -> None:
    """An executor passed as an object belongs to the caller: optimize must not shut it down."""
    executor = ThreadExecutor(max_workers=2)
    study = Study.create(
        "twice", space=small_space(), evaluator=FunctionEvaluator(small_score), searcher="random",
        storage=url_of(tmp_path), executor=executor,
    )  # fmt: skip
    study.optimize(n_trials=2)
    try:
        study.optimize(n_trials=2)
    except RuntimeError as e:
        pytest.fail(
            "Study.close_executor (hashtune/study.py) shut down the executor the caller passed "
            f"in, so a second optimize() cannot submit to it: {e!r}. Its docstring says a given "
            "executor is left to its owner; only shut down executors the study built by name."
        )
    states = [(t.number, t.state, (t.error or "").splitlines()[-1:]) for t in study.trials()]
    assert [s for _, s, _ in states] == ["COMPLETE"] * 4, (
        "Study.close_executor shut down an executor the caller passed in "
        f"(its docstring says a given one is left to its owner): {states}"
    )
    executor.shutdown()

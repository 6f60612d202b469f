"""The functional-equivalence cache as the Study loop uses it.

Covers hashtune/loop.py, hashing/cache_policy.py and store/cache_ops.py together.

Each test forces duplicate proposals with `enqueue` on a tiny space, so whether a trial is paid or
served from the cache is certain: symbolic candidates (`pg.Dict(x=pg.oneof(...))`, no executable
form, symbolic hash) and NAS-Bench-201 cells (functional hash: syntactically different cells that
compute the same function share a hash). Evaluators count their calls so "evaluated once" is
checked directly, not only through trial states.

The last tests ("waiting on a peer: edge cases") pin down bugs found in hashtune/loop.py; their
assertion messages say what is wrong and how to fix it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pyglove as pg
import pytest

from hashtune import CacheConfig, FunctionEvaluator, Study
from hashtune.search.base import Feedback, Proposal
from hashtune.search.random_search import RandomSearch
from hashtune.spaces.base import Space
from hashtune.spaces.nas_bench_201 import (
    EDGES,
    OPS,
    Cell,
    cell_from_string,
    functional_form,
    nas_bench_201_space,
)
from hashtune.store import Store

#: Folded into every evaluator's config: this run's task fingerprints collide with no earlier run's
#: (the cache table is shared by every study in a database).
RUN = uuid.uuid4().hex[:12]


# -- helpers ----------------------------------------------------------------------------------


class Tally:
    """A scoring function that counts its calls (thread-safe) and can sleep, add noise or fail.

    `score(candidate)` returns `base(candidate) + (call number if noisy)`; with `fail_first` the
    first call raises. Its call counter and lock are part of the bound method `tally.score`'s
    content, so studies here declare their task (`task=`) to share the cache on purpose.
    """

    def __init__(
        self,
        base: Callable[[Any], float] | None = None,
        *,
        sleep_s: float = 0.0,
        noisy: bool = False,
        fail_first: bool = False,
    ):
        self.base = base or (lambda c: 10.0 * float(c["x"]) + 1.0)
        self.sleep_s = sleep_s
        self.noisy = noisy
        self.fail_first = fail_first
        self.calls = 0
        self._lock = threading.Lock()

    def score(self, candidate: Any) -> float:
        """Count the call, then sleep / fail / score as configured."""
        with self._lock:
            self.calls += 1
            n = self.calls
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if self.fail_first and n == 1:
            raise RuntimeError("first evaluation fails on purpose")
        return float(self.base(candidate)) + (n if self.noisy else 0.0)


class SpySearcher(RandomSearch):
    """Random search that records every `tell` (trial number → feedback)."""

    name = "spy"

    def __init__(self, space: Space, seed: int = 0):
        super().__init__(space, ("maximize",), seed)
        self.told: dict[int, Feedback] = {}

    def tell(self, proposal: Proposal, feedback: Feedback) -> None:
        self.told[proposal.number] = feedback
        super().tell(proposal, feedback)


def tiny_space() -> Space:
    """Three symbolic candidates, no executable form: the cache falls back to a symbolic hash."""
    return Space(pg.Dict(x=pg.oneof([0, 1, 2])), name="tiny")


def evaluator(tally: Tally, task: str = "a") -> FunctionEvaluator:
    """A FunctionEvaluator on `tally`, its task fingerprint unique to this run and `task`."""
    return FunctionEvaluator(tally.score, run=RUN, task=task)


def study_name(label: str) -> str:
    """A study name unique to this run (PostgreSQL databases may be shared)."""
    return f"{label}-{RUN}-{uuid.uuid4().hex[:6]}"


def make_study(
    url: str | Store,
    tally: Tally,
    *,
    name: str | None = None,
    task: str = "a",
    space: Space | None = None,
    cache: dict[str, Any] | None = None,
    load_if_exists: bool = False,
) -> Study:
    """A study on `space` (default: tiny) scored by `tally`, proposing with a SpySearcher."""
    space = space if space is not None else tiny_space()
    return Study.create(
        name or study_name("s"),
        space=space,
        evaluator=evaluator(tally, task),
        searcher=SpySearcher(space),
        storage=url,
        cache=cache,
        load_if_exists=load_if_exists,
        task=f"{RUN}-{task}",
    )


def enqueue_all(study: Study, xs: list[int]) -> None:
    """Have the study propose `pg.Dict(x=x)` for each x in order, duplicates included.

    `skip_if_exists=False`: by default `Study.enqueue` refuses a DNA already tried or queued, and
    these tests need the same DNA proposed again.
    """
    template = pg.template(study.space.hyper_value)
    for x in xs:
        assert study.enqueue(template.encode(pg.Dict(x=x)), skip_if_exists=False)


def by_number(study: Study) -> dict[int, Any]:
    """The study's trials keyed by trial number (numbers start at 0)."""
    return {t.number: t for t in study.trials()}


def run_together(workers: list[Study], n_trials: int, join_s: float = 60.0) -> list[str]:
    """Run `optimize(n_trials)` of each worker in its own thread, started together; problems seen.

    Returns one line per worker still running after `join_s` or per exception raised (empty: ok).
    """
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(w: Study) -> None:
        try:
            start.wait(timeout=30)
            w.optimize(n_trials=n_trials)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=join_s)
    stuck = [f"{th.name} still running after {join_s} s" for th in threads if th.is_alive()]
    return stuck + [f"raised {e!r}" for e in errors]


@pytest.fixture
def cleanup() -> Iterator[list[Study]]:
    """Studies appended here are deleted and their stores closed after the test."""
    studies: list[Study] = []
    yield studies
    for st in studies:
        try:
            if st.store.studies.get(st.name) is not None:
                st.store.studies.delete(st.name)
        finally:
            st.store.close()


def same_form_cells() -> tuple[Cell, Cell]:
    """Two NB201 cells with different ops but equal `functional_form` (a dead edge changed).

    Base: the output is avg_pool(x) over edge 0->3; node 1 (fed by 0->1) feeds nothing, so edge
    0->1 is dead and changing its op cannot change the function. No conv: the hash compiles fast.
    """
    base = cell_from_string("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")
    for k in range(len(EDGES)):
        for op in OPS:
            ops = list(base.ops)
            if ops[k] == op:
                continue
            ops[k] = op
            if functional_form(ops) == base.functional_form():
                return base, Cell(*ops)
    raise AssertionError("no dead-edge variant found for the base cell")


def syntactic_score(cell: Cell) -> float:
    """A score that depends on the cell's syntax, so equal functions score differently if paid."""
    return float(sum((k + 1) * OPS.index(op) for k, op in enumerate(cell.ops)))


# -- 1. a hit is CACHED, points at its payer, and the searcher is told the cached score --------


def test_symbolic_duplicate_is_cached_with_pointer_and_searcher_feedback(sqlite_url: str) -> None:
    """x=1 twice: the 2nd is CACHED from the 1st with its values; the searcher hears CACHED."""
    tally = Tally()
    study = make_study(sqlite_url, tally)
    enqueue_all(study, [1, 2, 1])
    study.optimize(n_trials=3)

    t = by_number(study)
    assert [t[n].state for n in (0, 1, 2)] == ["COMPLETE", "COMPLETE", "CACHED"], t
    assert tally.calls == 2, f"x=1 was evaluated twice ({tally.calls} calls for 2 functions)"
    assert t[0].functional_hash and t[0].functional_hash.startswith("sym-")
    assert t[2].functional_hash == t[0].functional_hash != t[1].functional_hash
    assert t[2].cached_from_trial_id == t[0].id
    assert t[2].values == t[0].values == (11.0,)
    assert t[2].task == study.task

    told = study.searcher.told
    assert told[0] == Feedback("COMPLETE", (11.0,))
    assert told[2].state == "CACHED", f"searcher was told {told[2]!r} for the cache hit"
    assert told[2].values == (11.0,), "searcher was not told the cached score"

    entry = study.store.cache.lookup(study.task, t[0].functional_hash, version=study.cache.version)
    assert entry is not None and entry.status == "READY"
    assert (entry.count, entry.mean, entry.first_trial_id) == (1, (11.0,), t[0].id)


def test_nb201_functionally_equal_cells_share_one_evaluation(sqlite_url: str) -> None:
    """Two syntactically different but functionally equal cells: the second is served the first's
    score (which differs from what its own syntax would have scored)."""
    a, b = same_form_cells()
    assert a.ops != b.ops and a.functional_form() == b.functional_form()
    assert syntactic_score(a) != syntactic_score(b)

    tally = Tally(syntactic_score)
    study = make_study(sqlite_url, tally, space=nas_bench_201_space())
    assert study.enqueue(a) and study.enqueue(b)
    study.optimize(n_trials=2)

    t = by_number(study)
    assert t[0].dna != t[1].dna
    assert t[0].functional_hash is not None and not t[0].functional_hash.startswith("sym-")
    assert t[1].functional_hash == t[0].functional_hash, "equal functions got different hashes"
    assert (t[0].state, t[1].state) == ("COMPLETE", "CACHED")
    assert tally.calls == 1
    assert t[1].cached_from_trial_id == t[0].id
    assert t[1].values == t[0].values == (syntactic_score(a),)
    assert study.searcher.told[1] == Feedback("CACHED", (syntactic_score(a),))


# -- 2. in-flight dedup: two workers, one paid evaluation --------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_concurrent_workers_evaluate_a_function_once(
    storage_url: str, cleanup: list[Study]
) -> None:
    """Two workers (own Study object and Store each) propose x=1 at the same time with a 1 s
    evaluator: one pays, the other waits for it and is served CACHED."""
    tally = Tally(sleep_s=1.0)  # shared by both workers' evaluators: counts calls across them
    name = study_name("concurrent")
    workers = [make_study(storage_url, tally, name=name, load_if_exists=True) for _ in range(2)]
    cleanup.append(workers[0])
    cleanup.append(workers[1])
    assert workers[0].task == workers[1].task and workers[0].worker != workers[1].worker
    for w in workers:
        enqueue_all(w, [1])

    t0 = time.monotonic()
    problems = run_together(workers, 1)
    assert not problems, problems

    trials = workers[0].trials()
    states = sorted(t.state for t in trials)
    assert states == ["CACHED", "COMPLETE"], f"trials {[(t.number, t.state) for t in trials]}"
    assert tally.calls == 1, f"x=1 was evaluated {tally.calls} times by two concurrent workers"
    paid = next(t for t in trials if t.state == "COMPLETE")
    served = next(t for t in trials if t.state == "CACHED")
    assert paid.worker != served.worker
    assert served.cached_from_trial_id == paid.id
    assert served.values == paid.values == (11.0,)
    # served after waiting for the payer, not before its evaluation finished
    assert served.finished_at >= paid.finished_at
    assert served.duration_s is not None and served.duration_s >= 0.5, served.duration_s
    assert time.monotonic() - t0 < 30
    entry = workers[0].store.cache.lookup(
        workers[0].task, paid.functional_hash, version=workers[0].cache.version
    )
    assert entry is not None and (entry.status, entry.count) == ("READY", 1)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_waiting_worker_evaluates_itself_when_the_payer_fails(sqlite_url: str) -> None:
    """The worker that pays fails (slowly); the peer that waited for it then evaluates itself."""
    tally = Tally(sleep_s=1.0, fail_first=True)
    name = study_name("peer-fails")
    workers = [make_study(sqlite_url, tally, name=name, load_if_exists=True) for _ in range(2)]
    for w in workers:
        enqueue_all(w, [1])
    problems = run_together(workers, 1)
    assert not problems, f"the waiting worker never evaluated after the payer failed: {problems}"
    states = sorted(t.state for t in workers[0].trials())
    assert states == ["COMPLETE", "FAILED"], states
    assert tally.calls == 2
    for w in workers:
        w.store.close()


# -- 3. reevaluate k: noisy task, k paid evaluations, then the mean ---------------------------


def test_reevaluate_pays_k_times_then_serves_the_mean(sqlite_url: str) -> None:
    """cache.reevaluate=3, noise = call number (11+1, 11+2, 11+3): proposals 4 and 5 get 13."""
    tally = Tally(noisy=True)
    study = make_study(sqlite_url, tally, cache={"reevaluate": 3})
    enqueue_all(study, [1] * 5)
    study.optimize(n_trials=5)

    t = by_number(study)
    assert [t[n].state for n in range(5)] == ["COMPLETE"] * 3 + ["CACHED"] * 2, t
    assert tally.calls == 3
    assert [t[n].values for n in (0, 1, 2)] == [(12.0,), (13.0,), (14.0,)]
    for n in (3, 4):
        assert t[n].values == (13.0,), f"trial {n} was served {t[n].values}, not the mean of 3"
        assert t[n].cached_from_trial_id == t[0].id
        assert t[n].user_attrs.get("cache_count") == 3
        assert study.searcher.told[n] == Feedback("CACHED", (13.0,))
    entry = study.store.cache.lookup(study.task, t[0].functional_hash, version=study.cache.version)
    assert entry is not None and entry.status == "READY"
    assert entry.count == 3
    assert entry.mean == pytest.approx((13.0,))
    assert entry.variance == pytest.approx((1.0,))  # sample variance of 12, 13, 14
    assert study.stats().evaluations_saved == 2


def test_reevaluate_config_is_validated() -> None:
    """Nonsensical cache settings are refused up front."""
    with pytest.raises(ValueError, match="reevaluate"):
        CacheConfig(reevaluate=0)
    with pytest.raises(ValueError, match="audit_fraction"):
        CacheConfig(audit_fraction=1.5)


# -- 4. shared across studies of one task, never across tasks ----------------------------------


def test_cache_is_shared_across_studies_of_a_task_not_across_tasks(sqlite_url: str) -> None:
    """A second study on the same task is served from the first study's trial; a study whose
    evaluator config differs (another task fingerprint) pays again."""
    store = Store(sqlite_url)
    tally = Tally()
    first = make_study(store, tally)
    enqueue_all(first, [1])
    first.optimize(n_trials=1)
    payer = first.trials()[0]
    assert payer.state == "COMPLETE" and tally.calls == 1

    second = make_study(store, tally)
    assert second.task == first.task and second.study_id != first.study_id
    enqueue_all(second, [1])
    second.optimize(n_trials=1)
    (hit,) = second.trials()
    assert hit.state == "CACHED", "the same function on the same task was evaluated again"
    assert hit.cached_from_trial_id == payer.id
    assert hit.values == payer.values
    assert tally.calls == 1

    other = make_study(store, tally, task="b")
    assert other.task != first.task
    enqueue_all(other, [1])
    other.optimize(n_trials=1)
    (fresh,) = other.trials()
    assert fresh.state == "COMPLETE", "a score was served across different tasks"
    assert fresh.cached_from_trial_id is None
    assert fresh.functional_hash == payer.functional_hash  # same function, different task
    assert tally.calls == 2
    store.close()


def test_cache_shared_across_studies_on_both_backends(
    storage_url: str, cleanup: list[Study]
) -> None:
    """The cross-study hit through a URL (new Store per study) on SQLite and PostgreSQL."""
    tally = Tally()
    first = make_study(storage_url, tally)
    cleanup.append(first)
    enqueue_all(first, [2, 2])
    first.optimize(n_trials=2)
    second = make_study(storage_url, tally)
    cleanup.append(second)
    enqueue_all(second, [2])
    second.optimize(n_trials=1)
    payer = by_number(first)[0]
    assert [t.state for t in first.trials()] == ["COMPLETE", "CACHED"]
    (hit,) = second.trials()
    assert (hit.state, hit.cached_from_trial_id, hit.values) == ("CACHED", payer.id, (21.0,))
    assert tally.calls == 1


# -- 5. audits -------------------------------------------------------------------------------


def test_audit_fraction_one_reevaluates_every_hit_and_records_it(sqlite_url: str) -> None:
    """audit_fraction=1: each hit is evaluated again and audited, yet still served CACHED."""
    tally = Tally(noisy=True)  # 1st call 12, 2nd 13, 3rd 14: fresh differs from cached
    study = make_study(sqlite_url, tally, cache={"audit_fraction": 1.0})
    enqueue_all(study, [1, 1, 1])
    study.optimize(n_trials=3)

    t = by_number(study)
    assert [t[n].state for n in (0, 1, 2)] == ["COMPLETE", "CACHED", "CACHED"], t
    assert tally.calls == 3, "an audited hit was not re-evaluated"
    for n in (1, 2):
        assert t[n].values == (12.0,), "an audited hit must be served the cached score"
        assert t[n].cached_from_trial_id == t[0].id
        assert t[n].user_attrs.get("audit") is True
        assert study.searcher.told[n] == Feedback("CACHED", (12.0,))
    assert t[1].user_attrs.get("audit_fresh") == [13.0]

    audits = study.store.cache.audits(study.task)
    assert [(a.trial_id, a.cached, a.fresh) for a in audits] == [
        (t[1].id, (12.0,), (13.0,)),
        (t[2].id, (12.0,), (14.0,)),
    ]
    assert [a.abs_diff for a in audits] == pytest.approx([1.0, 2.0])
    assert all(a.functional_hash == t[0].functional_hash for a in audits)
    assert study.store.cache.audits("no-such-task") == []
    entry = study.store.cache.lookup(study.task, t[0].functional_hash, version=study.cache.version)
    assert entry is not None and entry.count == 1, "audit evaluations must not enter the mean"
    stats = study.stats()
    assert stats.cached == 2 and stats.evaluations_saved == 0, "audited hits were paid for"


def test_no_audits_by_default(sqlite_url: str) -> None:
    """audit_fraction=0 (default): hits are served without evaluating and nothing is audited."""
    tally = Tally()
    study = make_study(sqlite_url, tally)
    enqueue_all(study, [0, 0, 0])
    study.optimize(n_trials=3)
    assert tally.calls == 1
    assert study.store.cache.audits(study.task) == []


# -- 6. a failed evaluation releases its claim -------------------------------------------------


@pytest.mark.timeout(60)
def test_failed_evaluation_releases_its_claim(sqlite_url: str) -> None:
    """The first evaluation of x=1 raises; the next proposal of x=1 evaluates it (no deadlock)."""
    tally = Tally(fail_first=True)
    # Short wait timeout: a claim that was never released makes the loop wait and re-wait; the
    # pytest timeout then fails the test instead of hanging for an hour.
    study = make_study(sqlite_url, tally, cache={"wait_timeout_s": 2.0})
    enqueue_all(study, [1, 1, 1])
    t0 = time.monotonic()
    study.optimize(n_trials=3)
    elapsed = time.monotonic() - t0

    t = by_number(study)
    assert [t[n].state for n in (0, 1, 2)] == ["FAILED", "COMPLETE", "CACHED"], t
    assert "first evaluation fails" in (t[0].error or "")
    assert tally.calls == 2
    assert t[2].cached_from_trial_id == t[1].id, "the failed trial must not be a cache source"
    assert study.searcher.told[0].state == "FAILED" and study.searcher.told[0].values is None
    entry = study.store.cache.lookup(study.task, t[0].functional_hash, version=study.cache.version)
    assert entry is not None and (entry.status, entry.count, entry.first_trial_id) == (
        "READY",
        1,
        t[1].id,
    )
    assert elapsed < 2.0, f"the retry waited on the released claim ({elapsed:.1f} s)"


# -- 7. stats ---------------------------------------------------------------------------------


def test_stats_count_cached_trials_unique_functions_and_savings(sqlite_url: str) -> None:
    """Six proposals of three functions: 3 paid, 3 cached, 3 unique, 3 evaluations saved."""
    tally = Tally(sleep_s=0.02)
    study = make_study(sqlite_url, tally)
    enqueue_all(study, [0, 1, 0, 2, 1, 0])
    study.optimize(n_trials=6)

    stats = study.stats()
    assert stats.proposals == 6
    assert stats.complete == 3
    assert stats.cached == 3
    assert stats.failed == stats.pruned == stats.running == 0
    assert stats.unique_functions == 3
    assert stats.evaluations_saved == 3
    assert tally.calls == 3
    assert stats.eval_seconds_paid >= 3 * 0.02
    assert stats.eval_seconds_saved >= 3 * 0.02, stats
    # top(k) lists one row per function
    assert len(study.top(10)) == 3
    assert study.best_trial.values == (21.0,)


# -- 8. cache disabled ------------------------------------------------------------------------


def test_cache_disabled_pays_for_every_duplicate(sqlite_url: str) -> None:
    """enabled=False: no hashing, no cache rows, every proposal evaluated."""
    tally = Tally()
    study = make_study(sqlite_url, tally, cache={"enabled": False})
    enqueue_all(study, [1, 1, 1])
    study.optimize(n_trials=3)

    trials = study.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 3
    assert tally.calls == 3
    assert all(t.functional_hash is None and t.cached_from_trial_id is None for t in trials)
    stats = study.stats()
    assert (stats.cached, stats.evaluations_saved, stats.complete) == (0, 0, 3)

    # the same function with the cache on afterwards finds no entry left by the disabled study
    on = make_study(sqlite_url, tally)
    enqueue_all(on, [1])
    on.optimize(n_trials=1)
    assert on.trials()[0].state == "COMPLETE"
    assert tally.calls == 4


# -- waiting on a peer: edge cases ----------------------------------------------------------


def run_in_thread(study: Study, n_trials: int) -> tuple[threading.Thread, list[BaseException]]:
    """Start `study.optimize(n_trials)` in a daemon thread; returns it and a list of its errors."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            study.optimize(n_trials=n_trials)
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_waiter_on_a_noisy_task_is_not_served_before_k_evaluations(sqlite_url: str) -> None:
    """reevaluate=3, two workers propose x=1 together: the waiter must not be served a mean of a
    single evaluation; it is the function's 2nd proposal, so it must be paid too."""
    tally = Tally(sleep_s=1.0, noisy=True)
    name = study_name("reeval-wait")
    cache = {"reevaluate": 3}
    workers = [
        make_study(sqlite_url, tally, name=name, load_if_exists=True, cache=cache) for _ in range(2)
    ]
    for w in workers:
        enqueue_all(w, [1])
    problems = run_together(workers, 1, join_s=30)
    assert not problems, problems
    trials = workers[0].trials()
    entry = workers[0].store.cache.lookup(
        workers[0].task, trials[0].functional_hash, version=workers[0].cache.version
    )
    assert entry is not None
    served = [(t.number, t.user_attrs.get("cache_count")) for t in trials if t.state == "CACHED"]
    assert not served, (
        f"BUG hashtune/loop.py OptimizeLoop._settle: a proposal that waited for a peer was served "
        f"CACHED from an entry with count {served[0][1]} < reevaluate=3 (entry count "
        f"{entry.count}, {tally.calls} paid); a READY entry below `reevaluate` must be re-routed "
        f"(decide again -> evaluate), not served"
    )
    assert [t.state for t in trials] == ["COMPLETE", "COMPLETE"]
    assert tally.calls == entry.count == 2


@pytest.mark.timeout(60)
def test_wait_timeout_bounds_the_wait_for_a_peer_that_never_finishes(sqlite_url: str) -> None:
    """A claim held by a peer that never reports (crashed worker of another study): after
    `wait_timeout_s` the trial must stop waiting and evaluate the function itself."""
    tally = Tally()
    study = make_study(sqlite_url, tally, cache={"wait_timeout_s": 0.5})
    fhash = study.cache.key(pg.Dict(x=1))
    assert fhash is not None
    ghost = 10**9  # the trial id of the peer that will never finish
    assert study.store.cache.claim(study.task, fhash, ghost, version=study.cache.version)
    enqueue_all(study, [1])
    t0 = time.monotonic()
    thread, errors = run_in_thread(study, 1)
    try:
        thread.join(timeout=3.0)
        stuck = thread.is_alive()
    finally:
        study.store.cache.release(
            study.task, fhash, ghost, version=study.cache.version
        )  # unblocks a stuck loop
        thread.join(timeout=10.0)
    assert not stuck, (
        "BUG hashtune/loop.py OptimizeLoop._settle + EquivalenceCache.decide: `wait_timeout_s`=0.5 "
        "is not honoured; after the wait times out the loop decides again, `cache_claim` refuses "
        "(the peer's claim is only stale after 3600 s) and it waits again, for up to an hour. "
        "After a timed-out wait the trial should evaluate (e.g. claim with "
        "stale_after_s=wait_timeout_s, or evaluate without a claim)"
    )
    assert not errors, errors
    assert time.monotonic() - t0 < 3.0
    (trial,) = study.trials()
    assert trial.state == "COMPLETE" and tally.calls == 1


class AskFails(SpySearcher):
    """Fails its second `ask`, interrupting `optimize` while the first proposal still waits."""

    def ask(self, number: int) -> Proposal:
        if number == 1:
            raise RuntimeError("searcher broke")
        return super().ask(number)


@pytest.mark.timeout(60)
def test_interrupted_optimize_leaves_no_thread_waiting_on_a_peer(sqlite_url: str) -> None:
    """optimize raising while a trial waits for a peer: the trial is FAILED and the wait stops
    (a waiter left polling keeps the interpreter from exiting for up to `wait_timeout_s`)."""
    tally = Tally()
    space = tiny_space()
    study = Study.create(
        study_name("interrupt"),
        space=space,
        evaluator=evaluator(tally),
        searcher=AskFails(space),
        storage=sqlite_url,
    )
    fhash = study.cache.key(pg.Dict(x=1))
    assert fhash is not None
    ghost = 10**9
    assert study.store.cache.claim(study.task, fhash, ghost, version=study.cache.version)
    enqueue_all(study, [1])
    try:
        with pytest.raises(RuntimeError, match="searcher broke"):
            study.optimize(n_trials=3)
        waiting = study.trials()[0]
        assert waiting.state == "INTERRUPTED" and (waiting.error or "").startswith("interrupted")
        time.sleep(0.5)
        left = [t.name for t in threading.enumerate() if t.name.startswith("hashtune-wait")]
    finally:
        study.store.cache.release(
            study.task, fhash, ghost, version=study.cache.version
        )  # lets a leaked waiter return
    assert not left, (
        f"BUG hashtune/loop.py OptimizeLoop.run: after an interrupted optimize the waiter "
        f"thread(s) {left} still poll cache_wait (wait_timeout_s defaults to 3600 s) and, being "
        "ThreadPoolExecutor workers, block interpreter exit; `_waiters.shutdown(cancel_futures="
        "True)` cannot stop a running wait. Pass the loop's stop event into the wait (e.g. "
        "cache_wait(..., stop=self._stop)) and return None when it is set"
    )


def test_function_evaluators_of_different_functions_are_different_tasks() -> None:
    """Lambdas defined side by side share a qualified name; their code must split the task."""
    from hashtune.evaluators.base import FunctionEvaluator

    def make(k: int):
        return lambda c: c["x"] * k

    f, g = (lambda c: c["x"]), (lambda c: -c["x"])
    assert FunctionEvaluator(f).fingerprint() != FunctionEvaluator(g).fingerprint()
    assert FunctionEvaluator(make(2)).fingerprint() != FunctionEvaluator(make(3)).fingerprint()
    assert FunctionEvaluator(make(2)).fingerprint() == FunctionEvaluator(make(2)).fingerprint()
    two = FunctionEvaluator(f, objectives=("a", "b"))
    assert two.fingerprint() != FunctionEvaluator(f).fingerprint(), "objectives are part of it"

"""The trial's hot path: two commits per evaluated trial, each trial whole and committed before
the searcher is told, nothing left behind (store/trial_path.py, hashtune/loop.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyglove as pg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

import hashtune as ht
from hashtune.evaluators.base import FunctionEvaluator
from hashtune.store import Store, StoreError


def score(c: Any) -> float:
    return c["x"] + 0.1 * c["w"]


class SqlCounter:
    """Statements and commits SQLite itself runs on one file (its trace callback: it also sees
    the statements the hot path sends to the driver directly, store/hot.py)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.statements = self.commits = 0
        self.on = False

    def _connected(self, conn: Any) -> None:
        if conn.engine.url.database == self.path:
            conn.connection.dbapi_connection.set_trace_callback(self._traced)

    def _traced(self, text: str) -> None:
        if not self.on:
            return
        if text.startswith("COMMIT"):
            self.commits += 1
        elif not text.startswith(("ROLLBACK", "PRAGMA")):
            self.statements += 1

    def __enter__(self) -> SqlCounter:
        self.on = True
        event.listen(Engine, "engine_connect", self._connected)
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False
        event.remove(Engine, "engine_connect", self._connected)


def _study(tmp_path: Path, hyper: Any, searcher: str = "random") -> tuple[ht.Study, Path]:
    path = tmp_path / "hot.db"
    study = ht.Study.create(
        "hot", space=ht.Space(hyper, "hot"), evaluator=FunctionEvaluator(score),
        searcher=searcher, storage=f"sqlite:///{path}", seed=0,
        liveness={"heartbeat_s": 600.0},  # no beat during the run: count the trials' SQL only
    )  # fmt: skip
    return study, path


@pytest.mark.parametrize("searcher", ["random", "regularized_evolution", "tpe"])
def test_an_evaluated_trial_costs_two_commits_and_few_statements(
    tmp_path: Path, searcher: str
) -> None:
    study, path = _study(tmp_path, pg.Dict(x=pg.floatv(0.0, 1.0), w=pg.oneof([1, 2, 4])), searcher)
    n = 40
    with SqlCounter(path) as sql:
        study.optimize(n_trials=n)
    trials = study.trials()
    assert [t.number for t in trials] == list(range(n))  # no reservation left behind, no gaps
    assert all(t.state == "COMPLETE" for t in trials)
    # Per trial: begin (BEGIN, proposal, cache claim) and finish (BEGIN, finish number, trial,
    # cache record, peer news, next reservation): 9; a few more per optimize call (the first
    # reservation, dropping the spare); TPE reads its trials once.
    assert sql.commits <= 2 * n + 4, sql.commits
    assert sql.statements <= 9 * n + 30, sql.statements


def test_cache_hits_cost_two_commits_too(tmp_path: Path) -> None:
    study, path = _study(tmp_path, pg.Dict(x=pg.oneof([0.0, 0.5]), w=pg.oneof([1, 2])))
    n = 30
    with SqlCounter(path) as sql:
        study.optimize(n_trials=n)
    states = [t.state for t in study.trials()]
    assert states.count("COMPLETE") == 4 and states.count("CACHED") == n - 4
    assert sql.commits <= 2 * n + 4, sql.commits


def test_each_trial_is_recorded_whole_and_committed_before_the_searcher_is_told(
    tmp_path: Path,
) -> None:
    study, path = _study(tmp_path, pg.Dict(x=pg.floatv(0.0, 1.0), w=pg.oneof([1, 2, 4])))
    other = Store(f"sqlite:///{path}")  # another connection sees only what was committed
    told = study.searcher.tell
    seen: list[Any] = []

    def tell(proposal: Any, feedback: Any) -> None:
        t = other.trials.by_number(study.study_id, proposal.number)
        entry = other.cache.lookup(study.task, t.functional_hash, version=study.cache.version)
        seq = {
            p.number: p.finish_seq
            for p in other.workers.peer_news(study.study_id, 0, None).finished
        }
        seen.append((t, entry, feedback, seq.get(t.number)))
        told(proposal, feedback)

    study.searcher.tell = tell  # type: ignore[method-assign]
    study.optimize(n_trials=15)
    assert len(seen) == 15
    for t, entry, feedback, seq in seen:
        assert t.state == feedback.state == "COMPLETE" and t.values == feedback.values
        assert t.dna is not None and t.candidate and t.params and seq is not None
        assert t.functional_hash and t.task == study.task and t.duration_s is not None
        assert entry is not None and entry.status == "READY" and entry.first_trial_id == t.id
    seqs = [seq for *_, seq in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    other.close()


def test_returned_records_equal_what_a_fresh_read_gives(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'rec.db'}")
    sid = store.studies.create("rec", ["maximize"], {}).id
    parent = store.trials.reserve(sid, worker="w")
    store.trials.begin(parent.id, dna=[0], candidate="p", params={"a": 1})
    store.trials.finish(parent.id, state="COMPLETE", values=[1.0])
    child = store.trials.reserve(sid, worker="w")
    started = store.trials.begin(
        child.id, dna=[1], candidate="c", params={"a": 2}, parents=[parent.number],
        mutation="m", functional_hash="h", task="t", reserve_for="w",
    )  # fmt: skip
    assert started.trial == store.trials.get(child.id)
    assert started.reserved == store.trials.get(started.reserved.id)
    done = store.trials.finish_and_next(
        child.id, state="COMPLETE", values=[2.0], user_attrs={"k": 1},
        intermediate=[(0, 0.5)], news_after=0, news_worker="other",
    )  # fmt: skip
    assert done.trial == store.trials.get(child.id)
    assert [t.number for t in done.news.finished] == [parent.number, child.number]


def test_a_finish_keeps_attributes_set_while_running_and_times_from_the_stored_start(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'attrs.db'}")
    sid = store.studies.create("attrs", ["maximize"], {}).id
    trial = store.trials.reserve(sid, worker="w")
    started = store.trials.begin(trial.id, dna=[0], candidate="c", params={"a": 1})
    store.trials.set_user_attrs(trial.id, {"note": "kept", "k": 0})
    wrong_start = started.trial.started_at - timedelta(hours=1)  # the hint is only a hint
    done = store.trials.finish_and_next(
        trial.id, state="COMPLETE", values=[1.0], user_attrs={"k": 1}, started_at=wrong_start,
    )  # fmt: skip
    fresh = store.trials.get(trial.id)
    assert done.trial == fresh
    assert fresh.user_attrs == {"note": "kept", "k": 1}  # the finisher's value wins
    assert fresh.duration_s is not None and fresh.duration_s < 60.0
    with pytest.raises(StoreError, match="already COMPLETE"):
        store.trials.finish(trial.id, state="FAILED", error="late")
    assert store.trials.get(trial.id) == fresh  # the refused finish changed nothing
    store.close()

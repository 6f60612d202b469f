"""The trial's hot path: two commits per evaluated trial, each trial whole and committed before
the searcher is told, nothing left behind (store/trial_path.py, hashtune/loop.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyglove as pg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

import hashtune as ht
from hashtune.evaluators.base import FunctionEvaluator
from hashtune.store import Store


def score(c: Any) -> float:
    return c["x"] + 0.1 * c["w"]


class SqlCounter:
    """Statements and commits on the engines of one SQLite file (SQLAlchemy events)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.statements = self.commits = 0

    def _mine(self, conn: Any) -> bool:
        return conn.engine.url.database == self.path

    def _statement(self, conn: Any, *_: Any) -> None:
        self.statements += self._mine(conn)

    def _commit(self, conn: Any) -> None:
        self.commits += self._mine(conn)

    def __enter__(self) -> SqlCounter:
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Engine, "commit", self._commit)


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
    # Per trial: begin (proposal + cache claim) and finish (+ cache record, peer news, next
    # reservation); a few more per optimize call (the first reservation, dropping the spare).
    assert sql.commits <= 2 * n + 4, sql.commits
    assert sql.statements <= 14 * n + 20, sql.statements


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

"""Many `hashtune run` processes on one study: start together, distinct streams, survive a
kill -9 of a peer and a dropped database connection, re-queue an interrupted warm start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hashtune.recovery import was_interrupted
from hashtune.store import Store

ROOT = Path(__file__).parent.parent
HASHTUNE = [sys.executable, "-m", "hashtune.cli", "run"]
ENV = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(Path(__file__).parent)}
X = "[0, 1, 2, 3, 4, 0]"  # an NB201 cell every worker is told to evaluate first


def experiment(tmp_path: Path, marks: Path | None = None, **fields: str) -> Path:
    """An NB201 experiment with a sleeping evaluator and a fast heartbeat (stale after 2 s)."""
    lines = {
        "study": "w",
        "seed": "3",
        "space": "nas_bench_201",
        "evaluator": '{name: "hashtune.evaluators.testing:SleepEvaluator", args: {seconds: 0.05}}',
        "searcher": "random",
        "budget": "{trials: 24}",
        "liveness": "{heartbeat_s: 0.25, stale_beats: 8}",
        "cache": "{enabled: false}",  # hashing NB201 cells costs CPU; only the kill test needs it
        **fields,
    }
    if marks is not None:
        marks.mkdir(exist_ok=True)
        lines["evaluator"] = (
            '{name: "marking_evaluator:MarkingSleepEvaluator", '
            f'args: {{marks: "{marks}", seconds: 0.1, first_seconds: 3.0}}}}'
        )
    path = tmp_path / f"exp{len(list(tmp_path.glob('exp*.yaml')))}.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return path


_spawned: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_leftover_workers():
    """A failed test must not leave its workers running on the shared machine."""
    yield
    while _spawned:
        p = _spawned.pop()
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def start(exp: Path, url: str, n: int = 1) -> list[subprocess.Popen]:
    cmd = [*HASHTUNE, str(exp), "--storage", url, "--no-progress"]
    out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=ENV, **out) for _ in range(n)]
    _spawned.extend(procs)
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    """Wait for every process; assert each exited 0; their outputs."""
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, f"worker exited {p.returncode}:\n{out}"
        outs.append(out)
    return outs


def assert_settled(store: Store, total: int) -> list:
    """No trial left unfinished and exactly `total` trials counting toward the budget."""
    trials = store.trials.list(store.studies.require("w").id)
    assert not [t.number for t in trials if t.state in ("RUNNING", "PENDING")]
    assert len([t for t in trials if not was_interrupted(t)]) == total
    return trials


def cell(trial) -> list | None:
    """The trial's DNA values (stored as PyGlove's compact DNA JSON)."""
    return trial.dna["value"] if isinstance(trial.dna, dict) else trial.dna


def distinct(trials: list) -> int:
    return len({json.dumps(t.dna) for t in trials if t.dna is not None})


@pytest.mark.slow
def test_four_workers_started_together_all_succeed_with_distinct_proposals(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/w.db"
    finish(start(experiment(tmp_path), url, 4))
    trials = assert_settled(Store(url), 24)
    # Same seed in every worker (today's main) proposes one stream four times: ~6 distinct.
    assert distinct(trials) >= 22, "each worker must draw from its own stream"
    slots = sorted(w.slot for w in Store(url).workers.list(trials[0].study_id))
    assert slots == [0, 1, 2, 3]


@pytest.mark.slow
@pytest.mark.postgres
def test_sixteen_workers_started_together_on_postgres_all_succeed(postgres_url: str, tmp_path):
    # 16 interpreters starting at once on 2 cores starve threads: a slower heartbeat (dead
    # after 10 s), so no live peer is taken for dead (its trial would then count twice).
    exp = experiment(
        tmp_path, budget="{trials: 32}", liveness="{heartbeat_s: 0.5, stale_beats: 20}"
    )
    finish(start(exp, postgres_url, 16), timeout=240)
    trials = assert_settled(Store(postgres_url), 32)
    assert distinct(trials) >= 29
    # Lowest free slot first; a worker that finished early frees its slot for a late starter
    # (the first ones may spend the budget before the last interpreters are up).
    slots = sorted(w.slot for w in Store(postgres_url).workers.list(trials[0].study_id))
    assert slots == list(range(len(slots))) and 2 <= len(slots) <= 16


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_evaluation_does_not_stall_its_peers(tmp_path: Path) -> None:
    """All four evaluate X first: one claims it (a 3 s evaluation), the others wait on its claim.
    Killing the claimant frees them within a few heartbeats, not after `wait_timeout_s`."""
    url, marks = f"sqlite:///{tmp_path}/w.db", tmp_path / "marks"
    exp = experiment(
        tmp_path, marks, budget="{trials: 12}", enqueue=f"[{X}]", cache="{enabled: true}"
    )
    procs = start(exp, url, 4)
    deadline = time.monotonic() + 240  # four cold starts on a shared 2-core machine
    while not list(marks.iterdir()):
        assert time.monotonic() < deadline, "no worker started evaluating"
        time.sleep(0.05)
    victim_pid = int(next(marks.iterdir()).name.split("-")[0])
    victim = next(p for p in procs if p.pid == victim_pid)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    survivors = [p for p in procs if p is not victim]
    finish(survivors, timeout=60)
    # 3 survivors: startup done, then 11 trials of 0.1 s (one X of 3 s) and a few heartbeats.
    assert time.monotonic() - killed_at < 30
    trials = assert_settled(Store(url), 12)
    x = [t for t in trials if cell(t) == json.loads(X)]
    assert any(t.state == "INTERRUPTED" and was_interrupted(t) for t in x), "the dead one's X"
    assert any(t.state == "COMPLETE" for t in x), "a survivor evaluated X after the kill"


@pytest.mark.slow
@pytest.mark.postgres
def test_the_run_carries_on_when_postgres_terminates_its_connections(postgres_url: str, tmp_path):
    import psycopg

    db = postgres_url.rsplit("/", 1)[1]
    exp = experiment(tmp_path, budget="{trials: 30}", evaluator=(
        '{name: "hashtune.evaluators.testing:SleepEvaluator", args: {seconds: 0.15}}'
    ))  # fmt: skip
    (proc,) = start(exp, postgres_url)
    store = Store(postgres_url)
    kills = 0
    deadline = time.monotonic() + 120
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={db}", autocommit=True) as admin:
        while proc.poll() is None and kills < 4:
            assert time.monotonic() < deadline
            study = store.studies.get("w")
            done = 0 if study is None else len(store.trials.list(study.id, states=("COMPLETE",)))
            if done >= 3 * (kills + 1):
                n = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (db,),
                ).fetchone()[0]
                kills += n > 0
            time.sleep(0.05)
    assert kills >= 2, "the run finished before its connections could be terminated"
    finish([proc])
    trials = assert_settled(store, 30)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))


@pytest.mark.slow
def test_an_interrupted_enqueued_candidate_is_evaluated_after_resume(tmp_path: Path) -> None:
    url, marks = f"sqlite:///{tmp_path}/w.db", tmp_path / "marks"
    exp = experiment(tmp_path, marks, budget="{trials: 4}", enqueue=f"[{X}]")
    (proc,) = start(exp, url)
    deadline = time.monotonic() + 60
    while not list(marks.iterdir()):  # the enqueued X is the first evaluation
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(2.5)  # its heartbeat goes stale (8 beats of 0.25 s)
    (out,) = finish(start(exp, url))
    assert "interrupted trial(s) marked INTERRUPTED" in out
    trials = assert_settled(Store(url), 4)
    x = [t.state for t in trials if cell(t) == json.loads(X)]
    assert x == ["INTERRUPTED", "COMPLETE"], "the warm start is evaluated after the resume"


@pytest.mark.slow
def test_a_permanent_store_error_stops_the_run_cleanly_with_nothing_left_pending(
    tmp_path: Path,
) -> None:
    """The database refuses one write for good (a trigger standing in for a broken disk or a
    revoked permission): a clear message, no traceback, every trial finished or failed."""
    import sqlite3

    url, db = f"sqlite:///{tmp_path}/w.db", tmp_path / "w.db"
    exp = experiment(tmp_path, budget="{trials: 8}")
    Store(url).close()  # the schema, so the trigger can be installed before the run
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE OF state ON ht_trials "
            "WHEN NEW.state = 'COMPLETE' AND NEW.number = 3 "
            "BEGIN SELECT RAISE(ABORT, 'the disk refuses this write'); END"
        )
    (proc,) = start(exp, url)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert "the disk refuses this write" in out and "Traceback" not in out
    trials = Store(url).trials.list(Store(url).studies.require("w").id)
    assert not [t.number for t in trials if t.state in ("RUNNING", "PENDING")]
    assert [t.state for t in trials if t.number == 3] == ["INTERRUPTED"]

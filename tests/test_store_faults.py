"""Store faults of `hashtune run` in real subprocesses: a read-only database, a full disk, a file
corrupted mid-run. Each: non-zero exit, no traceback, a message naming the file and the fix,
nothing stored lost, no trial left PENDING/RUNNING where the store still takes writes.

Read-only is real for root too: as root the command runs as user `nobody` (chmod binds it), and
SQLite's `mode=ro` URL refuses writes for anyone. A full disk is SQLite's own SQLITE_FULL: every
connection of the run is capped by `PRAGMA max_page_count` (tests/capped_run.py).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hashtune.recovery import was_interrupted
from hashtune.store import Store

ROOT = Path(__file__).parent.parent
HASHTUNE = [sys.executable, "-m", "hashtune.cli"]
FIXTURE = Path(__file__).parent / "fixtures" / "nb201_fixture.csv"
EXPERIMENT = f"""\
study: nb
seed: 2
task: nb201-fixture
space: nas_bench_201
evaluator: {{name: nas_bench_201_tabular, args: {{path: {FIXTURE}}}}}
searcher: {{name: regularized_evolution, args: {{population_size: 4, tournament_size: 2}}}}
budget: {{trials: 6}}
"""
NOBODY = 65534


def _cli(*args: str, cwd: Path, user: list[str] | None = None, prefix=HASHTUNE):
    env = {**os.environ, "COLUMNS": "80", "HOME": str(cwd)}
    return subprocess.run(
        [*(user or []), *prefix, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def _study_store(tmp_path: Path) -> tuple[Path, Path]:
    """An experiment file and a store holding its 6 finished trials."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    db = tmp_path / "store" / "s.db"
    db.parent.mkdir()
    out = _cli("run", str(exp), "--storage", f"sqlite:///{db}", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return exp, db


def _no_traceback(out: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in out.stdout + out.stderr, out.stderr


def _unprivileged(tmp_path: Path) -> list[str] | None:
    """The command prefix that runs as user nobody when we are root (None: not root already)."""
    if os.geteuid() != 0:
        return None
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run(
        [*drop, sys.executable, "-c", "import hashtune"], cwd=tmp_path, check=False
    ) if shutil.which("setpriv") else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        pytest.skip("running as root, and cannot run hashtune as user nobody here")
    return drop


@pytest.fixture
def work(tmp_path: Path):
    """tmp_path, or (as root) a folder that user nobody can reach: pytest's is root-only."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="hashtune-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_database_is_refused_by_run_named_with_the_fix(work: Path, what: str) -> None:
    tmp_path = work
    exp, db = _study_store(tmp_path)
    user = _unprivileged(tmp_path)
    for path in (tmp_path, db.parent, db):
        if user is not None:
            os.chown(path, NOBODY, -1)
    for extra in db.parent.glob("s.db-*"):
        extra.unlink()
    db.chmod(0o444)
    if what == "folder":
        db.parent.chmod(0o555)
    before = db.read_bytes()
    try:
        url = f"sqlite:///{db}"
        out = _cli("run", str(exp), "--storage", url, "--trials", "9", cwd=tmp_path, user=user)
        assert out.returncode == 2, out.stderr
        _no_traceback(out)
        message = " ".join(out.stderr.split())
        assert str(db) in message and "read-only" in message and "chmod" in message, message
        assert db.read_bytes() == before
        listed = _cli("studies", "--storage", url, cwd=tmp_path, user=user)  # reading works
        assert listed.returncode == 0 and "nb" in listed.stdout, listed.stderr
        assert db.read_bytes() == before
    finally:
        db.parent.chmod(0o755)


def test_a_read_only_sqlite_url_is_refused_by_run_even_for_root(tmp_path: Path) -> None:
    exp, db = _study_store(tmp_path)
    before = db.read_bytes()
    url = f"sqlite:///file:{db}?mode=ro&uri=true"
    out = _cli("run", str(exp), "--storage", url, "--trials", "9", cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    _no_traceback(out)
    message = " ".join(out.stderr.split())
    assert str(db) in message and "read-only" in message, message
    assert db.read_bytes() == before


def test_a_full_disk_stops_the_run_with_the_fix_and_loses_nothing(tmp_path: Path) -> None:
    exp, db = _study_store(tmp_path)
    url = f"sqlite:///{db}"
    store = Store(url)
    study_id = store.studies.get("nb").id
    before = {t.number: (t.state, t.values, t.finished_at) for t in store.trials.list(study_id)}
    with sqlite3.connect(db) as c:
        pages = c.execute("PRAGMA page_count").fetchone()[0]
    capped = [sys.executable, str(ROOT / "tests" / "capped_run.py"), str(pages + 3)]
    out = _cli("run", str(exp), "--storage", url, "--trials", "300", "--no-progress",
               cwd=tmp_path, prefix=capped)  # fmt: skip
    assert out.returncode == 1, out.stderr
    _no_traceback(out)
    message = " ".join(out.stderr.split())
    assert "database or disk is full" in message and str(db) in message, message
    assert "free space" in message, message
    trials = store.trials.list(study_id)
    assert len(trials) > len(before), "the run got some trials in before the disk filled"
    assert not [t for t in trials if t.state in ("RUNNING", "PENDING")]
    for t in trials:
        if t.number in before:
            assert (t.state, t.values, t.finished_at) == before[t.number]

    out = _cli("run", str(exp), "--storage", url, "--trials", "40", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr  # space freed: the resume finishes the budget
    counted = [t for t in store.trials.list(study_id) if not was_interrupted(t)]
    assert len(counted) == 40


SLOW = """\
study: corrupt
seed: 1
space: nas_bench_201
evaluator: {name: "hashtune.evaluators.testing:SleepEvaluator", args: {seconds: 0.2}}
searcher: {name: regularized_evolution, args: {population_size: 4, tournament_size: 2}}
budget: {trials: 400}
"""


def test_a_database_file_corrupted_mid_run_stops_it_with_the_fix(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(SLOW)
    db = tmp_path / "c.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.Popen(
        [*HASHTUNE, "run", str(exp), "--storage", url, "--no-progress"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.2)
        try:
            with sqlite3.connect(db, timeout=30) as c:
                done = c.execute(
                    "SELECT count(*) FROM ht_trials WHERE state = 'COMPLETE'"
                ).fetchone()
        except sqlite3.OperationalError:  # not created yet
            continue
        if done[0] >= 5:
            break
    with sqlite3.connect(db, timeout=30) as c:  # every page into the file, then garble a third
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    garbage = random.Random(0).randbytes(size // 3)
    with open(db, "r+b") as f:
        f.seek(size // 3)
        f.write(garbage)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in out + err, err
    message = " ".join(err.split())
    assert "malformed" in message and str(db) in message and ".recover" in message, message
    shutil.rmtree(tmp_path, ignore_errors=True)

"""The `hashtune` CLI in subprocesses: run, resume after SIGKILL, read commands, README example."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hashtune.store import Store

ROOT = Path(__file__).parent.parent
HASHTUNE = [sys.executable, "-m", "hashtune.cli"]

SLOW_EXPERIMENT = """\
study: killme
seed: 4
space: nas_bench_201
evaluator: {name: "hashtune.evaluators.testing:SleepEvaluator", args: {seconds: 0.4}}
searcher: {name: regularized_evolution, args: {population_size: 4, tournament_size: 2}}
budget: {trials: 14}
liveness: {heartbeat_s: 0.25}
"""


def cli(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    out = subprocess.run(
        [*HASHTUNE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"hashtune {args} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return out


def finished(store: Store, name: str) -> list:
    study = store.studies.get(name)
    if study is None:
        return []
    return [t for t in store.trials.list(study.id) if t.state not in ("RUNNING", "PENDING")]


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_the_same_study_without_losing_or_rerunning_trials(
    tmp_path: Path,
) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(SLOW_EXPERIMENT)
    url = f"sqlite:///{tmp_path}/kill.db"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [*HASHTUNE, "run", str(exp), "--storage", url, "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    store = Store(url)
    deadline = time.monotonic() + 120

    def in_flight() -> bool:  # a 0.4 s evaluation under way (not the gap between two trials)
        study = store.studies.get("killme")
        running = store.trials.list(study.id, states=("RUNNING",)) if study else []
        return any(t.dna is not None for t in running)

    while len(finished(store, "killme")) < 4 or not in_flight():
        assert proc.poll() is None, f"run exited early: {proc.stderr.read().decode()}"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    study_id = store.studies.get("killme").id
    before = {t.number: t for t in finished(store, "killme")}
    running = [t.number for t in store.trials.list(study_id, states=("RUNNING", "PENDING"))]
    assert running, "the kill should have caught a trial in flight (each sleeps 0.4 s)"
    time.sleep(1.5)  # the dead run's heartbeat goes stale (4 beats of 0.25 s)

    out = cli("run", str(exp), "--storage", url, "--no-progress")
    assert "interrupted trial(s) marked INTERRUPTED" in out.stdout
    trials = store.trials.list(study_id)
    by_number = {t.number: t for t in trials}
    for number, old in before.items():  # nothing finished was lost or re-run
        assert by_number[number].state == old.state and by_number[number].values == old.values
        assert by_number[number].finished_at == old.finished_at
    for number in running:
        assert by_number[number].state == "INTERRUPTED"
        assert by_number[number].error.startswith("interrupted")
    assert not [t for t in trials if t.state in ("RUNNING", "PENDING")]
    counted = [t for t in trials if t.state != "INTERRUPTED"]
    assert len(counted) == 14, "the resumed run completes the budget, not more"
    dnas = [json.dumps(t.dna) for t in trials if t.dna is not None]
    assert len(dnas) == len(set(dnas)), "a resumed search must not re-propose what it proposed"


@pytest.mark.slow
def test_run_then_read_commands_show_the_study(tmp_path: Path) -> None:
    exp = tmp_path / "nb.yaml"
    exp.write_text(
        "study: nb\nspace: nas_bench_201\n"
        "evaluator: {name: nas_bench_201_tabular, args: {path: "
        f"{ROOT}/tests/fixtures/nb201_fixture.csv}}}}\n"
        "searcher: {name: regularized_evolution, args: {population_size: 6, tournament_size: 2}}\n"
        "budget: {trials: 60}\n"
    )
    url = f"sqlite:///{tmp_path}/nb.db"
    out = cli("run", str(exp), "--storage", url, "--no-progress", cwd=tmp_path)
    assert "nb: best candidates" in out.stdout and "unique functions" in out.stdout
    store = Store(url)
    trials = store.trials.list(store.studies.get("nb").id)
    assert len(trials) == 60
    best_value = max(t.values[0] for t in trials if t.values)

    studies = cli("studies", "--storage", url).stdout
    assert re.search(r"nb\s+│\s+max\s+│\s+60", studies)
    best = cli("best", "nb", "--storage", url, "-k", "3").stdout
    assert f"{best_value:.4g}" in best
    assert "|" in best and "~0|" in best  # cells are shown in NB201 notation
    listing = cli("trials", "nb", "--storage", url, "--last", "5").stdout
    assert all(f" {n} " in listing for n in range(55, 60))
    stats = cli("stats", "nb", "--storage", url).stdout
    cached = sum(t.state == "CACHED" for t in trials)
    assert re.search(rf"cached \(served\)\s+│\s+{cached}\b", stats)

    csv_path = tmp_path / "nb.csv"
    cli("export", "nb", "--storage", url, "--format", "csv", "-o", str(csv_path))
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 61 and lines[0].startswith("number,state,value.val_accuracy")
    data = json.loads(cli("export", "nb", "--storage", url, "--format", "json").stdout)
    rows = data["trials"]
    assert data["directions"] == ["maximize"] and [r["number"] for r in rows] == list(range(60))
    assert {r["state"] for r in rows} <= {"COMPLETE", "CACHED"}


def test_read_commands_name_a_missing_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    Store(url).close()  # an empty store (a missing one is its own error)
    out = cli("best", "nope", "--storage", url, check=False)
    assert out.returncode == 2 and "no study named 'nope'" in out.stderr


def test_run_rejects_a_bad_file_with_the_field_and_value(tmp_path: Path) -> None:
    exp = tmp_path / "bad.yaml"
    exp.write_text("study: x\nspace: nas_bench_201\nevaluator: function\nbudget: {trials: zero}\n")
    out = cli("run", str(exp), "--storage", f"sqlite:///{tmp_path}/b.db", check=False)
    assert out.returncode == 2
    assert "bad.yaml" in out.stderr and "`budget.trials`" in out.stderr and "'zero'" in out.stderr


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- quickstart:begin -->\n```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) < 30, "the README promises < 30 lines"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "proposals=30" in out.stdout
    assert (tmp_path / "hashtune.db").exists()


@pytest.mark.slow
def test_the_quickstart_experiment_runs_from_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/q.db"
    exp = str(ROOT / "experiments" / "quickstart.yaml")
    out = cli("run", exp, "--storage", url, "--trials", "4", "--no-progress", cwd=tmp_path)
    assert "quickstart: best candidates" in out.stdout and re.search(
        r"\b(lr|wd|bs|hidden)=", out.stdout
    )
    best = cli("best", "quickstart", "--storage", url).stdout
    assert "val_accuracy" in best

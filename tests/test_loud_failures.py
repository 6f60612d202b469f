"""Failed trials are loud: logged, and a systematically failing objective stops `optimize`."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pyglove as pg
import pytest

import hashtune as ht
from hashtune.failures import FIRST_TRIALS, FULL_LOGS


def space() -> ht.Space:
    return ht.Space(pg.Dict(x=pg.oneof(list(range(20)))), "x20")


def typo(c) -> float:
    return c["y"]  # KeyError: the objective has a typo


def odd_crash(c) -> float:
    if c["x"] % 2:
        raise ArithmeticError(f"odd x={c['x']}")
    return float(c["x"])


def make(url: str, fn, name: str = "s", **kw) -> ht.Study:
    return ht.Study.create(
        name, space=space(), evaluator=ht.FunctionEvaluator(fn), searcher="random",
        storage=url, cache={"enabled": False}, **kw,
    )  # fmt: skip


def test_an_objective_failing_every_first_trial_stops_optimize_with_its_exception(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    study = make(sqlite_url, typo)
    with caplog.at_level(logging.INFO, logger="hashtune"), pytest.raises(KeyError, match="y"):
        study.optimize(n_trials=20)
    trials = study.trials()
    assert [t.state for t in trials] == ["FAILED"] * FIRST_TRIALS, "stopped at the 3rd trial"
    assert all("KeyError" in t.error for t in trials), [t.error[:300] for t in trials]
    full = [r for r in caplog.records if r.levelno == logging.ERROR and "failed:" in r.message]
    assert len(full) == FIRST_TRIALS and all("Traceback" in r.message for r in full)
    assert any("stopping" in r.message for r in caplog.records)


def test_an_occasional_crash_fails_only_its_trial_and_is_logged(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    study = make(sqlite_url, odd_crash)
    for x in (0, 1, 3, 5, 7, 9, 11, 13):  # a success first, then many crashes
        study.enqueue({"x": x})
    with caplog.at_level(logging.INFO, logger="hashtune"):
        study.optimize(n_trials=12)
    states = [t.state for t in study.trials()]
    assert len(states) == 12 and states[:8] == ["COMPLETE"] + ["FAILED"] * 7
    failed = [t for t in study.trials() if t.state == "FAILED"]
    logged = [r for r in caplog.records if r.name == "hashtune.failures"]
    full = [r for r in logged if r.levelno == logging.ERROR]
    short = [r for r in logged if r.levelno == logging.INFO]
    assert len(full) == FULL_LOGS and all("Traceback" in r.message for r in full)
    assert len(short) == len(failed) - FULL_LOGS, "every failure is logged, later ones briefly"
    assert all("Traceback" not in r.message and "ArithmeticError" in r.message for r in short)
    summary = [r for r in logged if r.levelno == logging.WARNING and "of 12 trials" in r.message]
    assert summary and f"{len(failed)} of 12" in summary[-1].message


def test_explicit_catch_follows_optuna(sqlite_url: str) -> None:
    """catch=(): the first exception stops; the exception class in catch: never stops."""
    study = make(sqlite_url, odd_crash, name="a")
    for x in (0, 2, 1, 4):
        study.enqueue({"x": x})
    with pytest.raises(ArithmeticError, match="odd x=1"):
        study.optimize(n_trials=10, catch=())
    assert [t.state for t in study.trials()] == ["COMPLETE", "COMPLETE", "FAILED"]
    study.optimize(n_trials=10, catch=(ArithmeticError,))
    assert len(study.trials()) == 13
    other = make(sqlite_url, odd_crash, name="c")
    other.enqueue({"x": 1})
    with pytest.raises(ArithmeticError):  # not a ValueError: stops at once
        other.optimize(n_trials=5, catch=(ValueError,))
    assert len(other.trials()) == 1
    with pytest.raises(TypeError, match="exception classes"):
        study.optimize(n_trials=1, catch=("ValueError",))


def test_catch_everything_never_stops(sqlite_url: str) -> None:
    study = make(sqlite_url, typo)
    study.optimize(n_trials=5, catch=(Exception,))
    assert [t.state for t in study.trials()] == ["FAILED"] * 5


def test_an_exception_from_a_worker_process_is_raised_with_the_worker_traceback(
    sqlite_url: str,
) -> None:
    study = make(sqlite_url, typo, executor="process", executor_args={"max_workers": 1})
    with pytest.raises(KeyError) as info:
        study.optimize(n_trials=6, trial_timeout=60)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "in a worker" in notes and "Traceback" in notes and "typo" in notes
    failed = [t for t in study.trials() if t.state == "FAILED" and "KeyError" in (t.error or "")]
    assert len(failed) == FIRST_TRIALS


@pytest.mark.slow
def test_the_cli_keeps_going_and_prints_the_last_error(tmp_path: Path) -> None:
    """A crashing candidate fails its trial, never the study, in the CLI; the error is shown."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "study: cli-fail\n"
        "space: nas_bench_201\n"
        "evaluator: {name: crashmod:CrashEvaluator}\n"
        "searcher: random\n"
        "budget: {trials: 4}\n"
    )
    (tmp_path / "crashmod.py").write_text(
        "from hashtune.evaluators.base import Evaluator\n"
        "class CrashEvaluator(Evaluator):\n"
        "    name = 'crash'\n"
        "    def evaluate(self, candidate, context):\n"
        "        raise ZeroDivisionError('candidate divides by zero')\n"
    )
    hashtune = Path(sys.executable).parent / "hashtune"
    out = subprocess.run(
        [str(hashtune), "run", str(exp), "--storage", f"sqlite:///{tmp_path}/c.db"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "last error: trial 3: ZeroDivisionError: candidate divides by zero" in text
    assert text.count("Traceback") == FULL_LOGS, "the first failures in full, then counts"
    assert "4 of 4 trials failed" in text

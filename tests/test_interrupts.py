"""Interrupts: a KeyboardInterrupt raised by an evaluator, and Ctrl-C of `hashtune run`.

An evaluator raising KeyboardInterrupt stops the run as Ctrl-C would (as in Optuna: the trial
fails and the KeyboardInterrupt leaves `optimize`), on every executor; its trial is marked
interrupted (not "timed out"), so it does not count and a resume proposes it again. Ctrl-C is a
real SIGINT to the process group of a real `hashtune run` (what a terminal sends), during a JAX
evaluation: exit 130, one line saying how to resume, no C++ abort, no traceback, nothing lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hashtune.recovery import was_interrupted
from hashtune.store import Store
from hashtune.study import Study

ROOT = Path(__file__).parent.parent
HASHTUNE = [sys.executable, "-m", "hashtune.cli"]
CRASH_WORDS = ("terminate called", "FATAL", "Aborted", "Traceback", "core dumped")


@pytest.mark.parametrize(
    "executor,trial_timeout",
    [("inprocess", None), ("inprocess", 3.0), ("process", None), ("process", 3.0)],
)
def test_a_keyboard_interrupt_raised_by_the_evaluator_stops_the_run_like_ctrl_c(
    sqlite_url: str, executor: str, trial_timeout: float | None
) -> None:
    def study() -> Study:
        return Study.create(
            "ki",
            space="nas_bench_201",
            evaluator="hashtune.evaluators.testing:InterruptEvaluator",
            evaluator_args={"on_trial": 2},
            searcher="random",
            executor=executor,
            executor_args={"max_workers": 1} if executor == "process" else None,
            storage=sqlite_url,
            seed=3,
            task="ki",  # explicit: a process pool shifts the evaluator's content fingerprint
            load_if_exists=True,
        )

    first = study()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        first.optimize(total_trials=6, n_trials=6, trial_timeout=trial_timeout)
    assert time.monotonic() - t0 < 30
    first.close()
    store = Store(sqlite_url)
    trials = {t.number: t for t in store.trials.list(store.studies.get("ki").id)}
    assert [trials[n].state for n in (0, 1)] == ["COMPLETE", "COMPLETE"]
    hit = trials[2]
    assert hit.state == "INTERRUPTED" and was_interrupted(hit), hit.error
    assert "KeyboardInterrupt" in hit.error and "timed out" not in hit.error
    assert "raised by the evaluator" in hit.error or trial_timeout is None
    assert 3 not in trials or trials[3].state != "COMPLETE", "the run stopped at the interrupt"
    assert not [t for t in trials.values() if t.state in ("RUNNING", "PENDING")]

    second = study()  # the resume finishes the budget (numbers 3..: the evaluator scores them)
    second.optimize(total_trials=6, n_trials=6, trial_timeout=trial_timeout)
    second.close()
    done = [t for t in store.trials.list(store.studies.get("ki").id) if not was_interrupted(t)]
    assert len(done) == 6 and all(t.state == "COMPLETE" for t in done)


OPTIMIZER = """\
study: ctrl-c
seed: 0
space: {name: optimizer_programs, args: {max_statements: 16}}
evaluator: {name: optimizer_proxy, args: {tasks: [logreg], steps: 30, lr_grid: [0.01]}}
searcher: {name: regularized_evolution, args: {population_size: 4, tournament_size: 2}}
budget: {trials: 3, trial_timeout_s: 300}
enqueue: [adam, lion, momentum]
"""
POOL = """\
study: ctrl-c
seed: 0
space: {name: mlp_digits, args: {max_depth: 1, widths: [16, 32]}}
evaluator: {name: mlp_digits, args: {epochs: 2}}
searcher: {name: regularized_evolution, args: {population_size: 4, tournament_size: 2}}
executor: {name: process, args: {max_workers: 2}}
budget: {trials: 4}
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "text", [OPTIMIZER, POOL], ids=["jax-in-process-with-timeout", "jax-process-pool"]
)
def test_ctrl_c_during_an_evaluation_exits_130_cleanly_and_the_resume_loses_nothing(
    tmp_path: Path, text: str
) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(text)
    url = f"sqlite:///{tmp_path}/c.db"
    cmd = [*HASHTUNE, "run", str(exp), "--storage", url, "--no-progress"]
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )  # fmt: skip
    deadline = time.monotonic() + 240
    store = None
    while True:  # Ctrl-C once one trial is done and another is being evaluated
        assert proc.poll() is None, f"run ended before the interrupt: {proc.communicate()}"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.1)
        if store is None and Path(f"{tmp_path}/c.db").exists():
            store = Store(url)
        study = store.studies.get("ctrl-c") if store else None
        trials = store.trials.list(study.id) if study else []
        finished = [t for t in trials if t.state not in ("RUNNING", "PENDING")]
        if finished and any(t.state == "RUNNING" and t.dna is not None for t in trials):
            break
    before = {t.number: (t.state, t.values) for t in finished}
    time.sleep(0.3)  # well inside the evaluation (a JAX compile, or pool workers training)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert not any(w in out + err for w in CRASH_WORDS), err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("interrupted; resume with: hashtune run"), err
    assert str(exp) in lines[-1] and url in lines[-1]

    trials = store.trials.list(store.studies.get("ctrl-c").id)
    assert not [t for t in trials if t.state in ("RUNNING", "PENDING")]
    assert any(was_interrupted(t) for t in trials), "the trial in flight is marked interrupted"
    resume = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resume.returncode == 0, resume.stderr
    trials = store.trials.list(store.studies.get("ctrl-c").id)
    by_number = {t.number: t for t in trials}
    for number, (state, values) in before.items():  # nothing finished was lost or redone
        assert (by_number[number].state, by_number[number].values) == (state, values)
    counted = [t for t in trials if not was_interrupted(t)]
    assert len(counted) == (3 if text is OPTIMIZER else 4)
    assert not [t for t in trials if t.state in ("RUNNING", "PENDING")]

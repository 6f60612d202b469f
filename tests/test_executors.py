"""Executors: failures, NaN, timeouts, crashes and pruning become Outcomes; pools keep serving."""

from __future__ import annotations

import pickle
import signal
import sys
from pathlib import Path

import pytest
from pruning_case import assert_pruned_as_the_driver_decided, run_pruned_study

from hashtune.evaluators.base import FunctionEvaluator
from hashtune.evaluators.executors import (
    InProcessExecutor,
    LocalProcessExecutor,
    Outcome,
    run_evaluation,
)
from hashtune.evaluators.executors.registry import make_executor
from hashtune.evaluators.testing import (
    ExitEvaluator,
    NaNEvaluator,
    QuadraticEvaluator,
    RaiseEvaluator,
    SleepEvaluator,
)


@pytest.fixture(scope="module")
def process_executor():
    ex = LocalProcessExecutor(max_workers=2)
    yield ex
    ex.shutdown(wait=False)


@pytest.fixture(params=["inprocess", "process"])
def executor(request, process_executor):
    return InProcessExecutor() if request.param == "inprocess" else process_executor


def _outcome(ex, evaluator, candidate=1.0, number=0, timeout_s=None, should_prune=None) -> Outcome:
    return ex.submit(evaluator, candidate, number, timeout_s, should_prune).result(timeout=60)


def test_complete_returns_values_intermediates_and_metadata(executor):
    out = _outcome(executor, QuadraticEvaluator(target=3.0, steps=4), {"x": 1.0})
    assert out.state == "COMPLETE" and out.error is None
    assert out.values == (-4.0,)
    assert out.result.metadata == {"x": 1.0}
    assert [s for s, _ in out.intermediate] == [0, 1, 2, 3]
    assert out.intermediate[-1] == (3, -4.0)
    assert out.result.intermediate == out.intermediate
    assert out.seconds >= 0.0


def test_raising_candidate_fails_with_error_text(executor):
    out = _outcome(executor, RaiseEvaluator("kaboom 42"))
    assert out.state == "FAILED" and out.result is None
    assert out.error.startswith("RuntimeError: kaboom 42")
    assert "Traceback" in out.error and "testing.py" in out.error
    assert out.intermediate == [(0, 0.5)]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_result_fails_naming_values(executor, value):
    out = _outcome(executor, NaNEvaluator(value))
    assert out.state == "FAILED"
    assert "non-finite" in out.error and repr(value) in out.error


def test_self_pruned_candidate_is_pruned_with_intermediates(executor):
    out = _outcome(executor, QuadraticEvaluator(steps=10, prune_at_step=2), 2.0)
    assert out.state == "PRUNED" and out.result is None
    assert [s for s, _ in out.intermediate] == [0, 1, 2]


def test_timeout_fails_and_next_submit_works(executor):
    # The in-process thread notices the abandonment at its next report; the pool kills the worker.
    out = _outcome(executor, SleepEvaluator(seconds=None), timeout_s=0.5)
    assert out.state == "FAILED" and out.error == "timed out after 0.5s"
    nxt = _outcome(executor, QuadraticEvaluator(target=0.0), 0.5, number=1, timeout_s=30)
    assert nxt.state == "COMPLETE" and nxt.values == (-0.25,)


def test_in_process_live_pruning_keeps_intermediates():
    ex = InProcessExecutor()
    assert ex.max_workers == 1
    seen = []

    def should_prune(step, value, history):
        seen.append(step)
        return step == 3

    for timeout_s in (None, 10.0):
        seen.clear()
        out = _outcome(
            ex, QuadraticEvaluator(steps=8), 1.0, should_prune=should_prune, timeout_s=timeout_s
        )
        assert out.state == "PRUNED" and "step 3" in out.error
        assert [s for s, _ in out.intermediate] == [0, 1, 2, 3] == seen


def test_in_process_timeout_keeps_intermediates_reported_so_far():
    out = _outcome(
        InProcessExecutor(), SleepEvaluator(seconds=None, report_every=0.02), timeout_s=0.3
    )
    assert out.state == "FAILED" and "timed out" in out.error
    assert len(out.intermediate) >= 2


def test_wrong_number_of_objectives_fails():
    ev = FunctionEvaluator(lambda c: (1.0, 2.0))
    out = run_evaluation(ev, None, 0)
    assert out.state == "FAILED" and "expected 1 values" in out.error


def test_system_exit_in_candidate_is_a_failure_not_an_exit():
    def bail(c):
        sys.exit(7)

    out = run_evaluation(FunctionEvaluator(bail), None, 0)
    assert out.state == "FAILED" and out.error.startswith("SystemExit: 7")


def test_outcomes_are_picklable():
    out = run_evaluation(QuadraticEvaluator(), 2.0, 0)
    back = pickle.loads(pickle.dumps(out))
    assert back == out and back.values == (-4.0,)


def test_process_worker_exit_is_reported_and_pool_keeps_serving(process_executor):
    out = _outcome(process_executor, ExitEvaluator(code=3))
    assert out.state == "FAILED" and out.error == "worker process died: exit code 3"
    seg = _outcome(process_executor, ExitEvaluator(signum=signal.SIGSEGV))
    assert seg.state == "FAILED" and seg.error == "worker process died: exit code -11 (SIGSEGV)"
    nxt = _outcome(process_executor, QuadraticEvaluator(), 1.0, number=2)
    assert nxt.state == "COMPLETE" and nxt.values == (-1.0,)


def _meet(folder: str) -> float:
    """Checks in under `folder`, then waits (up to 60 s) for a second evaluation to check in."""
    import os
    import time

    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    return float(len(os.listdir(folder)))


def test_process_pool_runs_concurrently(process_executor, tmp_path):
    # Each evaluation waits for the other: a pool that ran them one after the other would
    # leave the first waiting alone until its deadline.
    evaluator = FunctionEvaluator(_meet)
    futs = [process_executor.submit(evaluator, str(tmp_path), i, 90) for i in range(2)]
    outs = [f.result(timeout=120) for f in futs]
    assert [(o.state, o.values) for o in outs] == [("COMPLETE", (2.0,))] * 2
    assert len(list(tmp_path.iterdir())) == 2  # two worker processes


def test_process_unpicklable_candidate_fails_cleanly(process_executor):
    out = _outcome(process_executor, QuadraticEvaluator(), lambda: 1.0)
    assert out.state == "FAILED" and "pickle" in out.error.lower()


def test_make_executor_names():
    assert isinstance(make_executor(), InProcessExecutor)
    ex = make_executor("process", max_workers=1)
    try:
        assert isinstance(ex, LocalProcessExecutor) and ex.max_workers == 1
    finally:
        ex.shutdown()
    with pytest.raises(ValueError, match="ray-ish"):
        make_executor("ray-ish")
    with pytest.raises(ValueError, match="timeout_s"):
        InProcessExecutor().submit(QuadraticEvaluator(), 1.0, 0, timeout_s=-1)


@pytest.mark.slow
def test_mlp_evaluator_runs_in_spawned_worker(process_executor):
    from hashtune.evaluators.mlp_digits import MLPDigitsEvaluator
    from hashtune.spaces.mlp import MLPConfig

    cfg = MLPConfig(
        hidden=[32], activation="relu", learning_rate=3e-3, weight_decay=1e-4, batch_size=32
    )
    out = _outcome(process_executor, MLPDigitsEvaluator(epochs=3), cfg)
    local = run_evaluation(MLPDigitsEvaluator(epochs=3), cfg, 0)
    assert out.state == "COMPLETE" and out.values[0] > 0.8
    assert out.values == local.values  # same seed, same result across processes
    assert [s for s, _ in out.intermediate] == [1, 2, 3]


# ---- live pruning on pool workers; workers die with their driver --------------------------------
def test_pool_workers_ask_the_driver_and_each_trial_gets_its_own_decision(process_executor):
    asked: dict[str, list[int]] = {"a": [], "b": []}

    def pruner_for(name, stop_at):
        def should_prune(step, value, own):
            asked[name].append(step)
            assert [s for s, _ in own] == list(range(step + 1))  # the driver sees the live curve
            return step == stop_at

        return should_prune

    futs = [
        process_executor.submit(QuadraticEvaluator(steps=6), 1.0, 0, 30, pruner_for("a", 2)),
        process_executor.submit(QuadraticEvaluator(steps=6), 2.0, 1, 30, pruner_for("b", None)),
    ]
    a, b = (f.result(timeout=60) for f in futs)
    assert a.state == "PRUNED" and "step 2" in a.error
    assert [s for s, _ in a.intermediate] == [0, 1, 2] == asked["a"]
    assert b.state == "COMPLETE" and b.values == (-4.0,) and asked["b"] == list(range(6))


def test_pool_keeps_the_live_curve_of_a_trial_whose_worker_was_killed(process_executor):
    out = _outcome(
        process_executor,
        SleepEvaluator(seconds=None, report_every=0.05),
        timeout_s=0.6,
        should_prune=lambda step, value, own: False,
    )
    assert out.state == "FAILED" and out.error == "timed out after 0.6s"
    assert len(out.intermediate) >= 3 and [s for s, _ in out.intermediate][:3] == [0, 1, 2]


def test_median_pruner_stops_bad_trials_on_a_process_pool_worker(sqlite_url):
    assert_pruned_as_the_driver_decided(run_pruned_study("pool-prune", "process", sqlite_url))


_DRIVER = """
import os, sys, time
from hashtune.evaluators.executors import LocalProcessExecutor
from hashtune.evaluators.testing import SleepEvaluator
if __name__ == "__main__":
    ex = LocalProcessExecutor(max_workers=2)
    ex.submit(SleepEvaluator(seconds=None), None, 0)  # hangs, no timeout
    ex.submit(SleepEvaluator(seconds=None), None, 1, should_prune=lambda s, v, o: False)
    time.sleep(1.5)  # both evaluations running, the pruning Manager started
    print("READY", flush=True)
    time.sleep(600)
"""


def test_no_pool_worker_outlives_a_killed_driver(tmp_path):
    import os
    import subprocess

    psutil = pytest.importorskip("psutil")
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER)
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().strip() == "READY"
        children = psutil.Process(driver.pid).children(recursive=True)
        assert len(children) >= 3  # two workers (hanging) and the Manager
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"orphaned: {[(p.pid, p.cmdline()) for p in alive]}"
    finally:
        driver.kill()


_INTERRUPTED = """
import sys
import pyglove as pg
import hashtune as ht
from hashtune.evaluators.testing import SleepEvaluator
if __name__ == "__main__":
    study = ht.Study.create(
        "hang", space=ht.Space(pg.Dict(x=pg.oneof([1.0, 2.0]))), evaluator=SleepEvaluator(None),
        searcher="random", executor="process", executor_args={"max_workers": 2},
        storage=sys.argv[1],
    )
    print("READY", flush=True)
    study.optimize(n_trials=2)
"""


def test_an_interrupted_study_kills_its_hanging_pool_workers(tmp_path, sqlite_url):
    import subprocess
    import time

    psutil = pytest.importorskip("psutil")
    script = tmp_path / "run.py"
    script.write_text(_INTERRUPTED)
    driver = subprocess.Popen([sys.executable, str(script), sqlite_url], stdout=subprocess.PIPE)
    try:
        assert driver.stdout.readline().strip() == b"READY"
        proc = psutil.Process(driver.pid)
        deadline = time.monotonic() + 60
        while len(proc.children()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.0)  # both trials running (and hanging)
        children = proc.children(recursive=True)
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=20) != 0  # KeyboardInterrupt, not a hang in shutdown
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive
    finally:
        driver.kill()
    from hashtune.store import Store

    states = [
        t.state for t in Store(sqlite_url).trials.list(Store(sqlite_url).studies.get("hang").id)
    ]
    assert states == ["INTERRUPTED", "INTERRUPTED"]

"""A real multi-node Ray cluster on this machine: `ray start --head` and `ray start --address`
nodes as separate process groups, the driver attached by address; trials use every node, honour
per-trial resources, survive a killed node, and die with a killed driver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyglove as pg
import pytest

import hashtune as ht
from hashtune.evaluators.base import EvaluationResult, Evaluator, TrialContext

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")


class WhereEvaluator(Evaluator):
    """Sleeps `seconds`; returns where it ran (node, pid, resources) and when, as metadata.

    With `mark_dir`, each attempt first writes a file `<node id>-<x>-<pid>` there.
    """

    name = "where"
    objectives = ("score",)

    def __init__(self, seconds: float, mark_dir: str | None = None):
        self.seconds = seconds
        self.mark_dir = mark_dir

    def evaluate(self, candidate: Any, context: TrialContext) -> EvaluationResult:
        import ray

        ctx = ray.get_runtime_context()
        x = float(candidate["x"])
        if self.mark_dir:
            Path(self.mark_dir, f"{ctx.get_node_id()}-{x:g}-{os.getpid()}").touch()
        start = time.time()
        time.sleep(self.seconds)
        meta = {"node": ctx.get_node_id(), "start": start, "end": time.time()}
        meta.update({f"res_{k}": v for k, v in ctx.get_assigned_resources().items()})
        return EvaluationResult(values=(x,), metadata=meta)


@pytest.fixture(scope="module")
def cluster():
    """Head (1 CPU) + node `a` (2 CPUs, 1 GPU, 2 `accel`): a two-node cluster; the driver (this
    process) is attached by address by the first RayExecutor."""
    from hashtune.evaluators.executors.ray_cluster import LocalRayCluster

    if ray.is_initialized():
        ray.shutdown()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests are not importable
    c = LocalRayCluster()
    try:
        c.start(num_cpus=1)
        c.add_node("a", num_cpus=2, num_gpus=1, resources={"accel": 2})
        c.wait_for_nodes(2)
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()


def node_ids() -> dict[str, str]:
    """Marker resource name → Ray node id, for the live nodes."""
    return {
        r: n["NodeID"]
        for n in ray.nodes()
        if n["Alive"]
        for r in n["Resources"]
        if r.startswith("htnode_")
    }


def study(name: str, evaluator: Evaluator, url: str, n: int, **executor_args: Any) -> ht.Study:
    s = ht.Study.create(
        name, space=ht.Space(pg.Dict(x=pg.oneof(list(range(n))))), evaluator=evaluator,
        searcher="random", executor="ray", executor_args=executor_args, storage=url,
    )  # fmt: skip
    for x in range(n):
        s.enqueue(pg.Dict(x=x))
    return s


def test_driver_attached_by_address_runs_trials_on_every_node(cluster, sqlite_url) -> None:
    assert not ray.is_initialized()
    s = study("everywhere", WhereEvaluator(2.0), sqlite_url, 3, max_workers=3,
              address=cluster.address)  # fmt: skip
    s.optimize(n_trials=3)  # 3 CPUs, 3 trials at once: one on every CPU of both nodes
    trials = s.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 3
    assert ray.get_runtime_context().gcs_address.endswith(cluster.address.split(":")[1])
    ids = node_ids()
    used = {t.user_attrs["node"] for t in trials}
    assert used == {ids[n.marker] for n in cluster.nodes}, (used, ids)


def test_fractional_gpus_and_custom_resources_reach_the_tasks(cluster, sqlite_url) -> None:
    # Only node `a` has GPU and `accel` (2 of each half-GPU trial's needs): at most 2 at once.
    s = study("resources", WhereEvaluator(0.5), sqlite_url, 4, max_workers=4,
              num_cpus_per_trial=0, num_gpus_per_trial=0.5, resources_per_trial={"accel": 1})  # fmt: skip
    assert s.executor.task_options["num_gpus"] == 0.5
    s.optimize(n_trials=4)
    trials = s.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 4
    a = node_ids()[cluster.nodes[1].marker]
    for t in trials:
        assert t.user_attrs["node"] == a
        assert t.user_attrs["res_GPU"] == 0.5 and t.user_attrs["res_accel"] == 1.0
    spans = [(t.user_attrs["start"], t.user_attrs["end"]) for t in trials]
    most = max(sum(s0 <= t0 < e0 for s0, e0 in spans) for t0, _ in spans)
    assert most == 2, spans


def test_trials_of_a_killed_node_are_retried_on_the_others(cluster, sqlite_url, tmp_path) -> None:
    doomed = cluster.add_node("b", num_cpus=2)
    cluster.wait_for_nodes(3)
    b = node_ids()[doomed.marker]
    marks = tmp_path / "marks"
    marks.mkdir()
    s = study("node-kill", WhereEvaluator(3.0, str(marks)), sqlite_url, 5, max_workers=5)
    run = threading.Thread(target=s.optimize, kwargs={"n_trials": 5})
    run.start()
    deadline = time.monotonic() + 60
    while len([p for p in os.listdir(marks) if p.startswith(b)]) < 2:
        assert time.monotonic() < deadline, f"nothing started on node b: {os.listdir(marks)}"
        time.sleep(0.1)
    doomed.kill()
    run.join(timeout=90)
    assert not run.is_alive()
    trials = s.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 5, [t.error for t in trials]
    started_on_b = {float(p.split("-")[1]) for p in os.listdir(marks) if p.startswith(b)}
    assert len(started_on_b) == 2
    for t in trials:
        assert t.user_attrs["node"] != b
    assert len(os.listdir(marks)) == 7  # 5 trials, 2 of them run twice


_DRIVER = """
import os, sys, time
from pathlib import Path
from hashtune.evaluators.base import FunctionEvaluator
from hashtune.evaluators.executors.ray import RayExecutor

PIDS = sys.argv[2]  # captured by value: the task's own sys.argv is the Ray worker's

def hang(candidate):
    Path(PIDS, str(os.getpid())).touch()
    time.sleep(600)

if __name__ == "__main__":
    ex = RayExecutor(max_workers=2, address=sys.argv[1])
    for i in range(2):
        ex.submit(FunctionEvaluator(hang), i, i, should_prune=lambda s, v, o: False)
    while len(os.listdir(sys.argv[2])) < 2:
        time.sleep(0.1)
    print("READY", flush=True)
    time.sleep(600)
"""


def test_ray_tasks_die_with_a_killed_driver(cluster, tmp_path) -> None:
    script, pids = tmp_path / "driver.py", tmp_path / "pids"
    script.write_text(_DRIVER)
    pids.mkdir()
    driver = subprocess.Popen(
        [sys.executable, str(script), cluster.address, str(pids)],
        stdout=subprocess.PIPE, text=True, env=cluster.env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(pids)) < 2:
            assert time.monotonic() < deadline and driver.poll() is None, "tasks did not start"
            time.sleep(0.1)
        assert driver.stdout.readline().strip() == "READY"
        workers = [psutil.Process(int(p)) for p in os.listdir(pids)]
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"tasks outlived their driver: {[p.pid for p in alive]}"
    finally:
        driver.kill()

"""A real multi-node Ray cluster on this machine, for tests, benchmarks and trying things out.

`ray start --head` plus `ray start --address` worker nodes, each a separate process group with its
own CPU count (and custom resources), on random free ports and a private temp dir so that several
clusters on one machine do not clash. A node can be killed (SIGKILL to its whole process group:
raylet, object store and workers), as a machine that dies would be.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Fast failure detection (the defaults take ~30 s to declare a dead node dead).
FAST_FAILURE_ENV = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
}


_TAKEN: set[int] = set()  # ports handed out in this process (a freed port may come back)


def _free_port() -> int:
    """A free TCP port from the kernel's ephemeral range, never the same one twice."""
    while True:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if port not in _TAKEN:
            _TAKEN.add(port)
            return port


@dataclass
class RayNode:
    """One `ray start --block` process group; `marker` is a custom resource only it has."""

    name: str
    process: subprocess.Popen
    marker: str
    num_cpus: int
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the node's whole process group (raylet, object store, its workers)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


class LocalRayCluster:
    """Start a head (`start()`), add worker nodes (`add_node`), kill them, `stop()` everything."""

    def __init__(self, ray_bin: str | None = None, env: dict[str, str] | None = None):
        self.ray_bin = ray_bin or str(Path(sys.executable).with_name("ray"))
        self.temp_dir = tempfile.mkdtemp(prefix="htray_", dir="/tmp")  # short: socket paths
        self.env = {**os.environ, **FAST_FAILURE_ENV, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
        # Ray >= 2.59 turns token auth on for a head when ~/.ray/auth_token exists, and drivers
        # attaching by address do not send it: this cluster is local, so no auth.
        self.env.setdefault("RAY_AUTH_MODE", "disabled")
        self.nodes: list[RayNode] = []
        self.address: str | None = None

    def _spawn(self, name: str, args: list[str], num_cpus: int, num_gpus: float | None,
               resources: dict[str, float] | None) -> RayNode:  # fmt: skip
        marker = f"htnode_{name}_{os.getpid()}"
        res = {marker: 1000.0, **(resources or {})}
        base = random.randrange(20_000, 32_000, 200)  # workers: below the ephemeral range
        cmd = [
            self.ray_bin, "start", "--block", f"--num-cpus={num_cpus}",
            f"--resources={json.dumps(res)}", f"--temp-dir={self.temp_dir}",
            f"--node-manager-port={_free_port()}", f"--object-manager-port={_free_port()}",
            f"--min-worker-port={base}", f"--max-worker-port={base + 199}",
            f"--metrics-export-port={_free_port()}", f"--runtime-env-agent-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}",
            "--object-store-memory=100000000", "--disable-usage-stats", *args,
        ]  # fmt: skip
        if num_gpus is not None:
            cmd.append(f"--num-gpus={num_gpus}")
        log = open(Path(self.temp_dir) / f"{name}.log", "w")  # noqa: SIM115 - lives with the node
        proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        node = RayNode(name, proc, marker, num_cpus, Path(log.name))
        self.nodes.append(node)
        return node

    def _wait_started(self, node: RayNode, timeout_s: float) -> None:
        """Until `ray start --block` says its processes are up (or raise, naming the log)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "block forever" in node.log.read_text(errors="replace"):
                return
            if not node.alive:
                break
            time.sleep(0.2)
        tail = "\n".join(node.log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"Ray node {node.name!r} did not start; its log ends:\n{tail}")

    def start(self, num_cpus: int = 0, timeout_s: float = 60.0) -> str:
        """Start the head node; returns the address drivers and nodes attach to."""
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        self._spawn(
            "head",
            ["--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             f"--ray-client-server-port={_free_port()}", "--include-dashboard=false"],
            num_cpus, None, None,
        )  # fmt: skip
        self._wait_started(self.nodes[-1], timeout_s)
        return self.address

    def add_node(
        self,
        name: str,
        num_cpus: int,
        num_gpus: float | None = None,
        resources: dict[str, float] | None = None,
        timeout_s: float = 60.0,
    ) -> RayNode:
        """Start a worker node attached to the head with its own CPU count and resources; it is
        up when this returns, registered with the cluster soon after (see `wait_for_nodes`)."""
        assert self.address is not None, "start() the head first"
        node = self._spawn(
            name, [f"--address={self.address}", "--node-ip-address=127.0.0.1"],
            num_cpus, num_gpus, resources,
        )  # fmt: skip
        self._wait_started(node, timeout_s)  # nodes must not start at once: they pick socket
        return node  # names in the shared session dir by probing (a race)

    def alive_markers(self, at_least: int = 0, timeout_s: float = 60.0) -> set[str]:
        """Marker resources of the nodes the cluster counts alive, once there are `at_least`."""
        code = (
            "import json, time, ray\n"
            f"ray.init(address={self.address!r}, log_to_driver=False)\n"
            f"deadline = time.monotonic() + {timeout_s}\n"
            "while True:\n"
            "    alive = [list(n['Resources']) for n in ray.nodes() if n['Alive']]\n"
            f"    if len(alive) >= {at_least} or time.monotonic() > deadline: break\n"
            "    time.sleep(0.2)\n"
            "print(json.dumps(alive))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
            timeout=timeout_s + 60,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"cannot reach the Ray cluster at {self.address}: {out.stderr}")
        nodes = json.loads(out.stdout.strip().splitlines()[-1])
        return {r for res in nodes for r in res if r.startswith("htnode_")}

    def wait_for_nodes(self, n: int, timeout_s: float = 60.0) -> None:
        """Block until `n` nodes are alive in the cluster (or raise, naming the logs)."""
        if len(self.alive_markers(n, timeout_s)) < n:
            raise RuntimeError(f"Ray cluster did not reach {n} nodes; logs in {self.temp_dir}")

    def stop(self) -> None:
        """Kill every node (workers first, then the head) and remove the temp dir."""
        for node in reversed(self.nodes):
            if node.alive:
                node.kill()
        self.nodes.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["FAST_FAILURE_ENV", "LocalRayCluster", "RayNode"]

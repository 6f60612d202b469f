"""What learning from peers costs: 2 worker processes on one study, instant evaluations.

Each worker runs `--trials` trials of regularized evolution on a 10^6-point space (cache off, so
every trial is a real store round trip) against one study, started together. Three modes:
  - `sync`: the loop as shipped: before each ask `PeerSync.sync()` reads the peers' news
    (trials finished since the cursor, peers' running proposals) and tells the searcher;
  - `none`: `PeerSync.sync` disabled (each worker learns only its own trials, as before);
  - `replay`: the naive alternative, a full `store.trials.list(study)` read before each ask (the cost
    of re-reading everything instead of what is new), results not used.
Reported per mode and backend: loop wall time per trial per worker, the mean / p95 cost of the
per-ask step, that cost over the first and last 100 asks (flat = O(new trials), growing = O(all)),
and how many peer trials each worker observed. Step times are wall clock; on a loaded machine
compare modes within one run.

Second table, cost against study size (one process): a study holding K = 1,000 and 10,000 trials
finished by a peer (bulk-inserted), then the median of 30 repeats of: `peer_news` with nothing
new, `PeerSync.sync()` with 1 new peer trial (the per-ask cost in steady state), and the full
`store.trials` read that a replay-per-ask design would pay. CPU ms (thread time) and wall ms.
Writes `benchmarks/results/peer_learning.json`.

Usage: ``.venv/bin/python benchmarks/peer_learning.py [--trials 500] [--backends sqlite,postgres]
[--quick] [--json PATH]``
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pyglove as pg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness.cli import parser, postgres_database, write_json  # noqa: E402

from hashtune import FunctionEvaluator, Space, Study  # noqa: E402
from hashtune.peer_sync import PeerSync  # noqa: E402
from hashtune.store.base import utcnow  # noqa: E402
from hashtune.vocabulary import TrialState  # noqa: E402

MODES = ("none", "sync", "replay")


def space() -> Space:
    """Six decisions of ten values each (10^6 DNA)."""
    return Space(pg.Dict(**{k: pg.oneof(list(range(10))) for k in "abcdef"}), name="bench6")


def score(c: Any) -> float:
    return -float(sum((c[k] - i) ** 2 for i, k in enumerate("abcdef")))


def evaluator() -> FunctionEvaluator:
    return FunctionEvaluator(score)


def worker(url: str, name: str, trials: int, mode: str, start_at: float) -> dict[str, Any]:
    """One worker process: time each per-ask step, run the loop, report as JSON."""
    study = Study.load(name, storage=url)
    costs: list[float] = []
    cpu: list[float] = []
    real = PeerSync.sync

    def timed(self: PeerSync) -> int:
        t, c = time.perf_counter(), time.thread_time()
        if mode == "sync":
            n = real(self)
        elif mode == "replay":
            store = self.store
            store.trials.list(self.study_id)
            n = 0
        else:
            n = 0
        costs.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
        return n

    PeerSync.sync = timed  # type: ignore[method-assign]
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.perf_counter()
    study.optimize(n_trials=trials)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "costs": costs, "cpu": cpu, "observed": study.peers.observed}


def run_mode(url: str, mode: str, trials: int) -> dict[str, Any]:
    name = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    Study.create(
        name, space="peer_learning:space",
        evaluator="peer_learning:evaluator", searcher="regularized_evolution", storage=url,
        cache={"enabled": False},
    )  # fmt: skip
    start_at = time.time() + 8.0  # both processes import, then start together
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, __file__, "--worker", url, name, str(trials), mode, str(start_at)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    costs = [c * 1e3 for o in outs for c in o["costs"]]
    first = [c * 1e3 for o in outs for c in o["costs"][:100]]
    last = [c * 1e3 for o in outs for c in o["costs"][-100:]]
    return {
        "mode": mode,
        "trials_per_worker": trials,
        "ms_per_trial": statistics.mean(o["wall_s"] / trials * 1e3 for o in outs),
        "step_mean_ms": statistics.mean(costs),
        "step_cpu_ms": statistics.mean(c * 1e3 for o in outs for c in o["cpu"]),
        "step_p95_ms": statistics.quantiles(costs, n=20)[-1],
        "step_first100_ms": statistics.mean(first),
        "step_last100_ms": statistics.mean(last),
        "observed_per_worker": statistics.mean(o["observed"] for o in outs),
    }


def _bulk_peer_trials(study: Study, first: int, n: int, rng: random.Random) -> None:
    """Add `n` trials finished by a peer (numbers follow the study's last, from `first`)."""
    rows = [
        dict(
            state=TrialState.COMPLETE, candidate="c",
            dna=study.space.dna_to_json(study.space.random_dna(rng)), params={},
            values=[float(i)], worker="peer", finished_at=utcnow(),
        )
        for i in range(first, first + n)
    ]  # fmt: skip
    store = study.store
    store.trials.add_finished(study.study_id, rows)


def _timed(fn: Any, repeats: int = 30) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.thread_time(), time.perf_counter()
        fn()
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3


def scaling(url: str, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per-ask cost of learning from peers against the size of the study."""
    rng = random.Random(0)
    return [_scale_one(url, k, rng) for k in sizes]


def _scale_one(url: str, k: int, rng: random.Random) -> dict[str, Any]:
    study = Study.create(
        f"scale-{k}-{uuid.uuid4().hex[:6]}", space="peer_learning:space",
        evaluator="peer_learning:evaluator", searcher="regularized_evolution", storage=url,
        cache={"enabled": False},
    )  # fmt: skip
    for start in range(0, k, 2000):
        _bulk_peer_trials(study, start, min(2000, k - start), rng)
    peers = PeerSync(study.store, study.study_id, "me", study.space, study.searcher)
    peers.cursor = 0
    peers.sync()  # a late joiner catching up once (not timed)
    store = study.store
    nothing = _timed(lambda: store.workers.peer_news(study.study_id, peers.cursor, "me"))
    cpu, wall = [], []
    for i in range(30):  # one new peer trial per ask; only the sync is timed
        _bulk_peer_trials(study, k + i, 1, rng)
        c, w = time.thread_time(), time.perf_counter()
        assert peers.sync() == 1
        cpu.append(time.thread_time() - c)
        wall.append(time.perf_counter() - w)
    synced = statistics.median(cpu) * 1e3, statistics.median(wall) * 1e3
    replay = _timed(lambda: store.trials.list(study.study_id), repeats=5)
    return {"trials": k, "news_empty": nothing, "sync_1_new": synced, "replay": replay}


def main() -> None:
    ap = parser(__doc__, "peer_learning", seed=None)
    ap.add_argument("--trials", type=int, default=500, help="trials per worker")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--sizes", default="1000,10000", help="study sizes of the second table")
    ap.add_argument("--modes", default=",".join(MODES), help="comma list of none, sync, replay")
    args = ap.parse_args()
    if args.quick:  # seconds: SQLite, the shipped mode, a few trials, a small study
        args.trials, args.backends, args.sizes, args.modes = 10, "sqlite", "50", "sync"
    rows, scale = [], []
    sizes = tuple(int(x) for x in args.sizes.split(","))
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="peer_learning_") as tmp:
            if backend == "sqlite":
                url, cleanup = f"sqlite:///{tmp}/bench.db", None
            else:
                made = postgres_database("ht_sync_bench", admin_db="test")
                if made is None:
                    continue
                url, cleanup = made
            try:
                for mode in args.modes.split(","):
                    rows.append({"backend": backend, **run_mode(url, mode, args.trials)})
                    print(f"  done {backend} {mode}", file=sys.stderr)
                scale += [{"backend": backend, **r} for r in scaling(url, sizes)]
            finally:
                if cleanup is not None:
                    cleanup()
    print(f"2 workers x {args.trials} trials, regularized evolution, instant evaluations")
    head = f"{'backend':<9}{'mode':<7}{'ms/trial':>9}{'step ms':>8}{'cpu':>7}{'p95':>7}"
    print(head + f"{'1st100':>8}{'last100':>8}{'observed':>9}{'vs none':>8}")
    base = {r["backend"]: r["ms_per_trial"] for r in rows if r["mode"] == "none"}
    for r in rows:
        print(
            f"{r['backend']:<9}{r['mode']:<7}{r['ms_per_trial']:>9.2f}{r['step_mean_ms']:>8.2f}"
            f"{r['step_cpu_ms']:>7.2f}{r['step_p95_ms']:>7.2f}{r['step_first100_ms']:>8.2f}"
            f"{r['step_last100_ms']:>8.2f}{r['observed_per_worker']:>9.0f}"
            f"{r['ms_per_trial'] / base.get(r['backend'], math.nan):>7.2f}x"
        )
    print("\nper-ask cost vs study size, median ms (cpu / wall)")
    print(f"{'backend':<9}{'trials':>7}{'news, 0 new':>18}{'sync, 1 new':>18}{'full replay':>20}")
    for r in scale:
        cells = "".join(
            f"{r[k][0]:>9.2f} /{r[k][1]:>7.2f}" for k in ("news_empty", "sync_1_new", "replay")
        )
        print(f"{r['backend']:<9}{r['trials']:>7}{cells}")
    record = {"trials_per_worker": args.trials, "rows": rows, "scaling": scale}
    write_json(record, args.json)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, name, trials, mode, start_at = sys.argv[2:7]
        print(json.dumps(worker(url, name, int(trials), mode, float(start_at))))
    else:
        main()

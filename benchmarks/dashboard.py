"""Dashboard at scale: every endpoint and page of a 100,000-trial study, median and p95.

Fills a store with `--trials` finished trials through the store's own bulk API
(`Store.add_finished_trials`: NB201-like categorical params, two objectives, ~40% cache hits
pointing at the trial that paid, a lineage parent each, 10 intermediate values on 5% of trials,
8 workers, a few hundred audits), serves it with uvicorn in this process and times each API
endpoint and HTML page over HTTP (`--repeat` requests each). With Chromium present it also times
each page in the browser until its charts are drawn (`body[data-loaded]`).

`--optuna` also exports the same trials to an Optuna journal storage and times optuna-dashboard's
study list and study endpoints on them (its study endpoint returns every trial).

Prints an 80-column table and writes benchmarks/results/dashboard.json.
Usage: ``.venv/bin/python benchmarks/dashboard.py [--trials 100000] [--repeat 7] [--optuna]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
import zlib
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dashboard_data import Server  # noqa: E402

from hashtune.store import Store  # noqa: E402

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ["op_0_1", "op_0_2", "op_1_2", "op_0_3", "op_1_3", "op_2_3"]
RESULTS = Path(__file__).resolve().parent / "results"


def make_rows(n: int, seed: int = 0) -> list[dict]:
    """`n` finished NB201-like trials with two objectives, cache hits, lineage, some curves."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1)
    paid: dict[str, int] = {}
    rows = []
    for i in range(n):
        ops = [rng.choice(OPS) for _ in EDGES]
        fhash = f"h{zlib.crc32(repr(ops[:4]).encode()) % 4000}"  # ~600 functions: many repeats
        acc = 60 + 35 * rng.random()
        flops = 10 + 100 * rng.random()
        start = t0 + timedelta(seconds=i * 0.2)
        hit = fhash in paid and rng.random() < 0.9
        state = "CACHED" if hit else ("FAILED" if rng.random() < 0.02 else "COMPLETE")
        rows.append({
            "state": state,
            "candidate": json.dumps({"_type": "hashtune.spaces.nas_bench_201.Cell", **dict(zip(EDGES, ops, strict=True))}),
            "params": dict(zip(EDGES, ops, strict=True)),
            "values": None if state == "FAILED" else [acc, flops],
            "started_at": start,
            "finished_at": start + timedelta(seconds=0.01 if hit else 1.5 * rng.random()),
            "functional_hash": fhash, "task": "bench", "worker": f"worker-{i % 8}",
            "parents": [rng.randrange(i)] if i else [], "mutation": f"edge_op:{rng.choice(EDGES)}",
            "cached_from": paid.get(fhash) if hit else None,
            "intermediate": [(s, acc * (s + 1) / 10) for s in range(10)] if i % 20 == 0 else [],
            "error": "boom" if state == "FAILED" else None,
        })  # fmt: skip
        if state == "COMPLETE":
            paid.setdefault(fhash, i)
    return rows


def fill(store: Store, name: str, rows: list[dict]) -> tuple[int, int]:
    """A study of `rows` through the store's bulk API; returns (study id, a cached trial's id)."""
    study = store.create_study(
        name,
        ["maximize", "minimize"],
        {"objectives": ["accuracy", "flops"], "searcher": {"name": "regularized_evolution"},
         "space": {"name": "nas_bench_201"}},
    )  # fmt: skip
    for k in range(0, len(rows), 20000):
        store.add_finished_trials(study.id, rows[k : k + 20000])
    hits = store.trials_page(study.id, _flt("CACHED"), per_page=300)["rows"]
    for r in hits:
        store.cache_audit(name, r["functional_hash"], r["id"], [80.0, 50.0], [80.1, 50.0])
    return study.id, hits[0]["id"]


def _flt(state: str):
    from hashtune.store.dashboard_trials import TrialFilter

    return TrialFilter(states=(state,))


def timed(url: str, repeat: int) -> tuple[float, float, float, int]:
    """Median and p95 seconds of `repeat` GETs of `url`, the first one's, and the size in bytes.

    Repeats of a heavy endpoint are served from the dashboard's memo; the first is computed.
    """
    times, size = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as r:
            size = len(r.read())
        times.append(time.perf_counter() - t)
    first = times[0]
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))], first, size


def browser_times(base: str, paths: list[str], repeat: int) -> dict[str, tuple[float, float]]:
    """Seconds from navigation until the page's charts are drawn, in headless Chromium."""
    if not Path("/usr/bin/chromium").exists():
        return {}
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
    out = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = b.new_page(viewport={"width": 1300, "height": 900})
        for path in paths:
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                page.goto(base + path)
                page.wait_for_selector("body[data-loaded]", timeout=60000)
                times.append(time.perf_counter() - t)
            first = times[0]
            times.sort()
            out[path] = (statistics.median(times), times[int(0.95 * (len(times) - 1))], first)
        b.close()
    return out


def optuna_export(rows: list[dict], path: str) -> tuple[object, float]:
    """The same trials in an Optuna journal storage (values, params, state); (storage, seconds)."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t = time.perf_counter()
    storage = JournalStorage(JournalFileBackend(path))
    study = optuna.create_study(
        study_name="bench", storage=storage, directions=["maximize", "minimize"]
    )
    dist = {e: CategoricalDistribution(OPS) for e in EDGES}
    fail, ok = optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE
    study.add_trials([
        optuna.trial.create_trial(params=r["params"], distributions=dist, values=r["values"],
                                  state=fail if r["values"] is None else ok)
        for r in rows
    ])  # fmt: skip
    return storage, time.perf_counter() - t


def serve_optuna_dashboard(storage: object) -> tuple[str, object]:
    """optuna-dashboard's WSGI app on a free port in a thread."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from dashboard_data import free_port
    from optuna_dashboard import wsgi

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    httpd = make_server("127.0.0.1", port, wsgi(storage), handler_class=Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", httpd


def short(path: str, *ids: int) -> str:
    for i in ids:
        path = path.replace(f"/{i}?", "/ID?").replace(f"/{i}/", "/ID/")
        path = path[: -len(str(i))] + "ID" if path.endswith(f"/{i}") else path
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--storage", default=None, help="store URL (default: a fresh SQLite file)")
    ap.add_argument("--optuna-trials", type=int, default=0,
                    help="also time optuna-dashboard and us on a study of this many trials")  # fmt: skip
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ht_dashboard_bench_")
    url = args.storage or f"sqlite:///{tmp}/bench.db"
    store = Store(url)
    rows_in = make_rows(args.trials)
    t = time.perf_counter()
    sid, hit = fill(store, "bench", rows_in)
    fill_s = time.perf_counter() - t
    print(f"filled {args.trials} trials in {fill_s:.1f} s ({url.split(':')[0]})")
    small = (
        fill(store, "bench-small", rows_in[: args.optuna_trials])[0] if args.optuna_trials else 0
    )
    server = Server(url)
    base = server.base
    api = ["/studies", f"/studies/{sid}", f"/studies/{sid}/history", f"/studies/{sid}/params",
           f"/studies/{sid}/pareto", f"/studies/{sid}/intermediate", f"/studies/{sid}/timeline",
           f"/studies/{sid}/trials?page=1", f"/studies/{sid}/trials?page=1000&sort=value&order=desc",
           f"/studies/{sid}/trials?state=CACHED&value_min=80&param=op_0_1&param_value=none",
           f"/studies/{sid}/hashing", f"/studies/{sid}/updates", f"/trials/{hit}"]  # fmt: skip
    pages = ["/", f"/studies/{sid}", f"/studies/{sid}/hashing", f"/trials/{hit}"]
    rows = [("api " + short(p, sid, hit), *timed(base + "/api" + p, args.repeat)) for p in api]
    rows += [("html " + short(p, sid, hit), *timed(base + p, args.repeat)) for p in pages]
    if not args.no_browser:
        server.stop()
        server = Server(url)  # an empty memo: each page's first load in the browser is cold
        base = server.base
        for p, (med, p95, first) in browser_times(base, pages, max(3, args.repeat // 2)).items():
            rows.append(("browser " + short(p, sid, hit), med, p95, first, 0))
    peer = []
    if small:
        n = args.optuna_trials
        for p in [
            f"/studies/{small}/history",
            f"/studies/{small}/trials?page=1",
            f"/studies/{small}/params",
        ]:
            peer.append(
                (f"ours@{n} api " + short(p, small), *timed(base + "/api" + p, args.repeat))
            )
        storage, export_s = optuna_export(rows_in[:n], f"{tmp}/optuna.log")
        print(f"exported {n} trials to an Optuna journal in {export_s:.1f} s")
        obase, httpd = serve_optuna_dashboard(storage)
        listing = json.loads(urllib.request.urlopen(obase + "/api/studies").read())
        osid = listing["study_summaries"][0]["study_id"]
        for p in [
            "/api/studies",
            f"/api/studies/{osid}?after=0",
            f"/api/studies/{osid}/param_importances",
        ]:
            peer.append(
                (
                    f"optuna-dashboard@{n} " + short(p, osid),
                    *timed(obase + p, max(3, args.repeat // 2)),
                )
            )
        httpd.shutdown()
    server.stop()
    print(
        f"{'endpoint (' + str(args.trials) + ' trials)':<52} {'median s':>8} {'p95 s':>8} {'KiB':>8}"
    )
    print("-" * 80)
    for name, med, p95, first, size in rows + peer:
        print(f"{name[:46]:<46} {med:>8.3f} {p95:>7.3f} {first:>7.3f} {size / 1024:>8.1f}")
    print("-" * 80)
    print(
        f"slowest at {args.trials} trials: p95 {max(r[2] for r in rows):.3f} s, "
        f"first request {max(r[3] for r in rows):.3f} s (target < 2 s)"
    )
    if peer:
        ours = [r[1] for r in peer[:3]]
        print(f"optuna-dashboard study endpoint (all trials) / ours (history + first page): "
              f"{peer[4][1] / (ours[0] + ours[1]):.1f}x; importance: {peer[5][1] / ours[2]:.1f}x")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = {"trials": args.trials, "storage": url.split(":")[0], "fill_s": fill_s,
           "rows": [dict(zip(("endpoint", "median_s", "p95_s", "first_s", "bytes"), r, strict=True)) for r in rows + peer]}  # fmt: skip
    (RESULTS / "dashboard.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

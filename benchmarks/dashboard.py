"""Dashboard at scale: every endpoint and page of a 100,000-trial study, SQLite and PostgreSQL.

Fills a store on each backend with `--trials` finished trials through the store's own bulk API
(`Store.add_finished_trials`: NB201-like categorical params, two objectives, ~40% cache hits
pointing at the trial that paid, a lineage parent each, 10 intermediate values on 5% of trials,
8 workers, 300 audits), serves it with uvicorn in this process and times:

- every API endpoint over HTTP: `cold` is its first request on a freshly started server (nothing
  memoised), then `--repeat` more requests give the warm median and p95;
- every page in headless Chromium (/usr/bin/chromium via Playwright), from `page.goto` until the
  page marks itself loaded (`body[data-loaded]`: the studies table filled; on a study page the
  summary, every chart in the first 1300x900 screen drawn by Plotly and the trials table filled
  (charts further down draw when scrolled to); on trial and hashing pages every chart drawn).
  `cold`: a freshly started server without start-up priming (its imports done, nothing
  memoised) and a new browser context (empty HTTP cache: Plotly's 1.2 MB basic bundle is fetched
  and compiled); warm: `--repeat` reloads; `primed`: a fresh server after its start-up priming
  (the recent studies' views memoised, as `hashtune dashboard` does) and a new browser context.
  `scroll`: on the study page, from scrolling to the bottom until all nine charts are drawn.

optuna-dashboard on the same trials (exported): benchmarks/dashboard_vs_optuna.py.

The machine is shared: the load average is printed and saved with the results.
Prints an 80-column table and writes benchmarks/results/dashboard.json.
Usage: ``.venv/bin/python benchmarks/dashboard.py [--trials 100000] [--repeat 5] [--quick]
[--no-postgres] [--no-browser] [--json PATH]``
"""

from __future__ import annotations

import json
import math
import os
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_data import Server  # noqa: E402
from harness.cli import parser, write_json  # noqa: E402

from hashtune.store import Store  # noqa: E402
from hashtune.store.models import Trial  # noqa: E402
from hashtune.vocabulary import Direction, TrialState  # noqa: E402

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ["op_0_1", "op_0_2", "op_1_2", "op_0_3", "op_1_3", "op_2_3"]


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
        state = (
            TrialState.CACHED
            if hit
            else (TrialState.FAILED if rng.random() < 0.02 else TrialState.COMPLETE)
        )
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
    study = store.studies.create(
        name,
        [Direction.MAXIMIZE, Direction.MINIMIZE],
        {"objectives": ["accuracy", "flops"], "searcher": {"name": "regularized_evolution"},
         "space": {"name": "nas_bench_201"}},
    )  # fmt: skip
    for k in range(0, len(rows), 20000):
        store.trials.add_finished(study.id, rows[k : k + 20000])
    hits = store.dashboard.trials_page(study.id, _flt("CACHED"), per_page=300)["rows"]
    for r in hits:
        store.cache.audit(name, r["functional_hash"], r["id"], [80.0, 50.0], [80.1, 50.0])
    return study.id, hits[0]["id"]


def _flt(state: str):
    from hashtune.store.dashboard_trials import TrialFilter

    return TrialFilter(states=(state,))


PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dash_bench"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def fresh_postgres() -> str | None:
    """Drop and recreate the `dash_bench` database; its URL, or None when PG is unreachable."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS dash_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE dash_bench")
    except Exception as e:  # noqa: BLE001 - report and go on with SQLite alone
        print(f"PostgreSQL skipped: {str(e).strip().splitlines()[0]}")
        return None
    return PG_URL


def get(url: str) -> tuple[float, int]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as r:
        size = len(r.read())
    return time.perf_counter() - t, size


def stats(times: list[float]) -> tuple[float, float]:
    """Median and p95 (nearest rank) of `times`."""
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]


def time_api(url: str, paths: list[str], repeat: int) -> dict[str, dict]:
    """Per path: the first request on a fresh server, then `repeat` more (median, p95)."""
    server = Server(url, prime=False)  # `cold` is each answer's own cost
    server.wait_warm()
    out = {}
    try:
        for p in paths:
            cold, size = get(server.base + p)
            med, p95 = stats([get(server.base + p)[0] for _ in range(repeat)])
            out[p] = {"cold_s": cold, "median_s": med, "p95_s": p95, "bytes": size}
    finally:
        server.stop()
    return out


def time_pages(url: str, pages: list[str], repeat: int, scroll: str) -> dict[str, dict]:
    """Per page: `cold`, the first visit on a server started without priming (nothing memoised)
    in a new browser context (nothing cached), then `repeat` warm reloads; `primed`, the first
    visit in another new context on a fresh server once its start-up priming is done (what a
    user sees a few seconds after `hashtune dashboard`), with the seconds the priming took."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for path in pages:
            errors: list[str] = []
            for primed in (False, True):
                ctx = browser.new_context(viewport={"width": 1300, "height": 900})
                page = ctx.new_page()
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                server = Server(url, prime=primed)
                try:
                    server.wait_warm()
                    if primed:
                        prime_s = server.wait_primed()
                        out[path].update(primed_s=load(page, server.base + path), prime_s=prime_s)
                        continue
                    times = [load(page, server.base + path) for _ in range(repeat + 1)]
                    med, p95 = stats(times[1:])
                    out[path] = {"cold_s": times[0], "median_s": med, "p95_s": p95}
                    if path == scroll:
                        out[path]["scroll_s"] = scroll_all(page)
                    if path == pages[-1]:
                        out["Plotly alone, new context"] = plotly_alone(browser, server.base)
                finally:
                    server.stop()
                    ctx.close()
            if errors:
                out[path]["errors"] = errors
        browser.close()
    return out


def plotly_alone(browser, base: str) -> dict[str, float]:
    """An empty page that only loads and runs the basic Plotly bundle: the floor of a first visit."""
    html = (
        "<html><body><script>const s = document.createElement('script');"
        "s.src = '/plotly-basic.min.js'; s.onload = () => document.body.dataset.loaded = '1';"
        "document.head.append(s);</script></body></html>"
    )
    ctx = browser.new_context()
    page = ctx.new_page()
    page.route(
        "**/plotly-probe", lambda route, _req: route.fulfill(body=html, content_type="text/html")
    )
    times = [load(page, base + "/plotly-probe") for _ in range(3)]
    ctx.close()
    med, p95 = stats(times[1:])
    return {"cold_s": times[0], "median_s": med, "p95_s": p95, "primed_s": times[0]}


def load(page, url: str) -> float:
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", timeout=120000)
    return time.perf_counter() - t


def scroll_all(page) -> float:
    """Seconds from scrolling down the study page until every visible chart is drawn."""
    t = time.perf_counter()
    height = page.evaluate("document.body.scrollHeight")
    for y in range(0, height + 900, 450):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].filter((n) => n.offsetParent !== null)"
        ".every((n) => n.dataset.drawn)",
        timeout=120000,
    )
    return time.perf_counter() - t


def short(path: str, sid: int, hit: int) -> str:
    path = path.replace(f"/studies/{sid}", "/studies/ID").replace(f"/trials/{hit}", "/trials/HIT")
    return path.replace("param=op_0_1&param_value=none", "param=..")


def run_backend(name: str, url: str, rows_in: list[dict], repeat: int, browser: bool) -> dict:
    store = Store(url)
    t = time.perf_counter()
    sid, hit = fill(store, "bench", rows_in)
    fill_s = time.perf_counter() - t
    store.close()
    print(f"{name}: filled {len(rows_in)} trials in {fill_s:.1f} s", flush=True)
    if url.startswith("postgresql"):
        import psycopg

        dbname = url.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN.replace("dbname=postgres", f"dbname={dbname}")) as conn:
            conn.autocommit = True  # what autovacuum does after a bulk load:
            conn.execute(f"VACUUM ANALYZE {Trial.__tablename__}")
    api = ["/studies", f"/studies/{sid}", f"/studies/{sid}/history", f"/studies/{sid}/params",
           f"/studies/{sid}/pareto", f"/studies/{sid}/intermediate",
           f"/studies/{sid}/timeline?last=400", f"/studies/{sid}/trials?page=1",
           f"/studies/{sid}/trials?page=1000&sort=value&order=desc",
           f"/studies/{sid}/trials?state=CACHED&value_min=80&param=op_0_1&param_value=none",
           f"/studies/{sid}/hashing", f"/studies/{sid}/updates", f"/trials/{hit}"]  # fmt: skip
    pages = ["/", f"/studies/{sid}", f"/trials/{hit}", f"/studies/{sid}/hashing"]
    out = {"fill_s": fill_s, "rows": {}}
    for p, r in time_api(url, ["/api" + p for p in api], repeat).items():
        out["rows"]["api " + short(p[4:], sid, hit)] = r
    if browser:
        for p, r in time_pages(url, pages, repeat, f"/studies/{sid}").items():
            out["rows"]["page " + short(p, sid, hit) if p.startswith("/") else p] = r
    return out


def table(trials: int, results: dict[str, dict], load: tuple) -> list[str]:
    """API rows (cold, warm median, p95 per backend), then page rows (first visit cold and
    primed, warm median, p95 per backend); 80 columns."""
    backends = list(results)
    names = list(dict.fromkeys(n for r in results.values() for n in r["rows"]))
    sub = " " * 36 + "".join(f"  {('-- ' + b + ' --'):^20}" for b in backends)
    lines = [sub, f"{'API (' + str(trials) + ' trials), s':<30}{'KiB':>6}"
             + "".join(f"  {'cold':>6} {'med':>6} {'p95':>6}" for _ in backends), "-" * 80]  # fmt: skip
    for n in (n for n in names if n.startswith("api ")):
        first = next(r["rows"][n] for r in results.values() if n in r["rows"])
        line = f"{n[4:34]:<30}{first['bytes'] / 1024:>6.0f}"
        for b in backends:
            r = results[b]["rows"].get(n)
            line += (
                f"  {r['cold_s']:>6.2f} {r['median_s']:>6.2f} {r['p95_s']:>6.2f}" if r else " " * 22
            )
        lines.append(line)
    pages = [n for n in names if not n.startswith("api ")]
    if pages:
        sub = " " * 28 + "".join(f" {('-- ' + b + ' --'):^25}" for b in backends)
        lines += ["", sub, f"{'page in Chromium, s':<28}"
                  + "".join(f" {'cold':>6}{'primed':>7}{'med':>6}{'p95':>6}" for _ in backends), "-" * 80]  # fmt: skip
        for n in pages:
            line = f"{n.removeprefix('page ')[:28]:<28}"
            for b in backends:
                r = results[b]["rows"].get(n)
                line += (f" {r['cold_s']:>6.2f}{r['primed_s']:>7.2f}{r['median_s']:>6.2f}"
                         f"{r['p95_s']:>6.2f}" if r else " " * 26)  # fmt: skip
            lines.append(line)
            if any("scroll_s" in results[b]["rows"].get(n, {}) for b in backends):
                line = f"{'  then scroll: all 9 charts':<28}"
                for b in backends:
                    r = results[b]["rows"].get(n, {})
                    line += f" {r.get('scroll_s', float('nan')):>6.2f}{'':>19}"
                lines.append(line)
    primes = [
        f"{b} {r['rows'][n]['prime_s']:.1f} s" for b, r in results.items() for n in pages[:1]
        if "prime_s" in r["rows"].get(n, {})
    ]  # fmt: skip
    if primes:
        lines.append("start-up priming of the views (then `primed`): " + ", ".join(primes))
    lines.append("optuna-dashboard on the same trials: benchmarks/dashboard_vs_optuna.py")
    lines.append("-" * 80)
    lines.append(f"load average {load[0]:.1f} at start, {load[1]:.1f} at end, on {os.cpu_count()} CPUs "
                 "(shared machine); target: pages < 2 s")  # fmt: skip
    return lines


def main() -> None:
    """Fill each backend, time every endpoint and page, print the table, write the JSON."""
    ap = parser(__doc__, "dashboard", seed=None)
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    if args.quick:  # seconds: a small SQLite study, the API only, one warm repeat
        args.trials, args.repeat, args.no_postgres, args.no_browser = 300, 1, True, True
    browser = not args.no_browser and Path("/usr/bin/chromium").exists()
    load_start = os.getloadavg()[0]
    rows_in = make_rows(args.trials)
    tmp = tempfile.mkdtemp(
        prefix="dash_bench_", dir="/tmp/dash" if Path("/tmp/dash").is_dir() else None
    )
    backends = {"SQLite": f"sqlite:///{tmp}/bench.db"}
    pg = None if args.no_postgres else fresh_postgres()
    if pg:
        backends["PostgreSQL"] = pg
    results = {b: run_backend(b, url, rows_in, args.repeat, browser) for b, url in backends.items()}
    load = (load_start, os.getloadavg()[0])
    print("\n".join(table(args.trials, results, load)))
    out = {"trials": args.trials, "repeat": args.repeat, "load_average": load,
           "cpus": os.cpu_count(), "optuna_dashboard": "see benchmarks/dashboard_vs_optuna.py", "backends": results}  # fmt: skip
    write_json(out, args.json, indent=2)


if __name__ == "__main__":
    main()

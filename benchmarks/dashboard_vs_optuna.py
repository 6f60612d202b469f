"""optuna-dashboard and hashtune's dashboard side by side on the same trials.

Fills a SQLite store with `--trials` finished trials (`benchmarks/dashboard.py`'s NB201-like rows:
two objectives, cache hits, lineage, some intermediate values), or reuses the study `bench` of
`--store URL`, exports it to an Optuna journal file (`hashtune.optuna_export`, timed), then starts
both servers as the user would (`optuna-dashboard JOURNAL --port P`, `hashtune dashboard
--storage URL --port P2`) and times:

- server start: from launch until its first API answer (optuna-dashboard replays the journal);
- each JSON API call: `cold` is the first request after start, then `--repeat` more give the
  median and p95 (none when the first took over SLOW_S = 20 s: median = p95 = first).
  optuna-dashboard's study detail is the one call its pages draw everything from (every trial
  in it); hashtune's pages ask for aggregated or paged pieces;
- each page in headless Chromium (/usr/bin/chromium via Playwright, no browser download): `first`
  is a new browser context (nothing cached), then `--repeat` reloads (none after a first visit
  over PAGE_SLOW_S = 60 s). A page counts as loaded when its content is drawn: hashtune marks
  `body[data-loaded]`; optuna-dashboard's studies list when the study's link shows, its study
  page when the history and Pareto charts have points, its trial list when a "Trial N" shows
  (0.21 has no trials table in its menu; hashtune's study page holds its table). A page
  that does not draw within `--timeout` s is "timeout".

The machine is shared: `uptime` is recorded at the start, after the export and at the end.
Usage: ``.venv/bin/python benchmarks/dashboard_vs_optuna.py [--trials 100000] [--repeat 3]
[--json PATH] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from dashboard import fill, make_rows, stats  # noqa: E402

from hashtune.optuna_export import export_to_optuna  # noqa: E402
from hashtune.store import Store  # noqa: E402
from hashtune.view import StudyView  # noqa: E402

BIN = Path(sys.executable).parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
LOADED = "document.body.dataset.loaded !== undefined"
OD_LIST = "!!document.querySelector('a[href$=\"/dashboard/studies/0\"]')"
OD_STUDY = (
    "['plot-history', 'graph-pareto-front'].every((id) => document.querySelector(`#${id} .point`))"
)
OD_LIST_TRIALS = "/Trial \\d+/.test(document.body.innerText)"
#: A first request (page visit) slower than this gets no repeats: its median is its own time.
SLOW_S, PAGE_SLOW_S = 20.0, 60.0


def uptime() -> str:
    """`uptime`'s load averages (1, 5, 15 min) on this machine's CPU count."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, timeout: float) -> tuple[float, int]:
    """Seconds and bytes of one GET of `url`."""
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        size = len(r.read())
    return time.perf_counter() - t, size


class Server:
    """A dashboard process started from its command line; `start_s` is launch to first answer."""

    def __init__(self, cmd: list[str], ready_path: str, port: int, timeout: float) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()
        t = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            try:
                fetch(self.base + ready_path, timeout)
                break
            except OSError as e:
                if self.proc.poll() is not None or time.perf_counter() - t > timeout * 5:
                    self.log.seek(0)
                    raise RuntimeError(
                        f"{cmd[0]} did not start: {self.log.read()[-2000:]!r}"
                    ) from e
                time.sleep(0.2)
        self.start_s = time.perf_counter() - t

    def rss_mib(self) -> float:
        """Resident memory of the server process, MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def time_api(base: str, path: str, repeat: int, timeout: float) -> dict:
    """The first request, then `repeat` more (median, p95); "timeout" when one takes too long."""
    try:
        cold, size = fetch(base + path, timeout)
        n = repeat if cold < SLOW_S else 0
        med, p95 = stats([fetch(base + path, timeout)[0] for _ in range(n)] or [cold])
    except (TimeoutError, OSError) as e:
        return {"path": path, "timeout": str(e)}
    return {"path": path, "cold_s": cold, "median_s": med, "p95_s": p95, "bytes": size}


def time_page(browser, url: str, ready_js: str, repeat: int, timeout: float) -> dict:
    """First visit in a new context, then `repeat` reloads, each until `ready_js` holds."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)[:200]))
    times: list[float] = []
    try:
        for _ in range(repeat + 1):
            if times and times[0] > PAGE_SLOW_S:
                break
            t = time.perf_counter()
            page.goto(url, timeout=timeout * 1000)
            page.wait_for_function(ready_js, timeout=timeout * 1000, polling=50)
            times.append(time.perf_counter() - t)
    except PlaywrightTimeout:
        return {"url": url, "timeout": timeout, "errors": errors, "done_s": times}
    finally:
        ctx.close()
    med, p95 = stats(times[1:] or times)
    return {"url": url, "cold_s": times[0], "median_s": med, "p95_s": p95, "errors": errors}


def prepare(args: argparse.Namespace, work: Path) -> tuple[str, int, float | None]:
    """The store URL, the study id and the fill seconds (None when an existing study is reused)."""
    url = args.store or f"sqlite:///{work}/bench.db"
    store = Store(url)
    try:
        if "bench" in {s.name for s in store.studies.list()}:
            return url, StudyView.open("bench", store).study_id, None
        t = time.perf_counter()
        sid, _ = fill(store, "bench", make_rows(args.trials))
        fill_s = time.perf_counter() - t
        if url.startswith("postgresql"):
            analyze(url)
        return url, sid, fill_s
    finally:
        store.close()


def analyze(url: str) -> None:
    """VACUUM ANALYZE the trials table, as PostgreSQL's autovacuum does soon after a bulk load."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE ht_trials"))
    engine.dispose()


def api_pairs(sid: int, n: int) -> list[tuple[str, str | None, str | None]]:
    """(what, optuna-dashboard path, hashtune path) for the calls each dashboard's pages make."""
    s = f"/api/studies/{sid}"
    return [
        ("studies list", "/api/studies", "/api/studies"),
        ("study detail", "/api/studies/0", s),
        ("live poll: new trials", f"/api/studies/0?after={max(n - 10, 0)}", f"{s}/updates"),
        ("param importance", "/api/studies/0/param_importances", f"{s}/params"),
        ("history chart", None, f"{s}/history"),
        ("Pareto front", None, f"{s}/pareto"),
        ("trials table, page 1", None, f"{s}/trials?page=1"),
        ("trials table, deep page", None, f"{s}/trials?page=1000&sort=value&order=desc"),
    ]


def run(args: argparse.Namespace) -> dict:
    """Everything measured, as one JSON-ready dict."""
    work = Path(tempfile.mkdtemp(prefix="optuna_dash_"))
    out: dict = {"trials": args.trials, "repeat": args.repeat, "load": {"start": uptime()}}
    url, sid, fill_s = prepare(args, work)
    store = Store(url)
    view = StudyView.open("bench", store)
    n = view.stats().proposals
    out.update(store=url, study_id=sid, trials=n, fill_s=fill_s)
    od = None if args.hashtune_only else start_optuna_dashboard(view, work, args.timeout, out)
    store.close()
    p2 = free_port()
    ht = Server([str(BIN / "hashtune"), "dashboard", "--storage", url, "--port", str(p2)],
                "/api/studies", p2, args.timeout)  # fmt: skip
    out.setdefault("servers", {})["hashtune"] = {"start_s": ht.start_s}
    try:
        out["api"] = [
            {"what": what,
             "optuna-dashboard": time_api(od.base, a, args.repeat, args.timeout)
             if a and od else None,
             "hashtune": time_api(ht.base, b, args.repeat, args.timeout) if b else None}
            for what, a, b in api_pairs(sid, n)
        ]  # fmt: skip
        out["pages"] = [] if args.no_browser else time_pages(args, od and od.base, ht.base, sid)
        for name, server in (("optuna-dashboard", od), ("hashtune", ht)):
            if server:
                out["servers"][name]["rss_mib"] = server.rss_mib()
    finally:
        for server in (od, ht):
            if server:
                server.stop()
    out["load"]["end"] = uptime()
    return out


def start_optuna_dashboard(view: StudyView, work: Path, timeout: float, out: dict) -> Server:
    """Export the study to a journal file (timed, into `out`) and serve it with optuna-dashboard."""
    journal = work / "bench.journal"
    t = time.perf_counter()
    export_to_optuna(view, str(journal))
    out["export_s"] = time.perf_counter() - t
    out["journal_mib"] = journal.stat().st_size / 2**20
    out["load"]["after_export"] = uptime()
    n = out["trials"]
    print(f"{n} trials; export to journal {out['export_s']:.1f} s; {out['load']['after_export']}")
    port = free_port()
    od = Server([str(BIN / "optuna-dashboard"), str(journal), "--host", "127.0.0.1",
                 "--port", str(port)], "/api/meta", port, timeout)  # fmt: skip
    out["servers"] = {"optuna-dashboard": {"start_s": od.start_s}}
    return od


def time_pages(args: argparse.Namespace, od: str | None, ht: str, sid: int) -> list[dict]:
    """The studies page, the study page and the trials table of each dashboard in Chromium."""
    from playwright.sync_api import sync_playwright

    pages = [
        ("studies page", (f"{od}/dashboard/", OD_LIST), (f"{ht}/", LOADED)),
        ("study page: charts + table", (f"{od}/dashboard/studies/0", OD_STUDY),
         (f"{ht}/studies/{sid}", LOADED)),
        ("trials list (optuna-d.)", (f"{od}/dashboard/studies/0/trials", OD_LIST_TRIALS), None),
    ]  # fmt: skip
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        for what, a, b in pages:
            row = {"what": what}
            for system, spec in (("optuna-dashboard", a if od else None), ("hashtune", b)):
                row[system] = time_page(browser, *spec, args.repeat, args.timeout) if spec else None
            rows.append(row)
            print(f"  {what}: done", flush=True)
        browser.close()
    return rows


def cells(r: dict | None) -> list[str]:
    """cold / median / p95 cells of one measurement ("timeout" or "-" when there is none)."""
    if r is None:
        return ["-", "", ""]
    if "timeout" in r:
        return ["timeout", "", ""]
    return [f"{r['cold_s']:.2f}", f"{r['median_s']:.2f}", f"{r['p95_s']:.2f}"]


def render(res: dict) -> str:
    """The results as rich tables, 80 columns wide."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    head = f"{res['trials']} trials in {res['store'].split(':')[0]}"
    if "export_s" in res:
        head += (f", same study; export to Optuna journal {res['export_s']:.1f} s "
                 f"({1000 * res['export_s'] / max(res['trials'], 1):.2f} ms/trial, "
                 f"{res['journal_mib']:.0f} MiB)")  # fmt: skip
    for title, rows in (("JSON API, s", res["api"]), ("page in Chromium, s", res["pages"])):
        if not rows:
            continue
        t = Table(title=title if rows is res["api"] else None, caption=None, width=80)
        t.add_column(title, ratio=3)
        first = "cold" if rows is res["api"] else "first"
        for system in ("optuna-dashboard", "hashtune"):
            for c in (first, "med", "p95"):
                t.add_column(f"{system[:8]}\n{c}" if c == first else f"\n{c}", justify="right")
        for r in rows:
            t.add_row(r["what"], *cells(r["optuna-dashboard"]), *cells(r["hashtune"]))
        console.print(t)
    srv = res["servers"]
    console.print(head)
    console.print(
        "server start (s) / memory (MiB): "
        + "; ".join(
            f"{k} {v['start_s']:.1f} / {v.get('rss_mib', float('nan')):.0f}" for k, v in srv.items()
        )  # fmt: skip
    )
    for k, v in res["load"].items():
        console.print(f"{k}: {v}")
    return console.export_text()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="per page / request, s")
    ap.add_argument("--store", help="reuse the study 'bench' of this store URL")
    ap.add_argument("--json", type=Path, help="write the results here (the table beside, .txt)")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--hashtune-only", action="store_true", help="no export, no optuna-dashboard")
    ap.add_argument("--quick", action="store_true", help="2,000 trials, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.repeat = 2000, 1
    res = run(args)
    text = render(res)
    print(text)
    if args.json:
        res["table"] = text
        args.json.write_text(json.dumps(res, indent=2, default=str))
        args.json.with_suffix(".txt").write_text(text)
        print(f"wrote {args.json} and {args.json.with_suffix('.txt')}")


if __name__ == "__main__":
    main()

"""Resuming a big study in a fresh process, per searcher: hashtune against Optuna, side by side.

A worker that joins or resumes a study starts as a new Python process, so each measurement here
is one: the library's import (`from hashtune import Study`, `import optuna`), then opening the
study (`Study.load`; `optuna.load_study` with the sampler), then the first new trial (hashtune:
`optimize(n_trials=1)`; Optuna: `ask` + the four `suggest_*` calls). Libraries a sampler needs
and imports on first use (torch and scipy for GP) fall in load / first trial, where a user
waits for them; `torch_import_s` (a bare `import torch` in its own process) says how much of
that they are. Both studies hold `--trials` finished trials of read_scale's 4-parameter space
(hashtune filled through `Study.create` + the store's bulk insert, Optuna by SQL).

`--gp-full-restore` adds a row, side by side, of the GP searcher restoring every trial into its
private study (as before it restored only the 300 the capped GP can fit on again); each row
also reports the process's peak RSS. Prints a table; writes
benchmarks/results/resume_fresh.json (`--json`).
Usage: ``.venv/bin/python benchmarks/resume_fresh.py [--trials 10000] [--searchers gp,tpe]
[--repeat 2] [--gp-full-restore] [--quick]``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

ALL = "random,regularized_evolution,tpe,nsga2,gp"
#: Searchers Optuna has a sampler for (read_scale.optuna_resume); the others get no peer row.
OPTUNA_PEERS = {"random", "tpe", "nsga2", "cmaes", "qmc", "gp"}


def one(kind: str, url: str, name: str, k: int) -> dict[str, float]:
    """In this (fresh) process: seconds of import, open and first trial."""
    t0 = time.perf_counter()
    if kind.startswith("hashtune"):
        from hashtune import Study  # what is timed

        t1 = time.perf_counter()
        import read_scale as rs

        if kind == "hashtune_full":  # the whole history into the GP's private study
            from hashtune.search.optuna_searchers import GPSearcher

            GPSearcher.restore_mask = lambda self, values: None  # type: ignore[method-assign]

        t_open = time.perf_counter()
        study = Study.load(name, storage=url, space=rs.bench_space(), evaluator=rs.evaluator(k))
        t2 = time.perf_counter()
        study.optimize(n_trials=1, show_progress=False)
        t3 = time.perf_counter()
        study.close()
        return {"import_s": t1 - t0, "load_s": t2 - t_open, "first_s": t3 - t2, "rss_mb": rss_mb()}
    import optuna  # what is timed

    t1 = time.perf_counter()
    import read_scale as rs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return {"import_s": t1 - t0, "total_s": rs.optuna_resume(url, name), "rss_mb": rss_mb()}


def rss_mb() -> float:
    """This process's peak resident memory, MB (VmHWM: unlike `ru_maxrss`, not inherited from
    the parent across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fresh(args: list[str]) -> dict[str, float]:
    """`one(...)` in a new interpreter."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_s(modules: str) -> float:
    """Seconds a bare `import <modules>` takes in its own process."""
    code = f"import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)  # fmt: skip


#: What Optuna's GPSampler imports before its first ask (torch, L-BFGS, the Sobol sampler).
GP_LIBS = "torch, scipy.optimize, scipy.stats.qmc, optuna._gp.gp"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        kind, url, name, k = sys.argv[2:6]
        print(json.dumps(one(kind, url, name, int(k))))
        return
    ap = parser(__doc__, "resume_fresh", seed=None)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--searchers", default=ALL)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--gp-full-restore", action="store_true")
    ap.add_argument(
        "--no-peer", default="", help="searchers without the Optuna row (Optuna's uncapped GP at "
        "10k trials ran 40 min, 14 GB, without reaching its first trial)",
    )  # fmt: skip
    a = ap.parse_args()
    if a.quick:
        a.trials, a.searchers, a.repeat = 50, "random,tpe", 1
    import read_scale as rs

    work = Path(tempfile.mkdtemp(prefix="resume_fresh_"))
    opt = {k: rs.optuna_fill(work / f"optuna_{k}.db", a.trials, k) for k in (1, 2)}
    rows: dict[str, dict] = {}
    for name in a.searchers.split(","):
        k = 2 if name in rs.MULTI else 1
        url = f"sqlite:///{work / f'ht_{name}.db'}"
        rs.fill_study(url, f"res_{name}", name, k, a.trials)
        peer = name in OPTUNA_PEERS and name not in a.no_peer.split(",")
        kinds = ("hashtune", "optuna") if peer else ("hashtune",)
        if name == "gp" and a.gp_full_restore:
            kinds = (*kinds, "hashtune_full")
        runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
        for rep in range(a.repeat):  # ABAB
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                args = [kind, url, f"res_{name}", str(k)] if kind != "optuna" else [
                    kind, opt[k], name, str(k)]  # fmt: skip
                runs[kind].append(fresh(args))
        rows[name] = {kind: {key: statistics.median(r[key] for r in rs_) for key in rs_[0]}
                      for kind, rs_ in runs.items()}  # fmt: skip
        print(f"  {name}: {rows[name]}", flush=True)
    out = {"trials": a.trials, "repeat": a.repeat, "torch_import_s": import_s("torch"),
           "gp_libs_import_s": import_s(GP_LIBS), "rows": rows}  # fmt: skip
    write_json(out, a.json, indent=2, announce=False)
    print_table(out)


def print_table(out: dict) -> None:
    print(f"\nfresh process, resume a {out['trials']:,}-trial study: seconds (median), peak MB")
    print(f"{'searcher':<16}{'import':>7}{'load':>7}{'first':>7}{'l+f':>7}{'MB':>6}"
          f"{'op imp':>8}{'op l+f':>8}{'op MB':>7}{'ratio':>7}")  # fmt: skip
    for name, r in out["rows"].items():
        for kind in ("hashtune", "hashtune_full"):
            if kind not in r:
                continue
            h, o = r[kind], r.get("optuna")
            lf = h["load_s"] + h["first_s"]
            peer = (f"{o['import_s']:>8.2f}{o['total_s']:>8.2f}{o.get('rss_mb', 0):>7.0f}"
                    f"{lf / o['total_s']:>7.2f}" if o else f"{'-':>8}{'-':>8}{'-':>7}{'-':>7}")  # fmt: skip
            label = {"regularized_evolution": "reg. evolution"}.get(name, name)
            label = label if kind == "hashtune" else f"{label} (all)"
            print(f"{label:<16}{h['import_s']:>7.2f}{h['load_s']:>7.2f}{h['first_s']:>7.2f}"
                  f"{lf:>7.2f}{h.get('rss_mb', 0):>6.0f}{peer}")  # fmt: skip
    print(f"(bare imports, own process: torch {out['torch_import_s']:.2f} s; all that GP needs "
          f"{out.get('gp_libs_import_s', float('nan')):.2f} s,\n {GP_LIBS};\n GP's load + first "
          "trial include them. '(all)': GP restoring every trial, as before)")  # fmt: skip


if __name__ == "__main__":
    main()

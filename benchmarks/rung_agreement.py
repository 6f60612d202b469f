"""Do the search rungs rank optimizers as validation and the meta-test do? Spearman per rung.

Scores the reference optimizers, Adam without bias correction and the programs earlier discovery
runs found (`--runs`: each run's `best_raw`, `selected_source` and `top_programs`) on the search
rungs, plain (`FIDELITIES`) and scaled (`SCALED_FIDELITIES`), on the validation tasks and on the
held-out meta-test. Per rung two fitnesses: the mean of the task scores (each clipped to
[FLOOR, CEIL]) and the strict search fitness (`*`: `search_fitness` with `STRICT`, a lower
per-task ceiling plus a charge on the worst task, so one floored task is not bought back).
Prints a table (program x rung score, validation, meta) and the Spearman rank correlation of
each rung's ranking with validation's and with the meta-test's; writes per-task scores to JSON.
`--before PATH`: also show the columns of an earlier run of this script (same programs), so one
table compares the rungs before and after a change. `--quick`: tiny CPU suites (seconds).
Run: `python benchmarks/rung_agreement.py [--columns scaled0 val ...] [--before PATH] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from device_path import ensure_hashtune
from scipy.stats import spearmanr

ensure_hashtune()

from hashtune.evaluators.optimizer_suite import (  # noqa: E402
    FIDELITIES,
    META_FIDELITY,
    QUICK_FIDELITIES,
    QUICK_META_FIDELITY,
    QUICK_VALIDATION_FIDELITY,
    SCALED_FIDELITIES,
    STRICT,
    VALIDATION_FIDELITY,
    Fidelity,
    SuiteScorer,
    search_fitness,
)
from hashtune.spaces.optimizers.program import Program  # noqa: E402
from hashtune.spaces.optimizers.references import (  # noqa: E402
    expressible_programs,
    reference_programs,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
RUNS = [DOCS / "optimizer_discovery_h200_fecfix.json"]
BESTS = [DOCS / f"optimizer_discovery_h200_{t}.json" for t in ("run1", "run2", "scaled")]


def programs(runs: list[Path], bests: list[Path]) -> dict[str, Program]:
    """References, adam_nobc, each run's best, selected and top programs (one per source)."""
    out = dict(reference_programs()) | dict(expressible_programs())
    seen = {p.to_source() for p in out.values()}
    for path in runs + bests:
        tag = path.stem.rsplit("_", 1)[-1]
        for r in json.loads(path.read_text())["runs"]:
            arm = f"{tag}_{'fec' if r['fec'] else 'nofec'}"
            found = [("best", r["best_raw"]), ("sel", r.get("selected_source"))]
            if path not in bests:
                found += [(f"top{i}", s) for i, s in enumerate(r.get("top_programs", []))]
            else:
                found = found[:1]
            for label, src in found:
                prog = Program.from_source(src) if src else None
                if prog is not None and prog.to_source() not in seen:
                    seen.add(prog.to_source())
                    out[f"{arm}_{label}"] = prog
    return out


def suites(quick: bool) -> dict[str, Fidelity]:
    """Column name -> fidelity: each rung plain and scaled, then validation and meta."""
    if quick:
        return {
            "plain0": QUICK_FIDELITIES[0],
            "val": QUICK_VALIDATION_FIDELITY,
            "meta": QUICK_META_FIDELITY,
        }
    out: dict[str, Fidelity] = {}
    for r in FIDELITIES:
        out[f"plain{r}"], out[f"scaled{r}"] = FIDELITIES[r], SCALED_FIDELITIES[r]
    return out | {"val": VALIDATION_FIDELITY, "meta": META_FIDELITY}


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation (ties averaged)."""
    return float(spearmanr(a, b).statistic)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--columns", nargs="+", help="plain0 scaled0 plain1 scaled1 val meta (all)")
    p.add_argument("--runs", type=Path, nargs="*", default=RUNS)
    p.add_argument("--bests", type=Path, nargs="*", default=BESTS, help="their best only")
    p.add_argument("--before", type=Path, help="an earlier JSON of this script: its columns too")
    p.add_argument("--quick", action="store_true", help="tiny CPU rung 0 and validation")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/rung_agreement.json"))
    a = p.parse_args()
    progs = programs(a.runs, [] if a.quick else a.bests)
    names = list(progs)
    cols: dict[str, dict[str, Any]] = {}
    for col, fid in suites(a.quick).items():
        if a.columns and col not in a.columns:
            continue
        t = time.perf_counter()
        res = SuiteScorer(fid).score(list(progs.values()))
        cols[col] = {
            "fidelity": fid.config(),
            "seconds": time.perf_counter() - t,
            "mean": {
                n: float(np.mean(list(x["task_scores"].values())))
                for n, x in zip(names, res, strict=True)
            },
            "tasks": {n: x["task_scores"] for n, x in zip(names, res, strict=True)},
        }
        print(f"{col}: {cols[col]['seconds']:.0f}s", flush=True)
    before = json.loads(a.before.read_text())["columns"] if a.before else {}
    table = {f"old_{c}": v for c, v in before.items() if c not in ("val", "meta")} | cols
    for c in ("val", "meta"):  # unchanged suites: scored once, in the earlier run
        if c not in table and c in before:
            table[c] = before[c]
    ref_cols = [c for c in ("val", "meta") if c in table]
    for c in table:  # every rung's strict fitness from its task scores, old columns too
        table[c]["strict"] = {
            n: float(search_fitness(np.array(list(ts.values())), **STRICT))
            for n, ts in table[c]["tasks"].items()
        }
    shown = [(c, agg) for c in table if c not in ref_cols for agg in ("mean", "strict")]
    rows = [n for n in names if all(n in table[c]["mean"] for c in table)]
    heads = [f"{c}{'' if agg == 'mean' else '*'}" for c, agg in shown] + ref_cols
    print(f"\n{'program':<22} | " + " | ".join(f"{h:>10}" for h in heads))
    for n in rows:
        vals = [table[c][agg][n] for c, agg in shown] + [table[c]["mean"][n] for c in ref_cols]
        print(f"{n:<22} | " + " | ".join(f"{v:>10.3f}" for v in vals))
    corr: dict[str, dict[str, float]] = {}
    for c, agg in shown:
        key = f"{c}{'' if agg == 'mean' else '*'}"
        corr[key] = {
            r: spearman([table[c][agg][n] for n in rows], [table[r]["mean"][n] for n in rows])
            for r in ref_cols
        }
    print(f"\nSpearman over {len(rows)} programs (* = strict search fitness):")
    print(f"{'rung':<14} | " + " | ".join(f"{'vs ' + r:>8}" for r in ref_cols))
    for key, cs in corr.items():
        print(f"{key:<14} | " + " | ".join(f"{cs[r]:>8.3f}" for r in ref_cols))
    for c in cols:
        print(f"\n{c} per task:")
        for n in rows:
            ts = cols[c]["tasks"][n]
            print(f"  {n:<22} " + "  ".join(f"{k}={v:.2f}" for k, v in ts.items()))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    rec = {"programs": {n: progs[n].to_source() for n in names}, "columns": cols, "corr": corr}
    a.json.write_text(json.dumps(rec, indent=1, default=float))
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()

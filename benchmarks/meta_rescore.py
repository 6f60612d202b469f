"""Rescore earlier discovery runs' programs on the replicated meta-test, with a verdict vs Adam.

Takes each `optimizer_discovery.py` JSON's found (`best_raw`) and selected (`selected_source`)
program, scores them with the references on the held-out meta-test `--replicates` times over
(`meta_stats.ReplicateScorer`: seed groups in one call, each against Adam trained alone on its
seeds) and prints per program the mean, the paired difference with Adam's row of the same batch,
its 95% bootstrap interval and the verdict (beats / matches / below; `discovery_report`).
Run: `python benchmarks/meta_rescore.py --runs A.json B.json [--replicates 6] [--json PATH]`;
`--quick`: the tiny CPU meta-test, two references and the first run's found program (seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from device_path import ensure_hashtune
from discovery_report import meta_rows, print_meta
from harness.cli import write_json

ensure_hashtune()

from hashtune.evaluators.meta_stats import ReplicateScorer  # noqa: E402
from hashtune.evaluators.optimizer_suite import (  # noqa: E402
    META_FIDELITY,
    QUICK_META_FIDELITY,
)
from hashtune.spaces.optimizers.program import Program  # noqa: E402
from hashtune.spaces.optimizers.references import (  # noqa: E402
    expressible_programs,
    reference_programs,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
RUNS = [
    DOCS / f"optimizer_discovery_h200_{t}.json"
    for t in ("islands", "islands_nofec", "islands_seed1")
]
REFS = ("adam", "adamw", "lion", "rmsprop", "momentum", "sgd", "adam_nobc")


def programs(runs: list[Path], refs: tuple[str, ...], quick: bool) -> dict[str, Program]:
    """References, then per run (tagged by its file name) its found and selected programs."""
    known = dict(reference_programs()) | dict(expressible_programs())
    out = {n: known[n] for n in refs}
    for path in runs:
        tag = path.stem.removeprefix("optimizer_discovery_")
        for r in json.loads(path.read_text())["runs"]:
            arm = "fec" if r["fec"] else "nofec"
            out[f"{tag}:{arm}:found"] = Program.from_source(r["best_raw"])
            if not quick and r.get("selected_source"):
                out[f"{tag}:{arm}:sel"] = Program.from_source(r["selected_source"])
        if quick:
            break
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, nargs="+", default=RUNS)
    p.add_argument("--replicates", type=int, default=6)
    p.add_argument("--quick", action="store_true", help="tiny CPU meta-test, seconds")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/meta_rescore.json"))
    a = p.parse_args()
    fid = QUICK_META_FIDELITY if a.quick else META_FIDELITY
    reps = 2 if a.quick else a.replicates
    progs = programs(a.runs, ("adam", "sgd") if a.quick else REFS, a.quick)
    t = time.perf_counter()
    rows, band = meta_rows(ReplicateScorer(fid, reps), list(progs), list(progs.values()))
    seconds = time.perf_counter() - t
    print(f"{len(progs)} programs, {reps} replicates of {fid.name}: {seconds:.0f}s")
    print_meta(rows, band, reps)
    rec = {
        "meta_fidelity": fid.config(),
        "replicates": reps,
        "seconds": seconds,
        "noise_band": band,
        "programs": {n: q.to_source() for n, q in progs.items()},
        "table": rows,
    }
    write_json(rec, a.json)


if __name__ == "__main__":
    main()

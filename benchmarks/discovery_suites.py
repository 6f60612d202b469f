"""Do the search rungs still reward what generalises? References and past finds, plain vs scaled.

Scores the reference optimizers, Adam without bias correction, and the best programs of earlier
discovery runs (`--runs`: `optimizer_discovery.py` JSON files) on the plain search rungs
(`FIDELITIES`) and on the scaled ones (`SCALED_FIDELITIES`: each task's loss at another scale).
A rung that ranks last session's lr-free finds (`update = g + ...`) above SGD-momentum rewards
the exploit; one that ranks them below it does not. Writes JSON (`--json`).
Run: `python benchmarks/discovery_suites.py [--rungs 0 1] [--runs docs/benchmarks/...json]`;
`--quick`: the tiny CPU rung 0, plain and scaled (seconds).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from device_path import ensure_hashtune

ensure_hashtune()

from hashtune.evaluators.optimizer_suite import (  # noqa: E402
    FIDELITIES,
    QUICK_FIDELITIES,
    SCALED_FIDELITIES,
    SuiteScorer,
    scaled_fidelity,
)
from hashtune.spaces.optimizers.program import Program  # noqa: E402
from hashtune.spaces.optimizers.references import (  # noqa: E402
    expressible_programs,
    reference_programs,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
RUNS = [DOCS / f"optimizer_discovery_h200_run{i}.json" for i in (1, 2)]


def programs(runs: list[Path]) -> dict[str, Program]:
    """References, Adam without bias correction, and each run's best program (raw source)."""
    out = dict(reference_programs()) | dict(expressible_programs())
    for path in runs:
        for r in json.loads(path.read_text())["runs"]:
            name = f"{path.stem.rsplit('_', 1)[-1]}_{'fec' if r['fec'] else 'nofec'}_best"
            out[name] = Program.from_source(r["best_raw"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rungs", type=int, nargs="+", default=[0])
    p.add_argument("--runs", type=Path, nargs="*", default=RUNS)
    p.add_argument("--quick", action="store_true", help="tiny CPU rung 0, scaled 100 / 0.01")
    p.add_argument("--json", type=Path, default=Path("benchmarks/results/discovery_suites.json"))
    a = p.parse_args()
    plain, scaled = FIDELITIES, SCALED_FIDELITIES
    if a.quick:
        plain, a.rungs = QUICK_FIDELITIES, [0]
        scaled = {0: scaled_fidelity(plain[0], (100.0, 0.01))}
    progs = programs(a.runs)
    scores: dict[str, dict[str, dict]] = {}
    for r in a.rungs:
        for tag, fids in (("plain", plain), ("scaled", scaled)):
            t = time.perf_counter()
            res = SuiteScorer(fids[r]).score(list(progs.values()))
            scores[f"{tag}{r}"] = dict(zip(progs, res, strict=True))
            print(f"{tag} f{r}: {time.perf_counter() - t:.0f}s", flush=True)
    cols = list(scores)
    print(f"{'program':<18} | " + " | ".join(f"{c:>8}" for c in cols))
    for n in progs:
        print(f"{n:<18} | " + " | ".join(f"{scores[c][n]['score']:>8.3f}" for c in cols))
    for c in cols:
        print(f"\n{c} per task:")
        for n in progs:
            ts = scores[c][n]["task_scores"]
            print(f"  {n:<18} " + "  ".join(f"{k}={v:.2f}" for k, v in ts.items()))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(scores, indent=1, default=float))
    print(f"wrote {a.json}")


if __name__ == "__main__":
    main()

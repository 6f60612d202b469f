"""Write tests/fixtures/nb201_fixture.csv: a SYNTHETIC NAS-Bench-201-style table of all cells.

`val_accuracy` (percent, like NB201 exports) is a deterministic function of the cell's functional
form (`hashtune.spaces.nas_bench_201.functional_form`) only, so functionally equivalent cells share
it, as the functional-equivalence cache benchmark needs. `params` and `flops` (millions) are the
analytic counts of the NB201 network at C=16, N=5, 32x32x3 inputs, 10 classes; they count every
conv, dead ones included, so they are *not* functional.
Run: ``.venv/bin/python benchmarks/make_nb201_fixture.py [out.csv] [--quick] [--json PATH]``.
"""

from __future__ import annotations

import hashlib
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

from hashtune.evaluators.nas_bench_201_model import flops, param_count  # noqa: E402
from hashtune.spaces.nas_bench_201 import OPS, format_arch, functional_form  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "nb201_fixture.csv"
HEADER_COMMENT = (
    "# SYNTHETIC table (not real NAS-Bench-201 results), made by benchmarks/make_nb201_fixture.py;"
    " val_accuracy = f(functional form of the cell); params/flops in millions at C=16 N=5 32x32x3"
)
SIZE = {"channels": 16, "cells_per_stage": 5, "input_shape": (32, 32, 3), "num_classes": 10}


def _depth(form: str) -> int:
    """Deepest nesting of conv brackets in a functional form."""
    depth = best = 0
    for ch in form:
        depth += ch == "["
        depth -= ch == "]"
        best = max(best, depth)
    return best


def synthetic_accuracy(form: str) -> float:
    """Validation accuracy (percent) from the functional form: more/deeper convs help, saturating;
    a zero output is chance (10%); a hash of the form adds up to ±0.5 points of fixed noise."""
    if form == "0":
        return 10.0
    n3, n1, pools = form.count("C3["), form.count("C1["), form.count("P(")
    skip = 1.0 if "x" in form.split("+") else 0.0
    signal = 0.55 * n3 + 0.3 * n1 + 0.4 * _depth(form) + 0.05 * pools
    noise = int(hashlib.sha256(form.encode()).hexdigest()[:8], 16) / 2**32 - 0.5
    acc = 93.0 - 55.0 * math.exp(-signal) + 1.2 * skip - 0.3 * min(pools, 4) + noise
    return round(min(max(acc, 10.0), 95.0), 4)


def rows(limit: int | None = None) -> list[str]:
    """CSV lines (header first) for all 15,625 cells (or the first `limit`), in `all_cells()`
    order."""
    import itertools

    out = [HEADER_COMMENT, "arch,val_accuracy,params,flops"]
    for idx in itertools.islice(itertools.product(range(len(OPS)), repeat=6), limit):
        ops = tuple(OPS[k] for k in idx)
        acc = synthetic_accuracy(functional_form(ops))
        params = param_count(ops, **SIZE) / 1e6
        mflops = flops(ops, **SIZE) / 1e6
        out.append(f"{format_arch(ops)},{acc:.4f},{params:.6f},{mflops:.4f}")
    return out


def main(argv: list[str] | None = None) -> None:
    """Write the fixture (all cells; `--quick`: the first 200, next to the JSON record, never
    over the tests' fixture unless a path is given) and a JSON record of what was written."""
    ap = parser(__doc__, "make_nb201_fixture", seed=None)
    ap.add_argument("path", nargs="?", type=Path, help=f"CSV to write (default {DEFAULT_OUT})")
    args = ap.parse_args(argv)
    path = args.path or (args.json.with_suffix(".csv") if args.quick else DEFAULT_OUT)
    lines = rows(200 if args.quick else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    write_json({"path": str(path), "cells": len(lines) - 2, "sha256": digest}, args.json)


if __name__ == "__main__":
    main()

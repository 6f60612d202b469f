"""Do the functional hash's classes on the real NB201 table differ only by training noise?

Hashes all 15,625 cells (`functional_hashes`, the batched compiled form) and compares the spread
of the real seed-mean CIFAR-10 accuracy inside hash classes with the spread inside NB201's own
isomorphism classes (`isomorphism_key`: the same graph, so pure seed noise). Per partition, over
classes with several members: the within-class SD (ddof=1; its median is the default `noise_sd`
of the tabular evaluator), the range, the pooled SD, and how many classes spread more than the
99th percentile of the isomorphism classes' SD (a merge of clearly different cells would). A coarse
partition (the multiset of ops on live edges) shows what a wrong merge looks like. Also the spread
of one training seed around the seed mean (`cifar10_test_acc_one_seed` minus `cifar10_test_acc`).

Run: ``.venv/bin/python benchmarks/nb201_partition.py [--quick] [--json PATH]`` (prints an 80-column table, writes
benchmarks/results/nb201_partition.json). Measured: within-class SD median 0.151 (hash) vs 0.149
(isomorphism), p90 0.403 vs 0.438, pooled 0.269 vs 0.252; 1.3% vs 1.0% of classes beyond the
isomorphism classes' p99 SD (the coarse key: 42%).
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

from hashtune.evaluators.nas_bench_201_tabular import (  # noqa: E402
    DEFAULT_METRIC,
    NasBench201TabularEvaluator,
)
from hashtune.hashing import functional_hashes  # noqa: E402
from hashtune.spaces.nas_bench_201 import Cell  # noqa: E402
from hashtune.spaces.nas_bench_201_iso import isomorphism_key  # noqa: E402


def spread(keys: list[str], values: np.ndarray, reference_p99: float | None = None) -> dict:
    """Within-class spread of `values` over classes (of `keys`) with several members."""
    frame = pd.DataFrame({"k": keys, "v": values})
    groups = frame.groupby("k")["v"]
    size = groups.size()
    multi = size > 1
    sd = groups.std(ddof=1)[multi]
    rng = (groups.max() - groups.min())[multi]
    var = groups.var(ddof=1)[multi]
    dof = (size[multi] - 1).sum()
    out = {
        "classes": int(len(size)),
        "multi_member_classes": int(multi.sum()),
        "cells_in_multi_classes": int(size[multi].sum()),
        "sd_median": float(sd.median()),
        "sd_median_ddof0": float(groups.std(ddof=0)[multi].median()),
        "sd_p90": float(sd.quantile(0.9)),
        "sd_p99": float(sd.quantile(0.99)),
        "sd_max": float(sd.max()),
        "range_median": float(rng.median()),
        "range_p90": float(rng.quantile(0.9)),
        "range_max": float(rng.max()),
        "pooled_sd": float(np.sqrt((var * (size[multi] - 1)).sum() / dof)),
    }
    if reference_p99 is not None:
        out["classes_above_ref_sd_p99"] = int((sd > reference_p99).sum())
        out["fraction_above_ref_sd_p99"] = float((sd > reference_p99).mean())
    return out


def live_op_multiset(cell: Cell) -> str:
    """A deliberately coarse key: which ops sit on live edges, ignoring where."""
    return ",".join(sorted(op for _, _, op in cell.live_edges()))


def measure(limit: int | None = None) -> dict[str, Any]:
    """Every number of the table (see the module docstring), on the first `limit` cells."""
    table = NasBench201TabularEvaluator()
    ops = list(table.rows())[:limit]
    acc = np.array([table.rows()[o][DEFAULT_METRIC] for o in ops], dtype=float)
    one_seed = np.array([table.rows()[o][f"{DEFAULT_METRIC}_one_seed"] for o in ops], dtype=float)
    t0 = time.perf_counter()
    cells = [Cell(*o) for o in ops]
    t1 = time.perf_counter()
    hashes = functional_hashes(cells)
    t2 = time.perf_counter()
    iso = spread([isomorphism_key(o) for o in ops], acc)
    p99 = iso["sd_p99"]
    iso = spread([isomorphism_key(o) for o in ops], acc, p99)
    return {
        "cells": len(ops),
        "build_cells_s": t1 - t0,
        "hash_all_cells_s": t2 - t1,
        "isomorphism": iso,
        "functional_hash": spread(hashes, acc, p99),
        "coarse_live_op_multiset": spread([live_op_multiset(c) for c in cells], acc, p99),
        "one_seed_minus_mean_sd": float(np.std(one_seed - acc, ddof=1)),
    }


ROWS = (
    ("classes", "classes", "d"),
    ("classes with >1 cell", "multi_member_classes", "d"),
    ("cells in those", "cells_in_multi_classes", "d"),
    ("SD median", "sd_median", ".3f"),
    ("SD median (ddof=0)", "sd_median_ddof0", ".3f"),
    ("SD p90", "sd_p90", ".3f"),
    ("SD p99", "sd_p99", ".3f"),
    ("SD max", "sd_max", ".3f"),
    ("range median", "range_median", ".3f"),
    ("range p90", "range_p90", ".3f"),
    ("range max", "range_max", ".3f"),
    ("pooled SD", "pooled_sd", ".3f"),
    ("classes SD > iso SD p99", "classes_above_ref_sd_p99", "d"),
    ("  fraction", "fraction_above_ref_sd_p99", ".2%"),
)


def print_table(r: dict[str, Any]) -> None:
    """80 columns: one row per measure, isomorphism vs hash vs the coarse control."""
    cols = ("isomorphism", "functional_hash", "coarse_live_op_multiset")
    print(f"NB201 real table, CIFAR-10 seed-mean test accuracy (%), {r['cells']} cells")
    print(
        f"{'within-class spread':<26}{'isomorphism':>16}{'functional hash':>18}{'coarse key':>16}"
    )
    print("-" * 76)
    for label, key, spec in ROWS:
        cells = "".join(
            f"{format(r[c][key], spec):>{w}}" for c, w in zip(cols, (16, 18, 16), strict=True)
        )
        print(f"{label:<26}{cells}")
    print("-" * 76)
    h, i = r["functional_hash"], r["isomorphism"]
    print(
        f"hash/iso ratio: SD median {h['sd_median'] / i['sd_median']:.2f}x, SD p90 "
        f"{h['sd_p90'] / i['sd_p90']:.2f}x, pooled SD {h['pooled_sd'] / i['pooled_sd']:.2f}x"
    )
    print(f"one seed minus seed mean: SD {r['one_seed_minus_mean_sd']:.3f}")
    print(
        f"hashing all cells: {r['hash_all_cells_s']:.1f}s (+{r['build_cells_s']:.1f}s "
        "building the pg cells)"
    )


def main(argv: list[str] | None = None) -> None:
    """Measure, print, write the JSON."""
    args = parser(__doc__, "nb201_partition", seed=None).parse_args(argv)
    record = measure(500 if args.quick else None)  # --quick: the first 500 cells
    print_table(record)
    record["machine"] = {"python": platform.python_version(), "platform": platform.platform()}
    write_json(record, args.json, indent=2)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Functional-hash throughput: all NB201 cells, random optimizer programs, cost vs an evaluation.

Prints a table and writes `benchmarks/results/hash_speed.json`. `--short` hashes subsets (about
1,000 cells + 500 programs); `--quick` (seconds) 100 cells and 20 programs, no evaluations.
Usage: `.venv/bin/python benchmarks/hash_speed.py [--short | --quick] [--skip-eval] [--json PATH]`.
"""

from __future__ import annotations

import itertools
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jax

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402

from hashtune.hashing import functional_hash, functional_hashes  # noqa: E402
from hashtune.spaces.nas_bench_201 import EDGES, OPS, Cell  # noqa: E402


def bench_nb201(subset: int | None) -> dict[str, Any]:
    """Eager rate on a sample, batched rate over all (or about `subset`) cells, class counts."""
    idx = list(itertools.product(range(len(OPS)), repeat=len(EDGES)))
    if subset:
        idx = idx[:: len(idx) // subset]
    t0 = time.perf_counter()
    cells = [Cell(*(OPS[k] for k in ops)) for ops in idx]
    build_s = time.perf_counter() - t0
    sample = cells[:: max(1, len(cells) // 100)]
    functional_hash(sample[0])  # warm the eager primitive caches
    t0 = time.perf_counter()
    for c in sample:
        functional_hash(c)
    eager_per = (time.perf_counter() - t0) / len(sample)
    exes = cells  # each carries its batched form (Cell.executable().meta)
    t0 = time.perf_counter()
    hashes = functional_hashes(exes)
    batched_s = time.perf_counter() - t0
    by_form: dict[str, set[str]] = defaultdict(set)
    by_hash: dict[str, set[str]] = defaultdict(set)
    for c, h in zip(cells, hashes, strict=True):
        by_form[c.functional_form()].add(h)
        by_hash[h].add(c.functional_form())
    return {
        "cells": len(cells),
        "build_cells_s": build_s,
        "eager_ms_per_cell": 1e3 * eager_per,
        "batched_total_s": batched_s,
        "batched_cells_per_s": len(cells) / batched_s,
        "hash_classes": len(by_hash),
        "canonical_classes": len(by_form),
        "split_canonical_classes": sum(len(v) > 1 for v in by_form.values()),
        "merged_hash_classes": sum(len(v) > 1 for v in by_hash.values()),
    }


def bench_programs(n: int) -> dict[str, Any]:
    """Eager hash rate of random programs of the optimizer space (materialisation timed apart)."""
    from hashtune.spaces.optimizers.space import OptimizerProgramSpace

    space = OptimizerProgramSpace()
    rng = random.Random(0)
    t0 = time.perf_counter()
    programs = [space.materialize(space.random_dna(rng)) for _ in range(n)]
    build_s = time.perf_counter() - t0
    functional_hash(programs[0])
    t0 = time.perf_counter()
    hashes, failures = [], 0
    for p in programs:
        try:
            hashes.append(functional_hash(p))
        except Exception:  # a program that cannot run is counted, not fatal
            failures += 1
    hash_s = time.perf_counter() - t0
    return {
        "programs": n,
        "materialize_ms_per_program": 1e3 * build_s / n,
        "hash_total_s": hash_s,
        "programs_per_s": n / hash_s,
        "hash_ms_per_program": 1e3 * hash_s / n,
        "distinct_hashes": len(set(hashes)),
        "failures": failures,
    }


def bench_evaluations() -> dict[str, Any]:
    """Seconds of one evaluation with each evaluator's default config."""
    from hashtune.evaluators.base import TrialContext

    out: dict[str, Any] = {}
    try:
        from hashtune.evaluators.nas_bench_201 import NasBench201TrainEvaluator
        from hashtune.spaces.nas_bench_201 import cell_from_string

        cell = cell_from_string(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
            "skip_connect~2|"
        )
        t0 = time.perf_counter()
        NasBench201TrainEvaluator().evaluate(cell, TrialContext())
        out["nb201_train_eval_s"] = time.perf_counter() - t0
    except ImportError as e:
        out["nb201_train_eval_error"] = repr(e)
    try:
        from hashtune.evaluators.optimizer_proxy import OptimizerProxyEvaluator
        from hashtune.spaces.optimizers.seeds import seed_programs

        t0 = time.perf_counter()
        OptimizerProxyEvaluator().evaluate(seed_programs()["adam"], TrialContext())
        out["optimizer_proxy_eval_s"] = time.perf_counter() - t0
    except ImportError as e:
        out["optimizer_proxy_eval_error"] = repr(e)
    return out


def main() -> None:
    ap = parser(__doc__, "hash_speed", seed=None)
    ap.add_argument("--short", action="store_true", help="hash subsets (about 1,000 + 500)")
    ap.add_argument("--skip-eval", action="store_true", help="do not time evaluations")
    args = ap.parse_args()
    if args.quick:
        args.skip_eval = True
    cells, programs = (100, 20) if args.quick else (1000, 500) if args.short else (None, 10_000)
    nb = bench_nb201(cells)
    pr = bench_programs(programs)
    ev = {} if args.skip_eval else bench_evaluations()
    if "nb201_train_eval_s" in ev:
        ev["nb201_hash_fraction_eager"] = nb["eager_ms_per_cell"] / 1e3 / ev["nb201_train_eval_s"]
    if "optimizer_proxy_eval_s" in ev:
        ev["program_hash_fraction"] = pr["hash_ms_per_program"] / 1e3 / ev["optimizer_proxy_eval_s"]
    result = {
        "quick": args.quick,
        "short": args.short,
        "machine": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "backend": jax.default_backend(),
            "cpu": platform.processor(),
        },
        "nb201": nb,
        "programs": pr,
        "evaluation": ev,
    }
    rows = [
        ("NB201 cells hashed", nb["cells"]),
        ("NB201 batched cells/s", f"{nb['batched_cells_per_s']:.0f}"),
        ("NB201 batched total s", f"{nb['batched_total_s']:.1f}"),
        ("NB201 eager ms/cell", f"{nb['eager_ms_per_cell']:.1f}"),
        ("NB201 hash / canonical classes", f"{nb['hash_classes']} / {nb['canonical_classes']}"),
        (
            "NB201 split / merged classes",
            f"{nb['split_canonical_classes']} / {nb['merged_hash_classes']}",
        ),
        ("programs hashed", pr["programs"]),
        ("programs/s (eager)", f"{pr['programs_per_s']:.0f}"),
        ("program distinct hashes", pr["distinct_hashes"]),
        ("program hash failures", pr["failures"]),
    ] + [(k, f"{v:.3g}" if isinstance(v, float) else v) for k, v in ev.items()]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    write_json(result, args.json, indent=2)


if __name__ == "__main__":
    main()

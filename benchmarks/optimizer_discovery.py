"""Optimizer discovery from random programs: batched regularized evolution + FEC + funnel.

For a fixed wall budget per search: regularized evolution (aging population, tournaments) fills
a batch of children by mutation, the functional hash of the whole batch is one call, children
whose function is already known are served from the cache (FEC), the rest go through the funnel
(fidelity 0 for all, the top fraction to fidelity 1) in batched training calls. The same search
without FEC (every child trained) runs for the same budget. Reports paid evaluations per rung,
cache hits, each search's best program (simplified and raw), and the held-out meta-test scores of
the bests against Adam, AdamW, Lion, RMSProp, SGD-momentum, SGD. Writes JSON (`--out`).
Run: `python benchmarks/optimizer_discovery.py --budget-s 240 [--batch 256] [--axis vmap]`.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time
from pathlib import Path
from typing import Any

from device_path import ensure_hashtune

ensure_hashtune()

import jax  # noqa: E402

from hashtune.evaluators.funnel import Funnel  # noqa: E402
from hashtune.evaluators.optimizer_suite import (  # noqa: E402
    FIDELITIES,
    META_FIDELITY,
    SuiteScorer,
)
from hashtune.hashing import functional_hashes  # noqa: E402
from hashtune.spaces.optimizers.references import reference_programs  # noqa: E402
from hashtune.spaces.optimizers.simplify import simplify  # noqa: E402
from hashtune.spaces.optimizers.slots import SlotProgram  # noqa: E402
from hashtune.spaces.optimizers.space import optimizer_program_space  # noqa: E402


def search(
    scorers: list[SuiteScorer], a: argparse.Namespace, fec: bool, seed: int
) -> dict[str, Any]:
    """One budgeted search; returns its record (best program, counts, curve)."""
    space = optimizer_program_space(max_statements=a.max_statements)
    rng = random.Random(seed)
    funnel = Funnel(scorers, promote_fraction=a.promote, min_promote=2)
    population: collections.deque = collections.deque()  # (dna, program, key, fitness)
    t0 = time.perf_counter()
    proposals = generations = 0
    seen_src: dict[str, int] = {}
    best: tuple[float, int, Any, str] = (-1e9, -1, None, "")
    curve = []
    hash_s = train_s = 0.0
    while time.perf_counter() - t0 < a.budget_s:
        if len(population) < a.population:
            progs = [SlotProgram.random(space, rng) for _ in range(a.batch)]
        else:
            pop = list(population)
            progs = [
                max(rng.sample(pop, a.tournament), key=lambda x: x[3])[1].mutate(rng)
                for _ in range(a.batch)
            ]
        proposals += len(progs)
        th = time.perf_counter()
        if fec:
            keys = functional_hashes(progs)
        else:  # no functional cache: every proposal is its own evaluation
            keys = [f"p{proposals - len(progs) + i}" for i in range(len(progs))]
        hash_s += time.perf_counter() - th
        tt = time.perf_counter()
        fits = funnel.run(list(zip(keys, progs, strict=True)))
        train_s += time.perf_counter() - tt
        for p, k, (f, rung) in zip(progs, keys, fits, strict=True):
            population.append((None, p, k, f))
            seen_src[k] = rung
            if (rung, f) > (best[1], best[0]):
                best = (f, rung, p, k)
        while len(population) > a.population:
            population.popleft()
        generations += 1
        if generations % 10 == 1:
            print(
                f"  [{'FEC' if fec else 'no FEC'}] gen {generations} {time.perf_counter() - t0:.0f}s"
                f" proposals {proposals} paid {dict(funnel.stats.paid)} best {best[0]:.3f}"
                f" (rung {best[1]})",
                flush=True,
            )
        curve.append(
            {
                "s": time.perf_counter() - t0,
                "proposals": proposals,
                "paid": dict(funnel.stats.paid),
                "best": best[0],
                "best_rung": best[1],
            }
        )
    hits_by_rung = dict(funnel.stats.hits)
    return {
        "fec": fec,
        "seconds": time.perf_counter() - t0,
        "generations": generations,
        "proposals": proposals,
        "paid_by_rung": dict(funnel.stats.paid),
        "cache_hits_rung0": proposals - funnel.stats.paid.get(0, 0),
        "cache_hits_by_rung": hits_by_rung,
        "distinct_functions": len(seen_src) if fec else None,
        "hash_s": hash_s,
        "train_s": train_s,
        "best_fitness": best[0],
        "best_rung": best[1],
        "best_raw": best[2].program().to_source(),
        "best_simplified": simplify(best[2].program()).to_source(),
        "best_program": best[2].program(),
        "curve": curve,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-s", type=float, default=240.0)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--population", type=int, default=1024)
    p.add_argument("--tournament", type=int, default=16)
    p.add_argument("--promote", type=float, default=0.05)
    p.add_argument("--max-statements", type=int, default=10)
    p.add_argument("--axis", default="auto", help="population axis: auto, vmap, map")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/optimizer_discovery.json"))
    a = p.parse_args()
    dev = jax.devices()[0]
    t0 = time.perf_counter()
    scorers = [SuiteScorer(FIDELITIES[r], population_axis=a.axis) for r in sorted(FIDELITIES)]
    meta = SuiteScorer(META_FIDELITY, population_axis=a.axis)
    refs = reference_programs()
    ref_rows = {r: scorers[r].score(list(refs.values())) for r in range(len(scorers))}
    for r in ref_rows:
        print(
            f"rung {r}: "
            + ", ".join(f"{n}={x['score']:.3f}" for n, x in zip(refs, ref_rows[r], strict=True)),
            flush=True,
        )
    setup_s = time.perf_counter() - t0
    runs = [search(scorers, a, fec=True, seed=a.seed), search(scorers, a, fec=False, seed=a.seed)]
    names = list(refs) + ["found (FEC)", "found (no FEC)"]
    metas = meta.score(list(refs.values()) + [r["best_program"] for r in runs])
    rows = {}
    for i, n in enumerate(names):
        rows[n] = {
            "meta_test": metas[i]["score"],
            "meta_tasks": metas[i]["task_scores"],
            "f0": ref_rows[0][i]["score"] if i < len(refs) else None,
            "f1": ref_rows[1][i]["score"] if i < len(refs) else None,
        }
    print(f"device {dev.platform}:{getattr(dev, 'device_kind', '')}; setup {setup_s:.0f}s")
    print(
        f"\n{'search':<10} | {'budget s':>8} | {'proposals':>9} | {'paid f0':>7} | "
        f"{'paid f1':>7} | {'cache hits':>10} | {'best fitness':>12} | rung"
    )
    for r in runs:
        print(
            f"{'FEC' if r['fec'] else 'no FEC':<10} | {r['seconds']:>8.0f} | {r['proposals']:>9} "
            f"| {r['paid_by_rung'].get(0, 0):>7} | {r['paid_by_rung'].get(1, 0):>7} | "
            f"{r['cache_hits_rung0']:>10} | {r['best_fitness']:>12.3f} | {r['best_rung']}"
        )
    tasks = list(metas[0]["task_scores"])
    print(
        f"\n{'program':<16} | {'f0':>6} | {'f1':>6} | {'meta':>6} | "
        + " | ".join(f"{t:>9}" for t in tasks)
    )
    for n, row in rows.items():
        f0 = "" if row["f0"] is None else f"{row['f0']:.3f}"
        f1 = "" if row["f1"] is None else f"{row['f1']:.3f}"
        print(
            f"{n:<16} | {f0:>6} | {f1:>6} | {row['meta_test']:>6.3f} | "
            + " | ".join(f"{row['meta_tasks'][t]:>9.3f}" for t in tasks)
        )
    for r in runs:
        print(
            f"\nbest program, {'FEC' if r['fec'] else 'no FEC'} (simplified):\n"
            f"{r['best_simplified']}raw:\n{r['best_raw']}"
        )
    for r in runs:
        del r["best_program"]
    rec = {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "args": {k: str(v) for k, v in vars(a).items()},
        "fidelities": {r: FIDELITIES[r].config() for r in FIDELITIES},
        "meta_fidelity": META_FIDELITY.config(),
        "setup_s": setup_s,
        "runs": runs,
        "table": rows,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(rec, indent=2, default=float))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

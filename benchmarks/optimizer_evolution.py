"""Regularized evolution over optimizer programs, from random programs (Lion-style search, small).

Aging evolution (Real et al. 2019): keep the last `population` evaluated programs; each cycle
samples `sample` of them, mutates the best with `OptimizerProgramSpace.mutate` and evaluates the
child with `OptimizerProxyEvaluator`. Programs computing the same pruned canonical program are
scored once (an in-run cache). Prints the best-so-far curve and the seeds' scores for reference,
and writes `benchmarks/results/optimizer_evolution.json`.
Run: ``.venv/bin/python benchmarks/optimizer_evolution.py [--evals 150] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time
from pathlib import Path
from typing import Any

from hashtune.evaluators.optimizer_proxy import OptimizerProxyEvaluator
from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.seeds import seed_programs
from hashtune.spaces.optimizers.space import optimizer_program_space

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "optimizer_evolution.json"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The evolution run; returns the JSON-able record."""
    space = optimizer_program_space(max_statements=args.max_statements)
    ev = OptimizerProxyEvaluator(steps=args.steps, seed=args.seed)
    rng = random.Random(args.seed)
    cache: dict[str, float] = {}
    mutations: collections.Counter[str] = collections.Counter()
    history: list[dict[str, Any]] = []
    population: collections.deque = collections.deque(maxlen=args.population)
    best: tuple[float, str] = (-1.0, "")
    t0 = time.perf_counter()

    def score(program: Program) -> float:
        key = program.pruned().canonical().to_source()
        if key not in cache:
            cache[key] = ev.evaluate(program).values[0]
        return cache[key]

    for i in range(args.evals):
        if i < args.population:
            dna, kind = space.random_dna(rng), "random"
        else:
            parent = max(rng.sample(list(population), args.sample), key=lambda m: m[1])
            dna, kind = space.mutate(parent[0], rng)
            mutations[kind] += 1
        program = space.materialize(dna)
        s = score(program)
        population.append((dna, s))
        if s > best[0]:
            best = (s, program.pruned().to_source())
        history.append({"eval": i + 1, "score": s, "best": best[0], "kind": kind})

    seeds = {name: ev.evaluate(p).values[0] for name, p in seed_programs().items()}
    return {
        "config": {**vars(args), "out": str(args.out), "evaluator": ev.config()},
        "curve": [{"eval": h["eval"], "best": h["best"]} for h in history],
        "history": history,
        "best_score": best[0],
        "best_program": best[1],
        "seed_scores": seeds,
        "distinct_programs_evaluated": len(cache),
        "mutations": dict(mutations),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    """Parse arguments, run, print the curve table and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evals", type=int, default=150)
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--sample", type=int, default=5)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--max-statements", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args()
    rec = run(args)
    every = max(1, args.evals // 15)
    print(f"{'evals':>6} | {'best so far':>11}")
    print(f"{'-' * 6}-+-{'-' * 11}")
    for row in rec["curve"]:
        if row["eval"] % every == 0 or row["eval"] == args.evals:
            print(f"{row['eval']:>6} | {row['best']:>11.4f}")
    print(f"\nbest program (score {rec['best_score']:.4f}):\n{rec['best_program']}")
    print("seed scores: " + ", ".join(f"{k}={v:.4f}" for k, v in rec["seed_scores"].items()))
    print(
        f"distinct programs evaluated: {rec['distinct_programs_evaluated']}; "
        f"mutations: {rec['mutations']}; {rec['seconds']:.1f}s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rec, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

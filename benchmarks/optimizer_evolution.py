"""Regularized evolution over optimizer programs, from random programs (Lion-style search, small).

A `hashtune.Study` with regularized evolution (Real et al. 2019: aging population, tournament of
`sample`, program-aware mutations from `OptimizerProgramSpace.mutate`), the optimizer proxy
evaluator and the functional-equivalence cache, started from random programs and run for `evals`
paid evaluations. Prints the best-so-far curve against paid evaluations, the seeds' scores for
reference, and writes `benchmarks/results/optimizer_evolution.json`.
Run: ``.venv/bin/python benchmarks/optimizer_evolution.py [--evals 150] [--seed 0] [--quick]
[--json PATH]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, write_json  # noqa: E402
from harness.runners import evaluate, temporary_study  # noqa: E402

from hashtune.cli.tables import candidate_summary  # noqa: E402
from hashtune.spaces.optimizers.seeds import seed_programs  # noqa: E402
from hashtune.vocabulary import TrialState  # noqa: E402

#: `--quick`: one task and one learning rate (XLA compiles dominate the evaluations).
QUICK_EVALUATOR: dict[str, Any] = {"tasks": ("logreg",), "lr_grid": (0.1,)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The evolution run through `hashtune.Study` (RE + FEC); returns the JSON-able record."""
    t0 = time.perf_counter()
    with temporary_study(
        "optimizer-evolution",
        space="optimizer_programs",
        space_args={"max_statements": args.max_statements},
        evaluator="optimizer_proxy",
        evaluator_args={
            "steps": args.steps,
            "seed": args.seed,
            **(QUICK_EVALUATOR if args.quick else {}),
        },
        searcher="regularized_evolution",
        searcher_args={"population_size": args.population, "tournament_size": args.sample},
        seed=args.seed,
    ) as study:
        study.optimize(max_evaluations=args.evals, show_progress=not args.quick)
        trials = study.trials()
        stats = study.stats()
        evaluator = study.evaluator
    history, best, paid = [], (-1.0, ""), 0
    mutations: collections.Counter[str] = collections.Counter(
        t.mutation or "random" for t in trials
    )
    for t in trials:
        s = t.values[0] if t.values else float("nan")
        if t.state == TrialState.COMPLETE:
            paid += 1
        if t.values and s > best[0]:
            best = (s, candidate_summary(t.candidate, limit=10_000))
        history.append(
            {"proposal": t.number + 1, "paid": paid, "state": t.state, "score": s, "best": best[0]}
        )
    wanted = ["sgd"] if args.quick else list(seed_programs())
    seeds = {n: evaluate(evaluator, seed_programs()[n], catch=False).value for n in wanted}
    return {
        "config": {**vars(args), "json": str(args.json), "evaluator": evaluator.config()},
        "curve": [
            {"paid": h["paid"], "proposal": h["proposal"], "best": h["best"]} for h in history
        ],
        "history": history,
        "best_score": best[0],
        "best_program": best[1],
        "seed_scores": seeds,
        "proposals": stats.proposals,
        "paid_evaluations": stats.complete,
        "cache_hits": stats.cached,
        "failed": stats.failed,
        "mutations": dict(mutations),
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    """Parse arguments, run, print the curve table and write the JSON."""
    p = parser(__doc__, "optimizer_evolution")
    p.add_argument("--evals", type=int, default=150)
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--sample", type=int, default=5)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--max-statements", type=int, default=8)
    args = p.parse_args()
    if args.quick:  # seconds: a handful of evaluations of short training, SGD's score alone
        args.evals, args.population, args.sample, args.steps = 2, 2, 2, 10
    rec = run(args)
    every = max(1, args.evals // 15)
    print(f"{'paid evals':>10} | {'proposals':>9} | {'best so far':>11}")
    print(f"{'-' * 10}-+-{'-' * 9}-+-{'-' * 11}")
    shown = set()
    for row in rec["curve"]:
        if (row["paid"] % every == 0 or row["paid"] == args.evals) and row["paid"] not in shown:
            shown.add(row["paid"])
            print(f"{row['paid']:>10} | {row['proposal']:>9} | {row['best']:>11.4f}")
    print(f"\nbest program (score {rec['best_score']:.4f}): {rec['best_program']}")
    print("seed scores: " + ", ".join(f"{k}={v:.4f}" for k, v in rec["seed_scores"].items()))
    print(
        f"proposals {rec['proposals']}, paid {rec['paid_evaluations']}, served by the "
        f"equivalence cache {rec['cache_hits']}, failed {rec['failed']}; "
        f"mutations: {rec['mutations']}; {rec['seconds']:.1f}s"
    )
    write_json(rec, args.json, indent=2)


if __name__ == "__main__":
    main()

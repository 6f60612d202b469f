"""The meta-test rows and tables of `optimizer_discovery.py` (replicated, with a verdict vs Adam).

`meta_rows` scores the references and the searches' programs on the held-out meta-test
`replicates` times over (`meta_stats.ReplicateScorer`), pairs each with Adam's row of the same
batch and reads the bootstrap interval of the difference against the noise band (Adam in the
batch vs Adam alone): `beats` / `matches` / `below`. `print_tables` prints the searches' counts,
the verdict table and the per-task means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from device_path import ensure_hashtune

ensure_hashtune()

from hashtune.evaluators.meta_stats import ReplicateScorer, compare  # noqa: E402


def meta_rows(
    scorer: ReplicateScorer,
    names: list[str],
    programs: list[Any],
    rung_rows: dict[int, list[dict[str, Any]]] | None = None,
) -> tuple[dict[str, dict[str, Any]], float]:
    """({name: row}, noise band): replicated meta-test, paired diff vs Adam, its CI, verdict."""
    rung_rows = rung_rows or {}
    scores = scorer.task_scores(programs)  # (N, R, T)
    band, cmp = compare(scores, names.index("adam"))
    tasks = scorer.names
    rows = {}
    for i, n in enumerate(names):
        c = cmp[i]
        rows[n] = {
            "meta_test": c["meta"],
            "meta_ci": [c["meta_lo"], c["meta_hi"]],
            "vs_adam": c["diff"],
            "vs_adam_ci": [c["diff_lo"], c["diff_hi"]],
            "verdict": c["verdict"],
            "meta_tasks": {t: float(scores[i, :, j].mean()) for j, t in enumerate(tasks)},
            "meta_replicates": [float(x) for x in scores[i].mean(axis=1)],
            "meta_replicate_tasks": scores[i].tolist(),
            **{
                f"f{r}": rung_rows[r][i]["score"] if i < len(rung_rows[r]) else None
                for r in sorted(rung_rows)
            },
        }
    return rows, band


def print_tables(
    runs: list[dict[str, Any]], rows: dict[str, dict[str, Any]], band: float, replicates: int
) -> None:
    """The searches' counts, the meta-test verdict table and its per-task means."""
    print_runs(runs)
    print_meta(rows, band, replicates)


def print_runs(runs: list[dict[str, Any]]) -> None:
    """One line per search: time, proposals, paid per rung, cache hits, best fitness."""
    print(
        f"\n{'search':<7} | {'s':>4} | {'proposals':>9} | {'paid f0':>7} | {'paid f1':>7} | "
        f"{'hits':>7} | {'hash s':>6} | {'train s':>7} | {'best':>6} | rung"
    )
    for r in runs:
        print(
            f"{'FEC' if r['fec'] else 'no FEC':<7} | {r['seconds']:>4.0f} | {r['proposals']:>9} "
            f"| {r['paid_by_rung'].get(0, 0):>7} | {r['paid_by_rung'].get(1, 0):>7} | "
            f"{r['cache_hits_rung0']:>7} | {r['hash_s']:>6.1f} | {r['train_s']:>7.1f} | "
            f"{r['best_fitness']:>6.3f} | {r['best_rung']}"
        )


def print_meta(rows: dict[str, dict[str, Any]], band: float, replicates: int) -> None:
    """The meta-test verdict table (mean, paired diff vs Adam, CI, verdict), per-task means."""
    w = max(16, *(len(n) for n in rows))
    print(
        f"\nmeta-test x{replicates} replicates; vs adam = paired diff with Adam's row of the same"
        f" batch, 95% bootstrap CI; noise band {band:.3f} (Adam in batch vs Adam alone)"
    )
    print(
        f"{'program':<{w}} | {'f0':>6} | {'f1':>6} | {'meta':>6} | {'vs adam':>7} | "
        f"{'95% CI':>15} | verdict"
    )
    for n, row in rows.items():
        f0 = "" if row.get("f0") is None else f"{row['f0']:.3f}"
        f1 = "" if row.get("f1") is None else f"{row['f1']:.3f}"
        lo, hi = row["vs_adam_ci"]
        print(
            f"{n:<{w}} | {f0:>6} | {f1:>6} | {row['meta_test']:>6.3f} | {row['vs_adam']:>+7.3f} |"
            f" [{lo:>+6.3f},{hi:>+6.3f}] | {row['verdict']}"
        )
    tasks = list(next(iter(rows.values()))["meta_tasks"])
    print(
        f"\nper-task meta-test means over replicates\n{'program':<{w}} | "
        + " | ".join(f"{t:>9}" for t in tasks)
    )
    for n, row in rows.items():
        reps = np.array(row["meta_replicates"])
        print(
            f"{n:<{w}} | "
            + " | ".join(f"{row['meta_tasks'][t]:>9.3f}" for t in tasks)
            + f" | sd {reps.std(ddof=1):.3f}"
        )

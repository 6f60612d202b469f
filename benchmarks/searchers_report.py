"""The searchers benchmark's tables: quality at equal budget, cost per trial, overhead at N."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from harness.tables import fmt as _fmt
from searchers_runs import LABELS


def print_tables(record: dict[str, Any], console: Any) -> None:
    """Quality table (median best at equal budget), per-trial cost table, overhead table."""
    from rich.table import Table

    quality = record["quality"]
    methods = record["config"]["methods"]
    if quality:
        t = Table(
            title=(
                f"Median best-so-far at equal budget over seeds {record['config']['seeds']} "
                "(IQR in brackets; ↑ maximise, ↓ minimise)"
            )
        )
        t.add_column("method")
        for b, q in quality.items():
            arrow = "↑" if q["direction"] == "maximize" else "↓"
            best = f", best {_fmt(q['best_known'])}" if q["best_known"] is not None else ""
            t.add_column(f"{b} {arrow}\n{q['budget']} trials{best}", justify="right")
        t.add_column("mean rank", justify="right")
        ranks = mean_ranks(quality, methods)
        for m in methods:
            cells = []
            for q in quality.values():
                s = q["methods"].get(m, {}).get("summary")
                cells.append(
                    "-"
                    if s is None
                    else f"{_fmt(s['median_best'])} [{_fmt(s['q25'])}–{_fmt(s['q75'])}]"
                )
            t.add_row(LABELS[m], *cells, _fmt(ranks.get(m)))
        console.print(t)

        t = Table(
            title="Searcher cost per trial during the quality runs: ms of ask+tell (mean); "
            "Study row: full loop less evaluation"
        )
        t.add_column("method")
        for b in quality:
            t.add_column(b, justify="right")
        for m in methods:
            cells = []
            for q in quality.values():
                s = q["methods"].get(m, {}).get("summary")
                cells.append("-" if s is None else f"{s['ms_per_trial_mean']:.3g}")
            t.add_row(LABELS[m], *cells)
        console.print(t)

    overhead = record["overhead"]
    if overhead:
        ns = record["config"]["overhead_trials"]
        t = Table(
            title=f"Searcher overhead per ask (ask+tell ms, objective excluded) on "
            f"{record['config']['overhead_bench']}"
        )
        t.add_column("method")
        for n in ns:
            t.add_column(f"@ {n:,} trials", justify="right")
        t.add_column("notes")
        for m in methods:
            row = overhead.get(m, {})
            cells, notes = [], []
            for n in ns:
                r = row.get(str(n))
                if r is None:
                    cells.append("-")
                elif "na" in r:
                    cells.append("n/a")
                    notes.append(f"@{n}: {r['na']}")
                else:
                    a, b = r["window"]
                    cells.append(f"{r['ms_mean']:.3g} ({r['how']}, {a}–{b})")
            t.add_row(LABELS[m], *cells, "; ".join(notes))
        console.print(t)


def mean_ranks(quality: dict[str, Any], methods: Sequence[str]) -> dict[str, float]:
    """Mean over benchmarks of each method's rank by median best (1 = best, ties share)."""
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    for q in quality.values():
        sign = 1.0 if q["direction"] == "maximize" else -1.0
        scores = {
            m: sign * q["methods"][m]["summary"]["median_best"]
            for m in methods
            if m in q["methods"]
        }
        for m, s in scores.items():
            better = sum(1 for o in scores.values() if o > s)
            ties = sum(1 for o in scores.values() if o == s)
            ranks[m].append(better + (ties + 1) / 2)
    return {m: statistics.fmean(r) for m, r in ranks.items() if r}

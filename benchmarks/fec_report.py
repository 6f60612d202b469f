"""Aggregation and the 80-column tables of `benchmarks/fec.py` (also `--report` on a stored JSON)."""

from __future__ import annotations

import json
import math
import statistics
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fec_runs import PG_DEDUP, RE_FEC, RE_NO_FEC, TPE_HASHTUNE, RunResult, SpaceSetup, methods_for

SHORT = {
    "RE + FEC (hashtune)": "RE + FEC",
    "RE + FEC, mean of 2 (hashtune)": "RE + FEC, mean of 2",
    "RE, no FEC (hashtune)": "RE, no FEC",
    "PyGlove RE": "PyGlove RE",
    "PyGlove RE + Deduping(DNA)": "PyGlove RE + Deduping",
    "Optuna TPE (direct)": "Optuna TPE",
    "TPE (hashtune tpe, no cache)": "TPE (hashtune, no FEC)",
}


@dataclass(frozen=True)
class TableInfo:
    """What a space's table needs (kept in the JSON, so `--report` can print it again)."""

    key: str
    budget: int
    target: float
    target_note: str
    tpe_method: str
    cost_unit: str

    @classmethod
    def of(cls, setup: SpaceSetup) -> TableInfo:
        """The table info of a space setup."""
        return cls(
            setup.key,
            setup.budget,
            setup.target,
            setup.target_note,
            setup.tpe_method,
            setup.cost_unit,
        )


def median(values: list[float]) -> float:
    """Median that keeps infinities (a run that never reached the target)."""
    return float(statistics.median(values)) if values else math.nan


def ratio(p: float, b: float) -> tuple[float, str]:
    """(p / b, '='), or (nan, 'n/a') when either median is censored (never reached the target)."""
    if math.isfinite(p) and math.isfinite(b) and b > 0:
        return p / b, "="
    return math.nan, "n/a"


def aggregate(runs: list[RunResult], info: TableInfo) -> list[dict[str, Any]]:
    """One row per method: medians over seeds, and ratios to the no-FEC baseline."""
    rows = []
    for method in methods_for(info.tpe_method):
        mine = [r for r in runs if r.method == method]
        if not mine:
            continue
        rows.append(
            {
                "method": method,
                "seeds": len(mine),
                "reached": sum(not math.isinf(r.paid_to_target) for r in mine),
                **{
                    key: median([float(getattr(r, key)) for r in mine])
                    for key in (
                        "paid_to_target",
                        "cost_to_target",
                        "cost_total",
                        "best_truth_at_budget",
                        "proposals",
                        "functional_dup_fraction",
                        "dna_repeat_fraction",
                        "wall_seconds",
                        "rejected_inside_generator",
                    )
                },
            }
        )
    base = next((r for r in rows if r["method"] == RE_NO_FEC), None)
    for row in rows:
        for key in ("paid_to_target", "cost_to_target"):
            b = base[key] if base else math.nan
            row[f"{key}_vs_no_fec"], row[f"{key}_relation"] = ratio(row[key], b)
    return rows


def paired_fec(runs: list[RunResult]) -> dict[str, Any] | None:
    """RE + FEC against RE, no FEC seed by seed (same seed, same initial population)."""
    fec = {r.seed: r for r in runs if r.method == RE_FEC}
    base = {r.seed: r for r in runs if r.method == RE_NO_FEC}
    seeds = sorted(set(fec) & set(base))
    if not seeds:
        return None
    pairs = [(fec[s].paid_to_target, base[s].paid_to_target) for s in seeds]
    return {
        "seeds": len(seeds),
        "fewer": sum(x < y for x, y in pairs),
        "equal": sum(x == y and math.isfinite(x) for x, y in pairs),
        "more": sum(x > y for x, y in pairs),
        "neither_reached": sum(math.isinf(x) and math.isinf(y) for x, y in pairs),
        "served_from_cache": median([float(fec[s].proposals - fec[s].paid) for s in seeds]),
    }


def _fmt(x: float, spec: str, inf: str = "never") -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return inf
    return format(x, spec)


def _fmt_ratio(row: dict[str, Any], key: str) -> str:
    if row[f"{key}_relation"] == "n/a":
        return "n/a"
    return f"{row[f'{key}_vs_no_fec']:.2f}x"


def _note(text: str) -> None:
    print(textwrap.fill(text, width=79, initial_indent="  ", subsequent_indent="    "))


def print_table(info: TableInfo, rows: list[dict[str, Any]], paired: dict[str, Any] | None) -> None:
    """80 columns: one row per method, then the footnotes."""
    seeds = max((r["seeds"] for r in rows), default=0)
    print(
        f"{info.key}: median of {seeds} seeds, budget {info.budget} paid evals, "
        f"target {info.target:.4g}"
    )
    head = (
        f"{'method':<23}{'reach':>6}{'evals':>7}{'vs no':>7}{'cost':>8}{'vs no':>7}"
        f"{'cost @':>8}{'best':>7}{'fdup':>6}"
    )
    sub = (
        f"{'':<23}{'':>6}{'to tgt':>7}{'FEC':>7}{'to tgt':>8}{'FEC':>7}"
        f"{'budget':>8}{'true':>7}{'%':>6}"
    )
    print(head)
    print(sub)
    print("-" * 79)
    for r in rows:
        print(
            f"{SHORT.get(r['method'], r['method'])[:22]:<23}"
            f"{r['reached']:>3}/{r['seeds']:<2}"
            f"{_fmt(r['paid_to_target'], '.0f', f'>{info.budget}'):>7}"
            f"{_fmt_ratio(r, 'paid_to_target'):>7}"
            f"{_fmt(r['cost_to_target'], '.1f'):>8}"
            f"{_fmt_ratio(r, 'cost_to_target'):>7}"
            f"{_fmt(r['cost_total'], '.1f'):>8}"
            f"{_fmt(r['best_truth_at_budget'], '.3f'):>7}"
            f"{_fmt(100 * r['functional_dup_fraction'], '.0f'):>6}"
        )
    print("-" * 79)
    _note(f"cost: {info.cost_unit}; 'best true': best noise-free value within the budget")
    _note(f"target: {info.target_note}")
    _note("a median run that never reached the target shows '>budget' / 'never'")
    if paired is not None:
        _note(
            f"paired by seed: RE + FEC needed fewer paid evals to target than RE, no FEC in "
            f"{paired['fewer']}/{paired['seeds']} seeds, as many in {paired['equal']}, more in "
            f"{paired['more']}, neither reached it in {paired['neither_reached']}; median "
            f"{paired['served_from_cache']:.0f} proposals per run served from the cache"
        )
    dedup = next((r for r in rows if r["method"] == PG_DEDUP), None)
    if dedup is not None:
        _note(
            f"{SHORT[PG_DEDUP]}: median {dedup['rejected_inside_generator']:.0f} exact-DNA "
            "repeats per run redrawn inside the generator (never paid)"
        )
    if info.tpe_method == TPE_HASHTUNE:
        _note("TPE row: hashtune's `tpe` searcher (Optuna TPESampler) in a Study, cache off")
    if any(r["method"] == RE_FEC for r in rows):
        wall = {SHORT.get(r["method"], r["method"]): round(r["wall_seconds"], 1) for r in rows}
        _note(f"wall seconds per run (median): {wall}")


def report(paths: list[Path]) -> None:
    """Print the tables of JSON files `fec.py` wrote (no runs); runs of one space in several
    files (e.g. methods run separately) are merged, the first file's table settings kept."""
    infos: dict[str, TableInfo] = {}
    runs: dict[str, list[RunResult]] = {}
    for path in paths:
        record = json.loads(path.read_text())
        for key, data in record["spaces"].items():
            infos.setdefault(key, TableInfo(**{**data["table"], "key": key}))
            runs.setdefault(key, []).extend(RunResult(**floats(r)) for r in data["runs"])
        print(f"(from {path}, written {record['created']}, {record['total_seconds']:.0f}s)")
    for key, info in infos.items():
        print_table(info, aggregate(runs[key], info), paired_fec(runs[key]))


def floats(run: dict[str, Any]) -> dict[str, Any]:
    """Undo `jsonable` on a stored run: 'inf'/'nan' strings back to floats."""
    return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in run.items()}


def jsonable(x: Any) -> Any:
    """Infinities and NaN as strings, so the file is strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    return x

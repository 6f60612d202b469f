"""Trials as a pandas DataFrame and as readable rich tables (CLI)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hashtune.store import StudyRecord, StudyStats, StudySummary, TaskCacheSummary, TrialRecord

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

    from hashtune.view import StudyView


def _objective_names(study: StudyView) -> list[str]:
    return study.objectives


def trial_rows(trials: Sequence[TrialRecord], objectives: Sequence[str]) -> list[dict[str, Any]]:
    """Flat dicts, one per trial (objective columns named after the evaluator's objectives)."""
    number_of = {t.id: t.number for t in trials}
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state}
        for i, name in enumerate(objectives):
            row[name] = t.values[i] if t.values and i < len(t.values) else None
        row.update({f"params_{k}": v for k, v in sorted(t.params.items())})
        row.update(
            functional_hash=t.functional_hash,
            cached_from=number_of.get(t.cached_from_trial_id, t.cached_from_trial_id),
            parents=list(t.parents),
            mutation=t.mutation,
            duration_s=t.duration_s,
            started_at=t.started_at.isoformat() if t.started_at else None,
            worker=t.worker,
            error=(t.error or "").splitlines()[0] if t.error else None,
        )
        rows.append(row)
    return rows


def trials_dataframe(study: StudyView) -> pd.DataFrame:
    """The study's trials as a DataFrame (see `trial_rows` for the columns)."""
    import pandas as pd

    return pd.DataFrame(trial_rows(study.trials(), _objective_names(study)))


_LONG_FLOAT = re.compile(r"-?\d+\.\d{5,}(?:e-?\d+)?")


def candidate_summary(text: str, limit: int = 300) -> str:
    """A one-line, readable form of a stored candidate (falls back to the raw text)."""
    import pyglove as pg

    try:
        obj = pg.from_json_str(text)
        if hasattr(obj, "to_string"):  # e.g. NB201 cells in the standard notation
            summary = obj.to_string()
        elif hasattr(obj, "to_source"):  # programs: the body on one line
            body = obj.to_source().strip().splitlines()[1:]
            summary = "; ".join(line.strip() for line in body)
        else:
            summary = pg.format(obj, compact=True)
    except Exception:  # noqa: BLE001 - unknown classes, foreign JSON: show what is stored
        summary = text
    summary = _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.4g}", summary)
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def trials_table(study: StudyView, trials: Sequence[TrialRecord], title: str) -> Table:
    """A rich table of `trials`: number, state, objectives, candidate summary, cache source."""
    from rich.table import Table

    objectives = _objective_names(study)
    table = Table(title=title, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("state")
    for name in objectives:
        table.add_column(name, justify="right")
    table.add_column("candidate", overflow="fold", max_width=70)
    table.add_column("hash")
    table.add_column("from", justify="right")
    all_numbers = {t.id: t.number for t in study.trials()}
    for t in trials:
        vals = [
            _fmt(t.values[i] if t.values and i < len(t.values) else None)
            for i in range(len(objectives))
        ]
        summary = candidate_summary(t.candidate)
        if t.error and t.state == "FAILED":
            summary = t.error.splitlines()[0]
        cached_from = all_numbers.get(t.cached_from_trial_id) if t.cached_from_trial_id else None
        table.add_row(
            str(t.number),
            t.state,
            *vals,
            summary[:300],
            (t.functional_hash or "-")[:10],
            _fmt(cached_from),
        )
    return table


def studies_table(studies: Sequence[StudySummary]) -> Table:
    """One row per study: name, directions, counts per state, best value."""
    from rich.table import Table

    table = Table(title="studies", header_style="bold")
    for col in ("name", "directions", "trials", "complete", "cached", "failed", "best", "created"):
        table.add_column(col)
    for s in studies:
        n = s.n_trials
        table.add_row(
            s.name,
            ",".join(s.directions),
            str(s.total_trials),
            str(n.get("COMPLETE", 0)),
            str(n.get("CACHED", 0)),
            str(n.get("FAILED", 0)),
            _fmt(s.best_value),
            s.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def stats_table(name: str, stats: StudyStats) -> Table:
    """Proposal and cache accounting of one study."""
    from rich.table import Table

    table = Table(title=f"{name}: proposals and the equivalence cache", header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    dup = 1.0 - stats.unique_functions / stats.proposals if stats.proposals else 0.0
    for label, value in (
        ("proposals", stats.proposals),
        ("complete (paid)", stats.complete),
        ("cached (served)", stats.cached),
        ("failed", stats.failed),
        ("pruned", stats.pruned),
        ("running", stats.running),
        ("unique functions", stats.unique_functions),
        ("duplicate fraction", f"{dup:.1%}"),
        ("evaluations saved", stats.evaluations_saved),
        ("evaluation seconds saved", f"{stats.eval_seconds_saved:.1f}"),
        ("evaluation seconds paid", f"{stats.eval_seconds_paid:.1f}"),
    ):
        table.add_row(label, str(value))
    return table


_SOURCES = {
    "computed": "computed from the evaluator's content",
    "explicit": "declared with task=",
    "scoped": "scoped to this study (part of the evaluator cannot be digested)",
}


def task_table(record: StudyRecord, summary: TaskCacheSummary, version: str) -> Table:
    """The task a study's cache entries belong to, who shares them, and stale hash versions."""
    from rich.table import Table
    from rich.text import Text

    info = record.config.get("task_identity") or {}
    table = Table(title=f"{record.name}: task and cache entries", header_style="bold")
    table.add_column("measure")
    table.add_column("value", overflow="fold")
    others = [n for n in summary.studies if n != record.name]
    rows = [
        ("task", summary.task),
        ("task source", _SOURCES.get(info.get("source"), "recorded by an older hashtune")),
        *(("undigestable", u) for u in info.get("undigestable", [])),
        (f"entries (hash version {version})", str(summary.entries)),
        ("studies sharing these entries", ", ".join(others) or "none"),
    ]
    for label, counts in (
        ("this task", summary.other_versions),
        ("whole store", summary.store_other_versions),
    ):
        for old, n in sorted(counts.items()):
            rows.append((f"older hash version ({label})", f"{n} entries under {old}, never served"))
    for label, value in rows:
        table.add_row(label, Text(value))  # Text: names like "study:locked:..." stay verbatim
    return table

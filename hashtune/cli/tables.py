"""Trials as a pandas DataFrame and as readable rich tables (CLI)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hashtune.accounting import AuditSummary, SimulatedCost
from hashtune.store import StudyRecord, StudyStats, StudySummary, TaskCacheSummary, TrialRecord
from hashtune.vocabulary import SECONDS_PER_HOUR, TrialState

if TYPE_CHECKING:
    from rich.table import Table

    from hashtune.view import StudyView


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


_LONG_FLOAT = re.compile(r"-?\d+\.\d{5,}(?:e-?\d+)?")


def _notation(text: str) -> str | None:
    """A candidate's own one-line notation (NB201 cell string, program body), if it has one."""
    import pyglove as pg

    try:
        obj = pg.from_json_str(text)
    except Exception:  # noqa: BLE001 - unknown classes, foreign JSON
        return None
    if hasattr(obj, "to_string"):  # e.g. NB201 cells in the standard notation
        return obj.to_string()
    if hasattr(obj, "to_source"):  # programs: the body on one line
        body = obj.to_source().strip().splitlines()[1:]
        return "; ".join(line.strip() for line in body)
    return None


def candidate_summary(text: str, limit: int = 300) -> str:
    """A one-line, readable form of a stored candidate (falls back to the raw text)."""
    import pyglove as pg

    summary = _notation(text)
    if summary is None:
        try:
            summary = pg.format(pg.from_json_str(text), compact=True)
        except Exception:  # noqa: BLE001 - show what is stored
            summary = text
    summary = _LONG_FLOAT.sub(lambda m: f"{float(m.group()):.4g}", summary)
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"


def _short_key(key: str) -> str:
    """`learning_rate` → `lr`: snake_case names of two or more words by their initials."""
    parts = [p for p in key.split("_") if p]
    return "".join(p[0] for p in parts) if len(parts) >= 2 else key


def _short_value(v: Any) -> str:
    if isinstance(v, dict):
        inner = {k: x for k, x in v.items() if k != "_type"}
        name = str(v.get("_type", "")).rsplit(".", 1)[-1]
        return f"{name}({' '.join(f'{k}={_short_value(x)}' for k, x in inner.items())})"
    if isinstance(v, list):
        return "[" + ", ".join(_short_value(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fields(text: str) -> dict[str, Any] | None:
    """The top-level fields of a stored symbolic candidate (JSON with `_type`), else None."""
    import json

    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or "_type" not in data:
        return None
    return {k: v for k, v in data.items() if k != "_type"}


def varying_summaries(texts: Sequence[str], reference: Sequence[str]) -> list[str]:
    """One-line summaries of candidates showing only the fields that vary across `reference`
    (the study's candidates): `hidden=[64, 64] swish lr=0.01 wd=0 bs=64`. Cells and programs,
    which have their own notation, keep it."""
    ref_fields = [f for f in (_fields(t) for t in reference) if f is not None]
    keys: list[str] = []
    for f in ref_fields:
        keys.extend(k for k in f if k not in keys)
    varying = [k for k in keys if len({repr(f.get(k)) for f in ref_fields}) > 1]
    out = []
    for text in texts:
        fields = _fields(text)
        if fields is None or _notation(text) is not None:
            out.append(candidate_summary(text))
            continue
        shown = varying or list(fields)
        parts = []
        for k in shown:
            if k not in fields:
                continue
            v = fields[k]
            parts.append(v if isinstance(v, str) else f"{_short_key(k)}={_short_value(v)}")
        out.append(" ".join(parts) or candidate_summary(text))
    return out


class Clamped:
    """Text wrapped to the cell's width and cut after `lines` lines (with "…"): a long candidate
    (a program, a cell) keeps a table row short; `hashtune trial STUDY N` shows it whole."""

    def __init__(self, text: str, lines: int = 2):
        self.text = text
        self.lines = lines

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        width = max(options.max_width, 2)
        lines = Text(self.text).wrap(console, width, overflow="fold")
        if len(lines) > self.lines:
            lines = lines[: self.lines]
            last = lines[-1]
            last.truncate(width - 1)
            last.append("…")
        yield Text("\n").join(lines)

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        longest = max((len(w) for w in self.text.split()), default=1)
        return Measurement(min(longest, 12), max(len(self.text), 1))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def trials_table(study: StudyView, trials: Sequence[TrialRecord], title: str) -> Table:
    """A rich table of `trials`: number, state, objectives, candidate summary, cache source."""
    from rich.table import Table

    objectives = study.objectives
    table = Table(title=title, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("state")
    for name in objectives:
        table.add_column(name, justify="right")
    table.add_column("candidate", overflow="fold", ratio=1)
    table.add_column("hash")
    table.add_column("from", justify="right")
    sources = [t.cached_from_trial_id for t in trials if t.cached_from_trial_id]
    all_numbers = study.store.trials.numbers(sources)
    reference = [t.candidate for t in trials] + study.store.queries.candidate_sample(study.study_id)
    summaries = varying_summaries([t.candidate for t in trials], reference)
    for t, summary in zip(trials, summaries, strict=True):
        vals = [
            _fmt(t.values[i] if t.values and i < len(t.values) else None)
            for i in range(len(objectives))
        ]
        if t.error and t.state == TrialState.FAILED:
            summary = t.error.splitlines()[0]
        cached_from = all_numbers.get(t.cached_from_trial_id) if t.cached_from_trial_id else None
        table.add_row(
            str(t.number),
            t.state,
            *vals,
            Clamped(summary[:300]),
            (t.functional_hash or "-")[:8],
            _fmt(cached_from),
        )
    return table


def studies_table(studies: Sequence[StudySummary]) -> Table:
    """One row per study: name, directions, counts per state, best value."""
    from rich.table import Table

    table = Table(title="studies", header_style="bold")
    longest = max((len(s.name) for s in studies), default=4)
    table.add_column("name", no_wrap=True, min_width=min(longest, 60))  # typed next: never cut
    table.add_column("dir")
    for col in ("trials", "complete", "cached", "failed", "best"):
        table.add_column(col, justify="right")
    table.add_column("created", no_wrap=True)
    for s in studies:
        n = s.n_trials
        table.add_row(
            s.name,
            ",".join(d[:3] for d in s.directions),
            str(s.total_trials),
            str(n.get(TrialState.COMPLETE, 0)),
            str(n.get(TrialState.CACHED, 0)),
            str(n.get(TrialState.FAILED, 0)),
            _fmt(s.best_value),
            s.created_at.strftime("%m-%d %H:%M"),
        )
    return table


def stats_table(
    name: str,
    stats: StudyStats,
    cost: SimulatedCost | None = None,
    audits: AuditSummary | None = None,
) -> Table:
    """Proposal and cache accounting of one study; simulated GPU hours and audits when known."""
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
    if cost is not None:
        table.add_row("simulated GPU hours paid", f"{cost.paid_s / SECONDS_PER_HOUR:.2f}")
        table.add_row("simulated GPU hours saved", f"{cost.saved_s / SECONDS_PER_HOUR:.2f}")
        if cost.unknown_hits:
            table.add_row("hits of unknown simulated cost", str(cost.unknown_hits))
    if audits is not None:
        table.add_row("audited hits", str(audits.audits))
        table.add_row(
            "audit |cached - fresh| median / max",
            f"{audits.median_abs_diff:.4g} / {audits.max_abs_diff:.4g}",
        )
    return table


def candidate_full(text: str) -> str:
    """The whole candidate, readably: its own notation plus the multi-line PyGlove form."""
    import pyglove as pg

    try:
        obj = pg.from_json_str(text)
    except Exception:  # noqa: BLE001 - a class that is not importable here: the stored JSON
        return text
    if hasattr(obj, "to_source"):
        return obj.to_source()
    form = pg.format(obj, compact=False, verbose=False)
    return f"{obj.to_string()}\n{form}" if hasattr(obj, "to_string") else form


def candidate_simplified(text: str) -> str | None:
    """An optimizer program's readable form (dead code out, constants folded, registers
    renamed), or None when the candidate is no program."""
    import pyglove as pg

    from hashtune.spaces.optimizers.program import Program
    from hashtune.spaces.optimizers.simplify import simplify

    try:
        obj = pg.from_json_str(text)
    except Exception:  # noqa: BLE001 - not loadable here: nothing to simplify
        return None
    return simplify(obj).to_source() if isinstance(obj, Program) else None


def trial_detail(study: StudyView, trial: TrialRecord) -> Table:
    """Every field of one trial, the candidate in full (`hashtune trial STUDY N`)."""
    from rich.table import Table

    sources = [trial.cached_from_trial_id] if trial.cached_from_trial_id else []
    numbers = study.store.trials.numbers(sources)
    table = Table(title=f"{study.name}: trial {trial.number}", show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    values = dict(zip(study.objectives, trial.values or (), strict=False))
    rows = [
        ("state", trial.state),
        *((name, _fmt(v)) for name, v in values.items()),
        ("candidate", candidate_full(trial.candidate)),
        *(
            [("simplified", simple)]
            if (simple := candidate_simplified(trial.candidate)) is not None
            else []
        ),
        ("functional hash", trial.functional_hash or "-"),
        ("served from trial", _fmt(numbers.get(trial.cached_from_trial_id))),
        ("parents", ", ".join(map(str, trial.parents)) or "-"),
        ("mutation", trial.mutation or "-"),
        ("duration (s)", _fmt(trial.duration_s)),
        ("worker", trial.worker or "-"),
        ("error", trial.error or "-"),
    ]
    for field, value in rows:
        table.add_row(field, str(value))
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

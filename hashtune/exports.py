"""Exports that lose nothing: CSV, JSON and Parquet with types, directions and distributions.

Columns: `number`, `state`, one `value.<objective>` per objective, one `param.<name>` per
parameter (stored values: ints stay ints), then `started_at`, `finished_at`, `duration_s`,
`functional_hash`, `cached_from` (number of the trial that paid), `parents` (JSON list),
`mutation`, `worker`, `task`, `error`. Fixed names have no dot, so no objective or parameter name
can collide with them or with each other. The metadata block (study, directions, objectives,
Optuna distributions of the parameters, each column's type) is JSON's top-level keys, a
`FILE.meta.json` sidecar for CSV, and the schema metadata (key `hashtune`) for Parquet.
Intermediate values go in long form (`trial`, `step`, `value`): JSON key `intermediate_values`,
sidecar `FILE.intermediate.csv` / `FILE.intermediate.parquet`. `read_export` reads any of them
back with the types restored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from pathlib import Path
from typing import Any

from optuna.distributions import distribution_to_json

from hashtune.optuna_trials import (
    frozen_trials,
    recorded_distributions,
    space_distributions,
    study_space,
    union_distributions,
)
from hashtune.spaces.base import Space

FORMAT = "hashtune-export/1"
_FIXED_TAIL = ("started_at", "finished_at", "duration_s", "functional_hash", "cached_from",
               "parents", "mutation", "worker", "task", "error")  # fmt: skip
_FIXED_TYPES = {"number": "int", "state": "str", "started_at": "datetime",
                "finished_at": "datetime", "duration_s": "float", "cached_from": "int",
                "parents": "json"}  # fmt: skip


def _type_of(values: list[Any]) -> str:
    """The column type that holds every non-null value exactly."""
    present = [v for v in values if v is not None]
    for name, ok in (
        ("bool", lambda v: type(v) is bool),
        ("int", lambda v: type(v) is int),
        ("float", lambda v: type(v) in (int, float)),
        ("str", lambda v: type(v) is str),
    ):
        if present and all(ok(v) for v in present):
            return name
    return "json" if present else "str"


def _iso(ts: dt.datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def export_data(view: Any, space: Space | None = None) -> dict[str, Any]:
    """The study as {metadata..., `trials`: rows, `intermediate_values`: long-form rows}."""
    trials = view.trials()
    number_of = {t.id: t.number for t in trials}
    param_names = sorted({k for t in trials for k in t.params})
    objectives = list(view.objectives)
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state}
        for i, name in enumerate(objectives):
            row[f"value.{name}"] = t.values[i] if t.values and i < len(t.values) else None
        for k in param_names:
            row[f"param.{k}"] = t.params.get(k)
        row.update(
            started_at=_iso(t.started_at), finished_at=_iso(t.finished_at),
            duration_s=t.duration_s, functional_hash=t.functional_hash,
            cached_from=number_of.get(t.cached_from_trial_id) if t.cached_from_trial_id else None,
            parents=list(t.parents), mutation=t.mutation, worker=t.worker, task=t.task,
            error=t.error,
        )  # fmt: skip
        rows.append(row)
    columns = ["number", "state", *(f"value.{n}" for n in objectives)]
    columns += [f"param.{k}" for k in param_names] + list(_FIXED_TAIL)
    types = {c: _FIXED_TYPES.get(c, "str") for c in columns}
    types.update({f"value.{n}": "float" for n in objectives})
    types.update({f"param.{k}": _type_of([t.params.get(k) for t in trials]) for k in param_names})
    dists = _distributions(view, space or study_space(view))
    return {
        "format": FORMAT,
        "study": view.name,
        "directions": list(view.directions),
        "objectives": objectives,
        "distributions": {k: json.loads(distribution_to_json(d)) for k, d in dists.items()},
        "distributions_note": "Optuna distributions of the space's decision points, by "
        "decision id (as `hashtune export --format optuna` writes the params)",
        "columns": types,
        "trials": rows,
        "intermediate_values": [
            {"trial": t.number, "step": s, "value": v} for t in trials for s, v in t.intermediate
        ],
    }


def _distributions(view: Any, space: Space | None) -> dict[str, Any]:
    """The space's distributions: from its spec when it can say, else from the trials."""
    recorded = recorded_distributions(view)
    if recorded is not None:
        return recorded
    whole = space_distributions(space) if space is not None else None
    return whole if whole is not None else union_distributions(frozen_trials(view, space))


def _meta(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("trials", "intermediate_values")}


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value)
    if kind == "float":
        return repr(float(value))
    return str(value)


def _parse(text: str, kind: str) -> Any:
    if text == "":
        return None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text == "True"
    if kind == "json":
        return json.loads(text)
    return text


def _csv(rows: list[dict[str, Any]], types: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(types))
    for row in rows:
        writer.writerow([_cell(row[c], types[c]) for c in types])
    return out.getvalue()


def _long_types() -> dict[str, str]:
    return {"trial": "int", "step": "int", "value": "float"}


def write_export(data: dict[str, Any], fmt: str, path: Path | None) -> list[Path]:
    """Write `data` as `fmt` to `path` (and its sidecars); to stdout when `path` is None (CSV:
    the trials table only). Returns the files written."""
    import sys

    if fmt == "json":
        text = json.dumps(data, indent=2, allow_nan=True)
        if path is None:
            sys.stdout.write(text + "\n")
            return []
        path.write_text(text + "\n")
        return [path]
    if fmt == "csv":
        table = _csv(data["trials"], data["columns"])
        if path is None:
            sys.stdout.write(table)
            return []
        meta, steps = Path(f"{path}.meta.json"), _sidecar(path, "csv")
        path.write_text(table)
        meta.write_text(json.dumps(_meta(data), indent=2) + "\n")
        steps.write_text(_csv(data["intermediate_values"], _long_types()))
        return [path, meta, steps]
    if fmt == "parquet":
        if path is None:
            raise ValueError("--format parquet needs --output FILE")
        steps = _sidecar(path, "parquet")
        _parquet(data["trials"], data["columns"], path, _meta(data))
        _parquet(data["intermediate_values"], _long_types(), steps, {"study": data["study"]})
        return [path, steps]
    raise ValueError(f"unknown export format {fmt!r}; known: csv, json, parquet")


def _sidecar(path: Path, ext: str) -> Path:
    return path.with_name(f"{path.stem}.intermediate.{ext}")


_ARROW = {"int": "int64", "float": "float64", "bool": "bool_", "str": "string"}


def _parquet(rows: list[dict], types: dict[str, str], path: Path, meta: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields, arrays = [], []
    for c, kind in types.items():
        arrow = getattr(pa, _ARROW.get(kind, "string"))()
        vals = [r[c] for r in rows]
        if kind in ("json", "datetime"):
            vals = [None if v is None else (json.dumps(v) if kind == "json" else v) for v in vals]
        fields.append(pa.field(c, arrow))
        arrays.append(pa.array(vals, type=arrow))
    schema = pa.schema(fields, metadata={"hashtune": json.dumps(meta)})
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


def read_export(path: Path) -> dict[str, Any]:
    """Read a file `write_export` wrote (by its extension) back into `export_data`'s shape."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".csv":
        data = json.loads(Path(f"{path}.meta.json").read_text())
        data["trials"] = _read_csv(path.read_text(), data["columns"])
        data["intermediate_values"] = _read_csv(_sidecar(path, "csv").read_text(), _long_types())
        return data
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        data = json.loads(table.schema.metadata[b"hashtune"])
        data["trials"] = _from_arrow(table.to_pylist(), data["columns"])
        data["intermediate_values"] = pq.read_table(_sidecar(path, "parquet")).to_pylist()
        return data
    raise ValueError(f"{str(path)!r}: not a .json, .csv or .parquet export")


def _read_csv(text: str, types: dict[str, str]) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    return [{c: _parse(row[c], types[c]) for c in types} for row in reader]


def _from_arrow(rows: list[dict[str, Any]], types: dict[str, str]) -> list[dict[str, Any]]:
    for row in rows:
        for c, kind in types.items():
            if kind == "json" and row[c] is not None:
                row[c] = json.loads(row[c])
            elif kind == "float" and row[c] is not None and math.isnan(row[c]):
                row[c] = float("nan")
    return rows

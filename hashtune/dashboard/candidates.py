"""A stored candidate shown readably: PyGlove format, program source, the NB201 cell as a graph."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from hashtune.spaces.optimizers.program import Program
from hashtune.spaces.optimizers.simplify import simplify

_EDGE = re.compile(r"^op_(\d+)_(\d+)$")
_SPACE_MODULES = (
    "hashtune.spaces.nas_bench_201",
    "hashtune.spaces.optimizers",
    "hashtune.spaces.mlp",
)


def warm() -> None:
    """Import the packaged spaces so their classes deserialize."""
    for name in _SPACE_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a space that cannot import is shown as JSON
            pass


def _load(text: str) -> Any:
    """The symbolic object a candidate's JSON describes (its module imported on demand)."""
    import pyglove as pg

    data = json.loads(text)
    kind = data.get("_type", "") if isinstance(data, dict) else ""
    if kind:
        module = kind.rsplit(".", 1)[0]
        if module.startswith("hashtune."):
            importlib.import_module(module)
    return pg.from_json(data)


def render(text: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """`{"pyglove", "source", "simplified", "cell": {"edges"}}`: what the candidate allows."""
    out: dict[str, Any] = {"raw": text}
    try:
        obj = _load(text)
    except Exception:  # noqa: BLE001 - not PyGlove JSON: pretty-print what there is
        try:
            out["pyglove"] = json.dumps(json.loads(text), indent=2)
        except ValueError:
            out["pyglove"] = text
        obj = None
    if obj is not None:
        import pyglove as pg

        out["pyglove"] = pg.format(obj, compact=False, verbose=False)
        if hasattr(obj, "to_source"):
            try:
                out["source"] = obj.to_source()
            except Exception:  # noqa: BLE001
                pass
        if isinstance(obj, Program):  # dead code out, constants folded, registers renamed
            out["simplified"] = simplify(obj).to_source()
    edges = cell_edges(params or {})
    if edges:
        out["cell"] = {"edges": edges}
    return out


def cell_edges(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Edges `op_i_j` of a cell-like candidate: [{"src": i, "dst": j, "op": ...}]."""
    edges = []
    for key, op in params.items():
        m = _EDGE.match(str(key))
        if m:
            edges.append({"src": int(m.group(1)), "dst": int(m.group(2)), "op": str(op)})
    return sorted(edges, key=lambda e: (e["dst"], e["src"]))


def short(text: str, limit: int = 300) -> str:
    """One-line candidate text for hovers."""
    try:
        obj = _load(text)
        import pyglove as pg

        line = pg.format(obj, compact=True, verbose=False)
    except Exception:  # noqa: BLE001
        line = text
    return line if len(line) <= limit else line[: limit - 1] + "…"

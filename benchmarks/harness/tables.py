"""Rich tables at 80 columns, and number formatting shared by the benchmarks' reports."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

WIDTH = 80


def console(width: int = WIDTH) -> Console:
    """A console `width` columns wide whatever the terminal (tables read the same in logs)."""
    return Console(width=width)


def fmt(x: Any, digits: int = 4) -> str:
    """`x` with `digits` significant digits; '-' for None or NaN; other values as text."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    out: Console | None = None,
    caption: str | None = None,
) -> Table:
    """Print a table of `rows` under `columns` (first left-aligned, the rest right-aligned)."""
    t = Table(title=title, caption=caption)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*(fmt(v) for v in r))
    (out or console()).print(t)
    return t

"""Tables as stores from before the `ht_` prefix named them (for tests that build old stores)."""

from __future__ import annotations

from sqlalchemy import MetaData, Table

from hashtune.store.models import TABLE_PREFIX

_OLD = MetaData()


def legacy(model: type) -> Table:
    """The model's table under its unprefixed name (`Trial` → `trials`), for INSERTs at 0001-0006."""
    table = model.__table__  # type: ignore[attr-defined]
    name = table.name.removeprefix(TABLE_PREFIX)
    if name in _OLD.tables:
        return _OLD.tables[name]
    return table.to_metadata(_OLD, name=name)

"""What every `hashtune` command shares: the console, the storage option, opening studies."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from hashtune.cli.support import immutable_url
from hashtune.study import DEFAULT_STORAGE

console = Console()
err = Console(stderr=True)

StorageOpt = typer.Option(DEFAULT_STORAGE, "--storage", "-s", help="SQLAlchemy URL of the store.")


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def existing_store(storage: str):
    """Open a store for reading; a SQLite file that does not exist is an error, never created."""
    from hashtune.store import Store, StoreError

    prefix, _, rest = storage.partition(":///")
    if prefix.startswith("sqlite") and rest and rest != ":memory:" and not Path(rest).exists():
        fail(
            f"no store at {rest!r} (from --storage {storage}); check the path or run a study first"
        )
    try:
        return Store(storage)
    except StoreError as e:
        frozen = immutable_url(storage) if "is read-only for this user" in str(e) else None
        if frozen is None:
            fail(str(e))
    try:  # a read-only file or folder: read it as an unchanging file (SQLite `immutable`)
        return Store(frozen)
    except StoreError as e:
        fail(str(e))


def open_record(study: str, storage: str):
    from hashtune.store import StoreError

    store = existing_store(storage)
    try:
        record = store.studies.get(study)
    except StoreError as e:
        fail(str(e))
    if record is None:
        names = ", ".join(s.name for s in store.studies.list()) or "none"
        fail(f"no study named {study!r} in {storage} (studies there: {names})")
    return store, record


def load_view(study: str, storage: str):
    from hashtune.view import StudyView

    store, _ = open_record(study, storage)
    return StudyView.open(study, store)

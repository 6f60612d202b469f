"""`hashtune` commands that move data in and out: export, import, importance, artifacts."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from hashtune.cli.common import StorageOpt, console, err, fail, load_view


class Format(StrEnum):
    csv = "csv"
    json = "json"
    parquet = "parquet"
    optuna = "optuna"


def export(
    study: str,
    storage: str = StorageOpt,
    format: Format = typer.Option(Format.csv, "--format", "-f"),
    output: Path = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    to: str = typer.Option(None, "--to", help="--format optuna: RDB URL or journal file path."),
    name: str = typer.Option(None, "--name", help="--format optuna: the Optuna study's name."),
) -> None:
    """Export a study: CSV/JSON/Parquet with types and metadata, or a real Optuna study."""
    view = load_view(study, storage)
    if format is Format.optuna:
        from hashtune.optuna_export import export_to_optuna

        if not to:
            fail("--format optuna needs --to URL (an RDB URL or a journal file path)")
        try:
            export_to_optuna(view, to, name=name)
        except (ValueError, OSError) as e:
            fail(str(e))
        console.print(
            f"wrote {len(view.trials())} trials to Optuna study {name or study!r} in {to}"
        )
        return
    from hashtune.exports import export_data, write_export

    try:
        written = write_export(export_data(view), format.value, output)
    except (ValueError, OSError) as e:
        fail(str(e))
    if written:
        console.print(f"wrote {len(view.trials())} trials to {', '.join(map(str, written))}")
    elif format is Format.csv:
        err.print("(stdout holds the trials table only; -o FILE also writes the metadata and "
                  "intermediate values beside it)")  # fmt: skip


def import_study(
    url: str = typer.Argument(..., help="Optuna storage: RDB URL or journal file path."),
    study: str = typer.Argument(..., help="The Optuna study's name."),
    storage: str = StorageOpt,
    name: str = typer.Option(None, "--name", help="hashtune study to create or add to."),
    searcher: str = typer.Option("tpe", help="Searcher recorded for a new study."),
) -> None:
    """Bring an Optuna study's finished trials into the store (they warm-start the searcher)."""
    from optuna.exceptions import OptunaError

    from hashtune.optuna_import import import_from_optuna
    from hashtune.store import StoreError

    try:
        result = import_from_optuna(url, study, storage, name=name, searcher=searcher)
    except (KeyError, ValueError, OptunaError, StoreError, OSError) as e:
        fail(f"cannot import Optuna study {study!r} from {url}: {e}")
    console.print(f"imported {result.imported} trial(s) into hashtune study {result.study!r}")
    for why, n in result.skipped.items():
        console.print(f"skipped {n} trial(s): {why}")


def importance(
    study: str,
    storage: str = StorageOpt,
    objective: int = typer.Option(0, help="Objective number (several objectives)."),
    plot: Path = typer.Option(None, "--plot", help="Also draw a bar chart (PNG/SVG/PDF)."),
) -> None:
    """Parameter importance (fANOVA over the space's decision points, conditional ones too)."""
    from hashtune.importance import importance_table, param_importances, plot_importances

    view = load_view(study, storage)
    try:
        values = param_importances(view, objective=objective)
    except ValueError as e:
        fail(str(e), code=1)
    label = view.objectives[objective]
    console.print(importance_table(study, values, label))
    if plot is not None:
        console.print(f"wrote {plot_importances(values, plot, f'{study}: {label}')}")


def artifacts(
    study: str,
    trial: int = typer.Argument(..., help="Trial number."),
    storage: str = StorageOpt,
    get: str = typer.Option(None, "--get", help="Fetch the artifact of this name."),
    to: Path = typer.Option(None, "--to", help="Where to write it (default: its name here)."),
) -> None:
    """List a trial's artifacts, or fetch one (a cached trial shows those of the one that paid)."""
    from hashtune.artifacts import artifacts_table, fetch_artifact

    view = load_view(study, storage)
    found = [t for t in view.trials() if t.number == trial]
    if not found:
        fail(f"study {study!r} has no trial number {trial} ({len(view.trials())} trials)")
    records = view.store.artifacts.list(found[0].id)
    if get is None:
        if not records:
            console.print(f"trial {trial} of {study!r} has no artifacts")
            return
        console.print(artifacts_table(study, trial, records))
        return
    match = [a for a in records if a.name == get]
    if not match:
        names = ", ".join(a.name for a in records) or "none"
        fail(f"trial {trial} of {study!r} has no artifact {get!r} (it has: {names})")
    try:
        path = fetch_artifact(match[0], to or Path(get))
    except (OSError, ValueError) as e:
        fail(str(e), code=1)
    console.print(f"wrote {path} ({match[0].size} bytes)")


def register(app: typer.Typer) -> None:
    """Add these commands to the `hashtune` app."""
    app.command()(export)
    app.command("import")(import_study)
    app.command()(importance)
    app.command()(artifacts)

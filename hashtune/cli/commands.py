"""The `hashtune` command line: run experiment files and look at studies in the store."""

from __future__ import annotations

import contextlib
import os
import sys
from enum import StrEnum
from pathlib import Path

import typer

from hashtune.cli import data as cli_data
from hashtune.cli.common import StorageOpt, console, err, existing_store, fail, load_view
from hashtune.cli.support import evaluation_threads_alive, resume_command
from hashtune.vocabulary import TrialState

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _interrupted(study, exc: KeyboardInterrupt, resume: str) -> None:
    """One line, exit 130. Trials in flight are already failed as interrupted (they do not count
    toward the budget), so the resume finishes it. With JAX loaded (or an abandoned evaluation
    thread still running) it exits with `os._exit` once the store and the output are done:
    Python's shutdown would otherwise tear down a thread, or XLA work the interrupt cut short,
    inside C++ frames ("terminate called ... FATAL: exception not rethrown", SIGABRT/SIGSEGV)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
    with contextlib.suppress(Exception):
        study.close()
    why = f" ({exc})" if getattr(exc, "by_evaluator", False) else ""
    err.print(f"interrupted{why}; resume with: {resume}", highlight=False, soft_wrap=True)
    if "jax" in sys.modules or evaluation_threads_alive():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    raise typer.Exit(130)


@app.command()
def run(
    experiment: Path = typer.Argument(..., help="Experiment file (YAML)."),
    storage: str = typer.Option(None, "--storage", "-s", help="Overrides the file's `storage`."),
    trials: int = typer.Option(
        None, help="Overrides `budget.trials`: the study's TOTAL, counting trials done."
    ),
    more: int = typer.Option(None, help="Run N trials more than the study has now."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    top: int = typer.Option(5, help="Rows in the table of best candidates printed at the end."),
    allow_config_change: bool = typer.Option(
        False, help="Resume even if the file's space or searcher differs from the stored one."
    ),
) -> None:
    """Create or resume the study an experiment file describes, and run it to its budget."""
    from hashtune.experiment import ExperimentError, load_experiment, open_study
    from hashtune.store import StoreError

    for flag, value in (("--trials", trials), ("--more", more)):
        if value is not None and value < 1:
            fail(f"{flag} must be a whole number >= 1, got {value}")
    if trials is not None and more is not None:
        fail("give --trials (the study's total) or --more (trials to add), not both")
    try:
        exp = load_experiment(experiment)
        study = open_study(exp, experiment, storage, allow_config_change)
    except ExperimentError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted while opening the study; nothing was run", code=130)
    done = study.count_toward_budget()
    total = done + more if more is not None else (trials or exp.budget.total_trials)
    try:
        _run_study(study, exp, done, total, progress, top)
    except KeyboardInterrupt as e:  # Ctrl-C, or an evaluator raising it (see EvaluatorInterrupt)
        asked = total if trials is not None or more is not None else None
        _interrupted(study, e, resume_command(experiment, storage, asked))
    except StoreError as e:  # retried transient errors gave up, or a permanent one
        fail(f"study {study.name!r} stopped: {e}", code=1)
    finally:
        with contextlib.suppress(Exception):  # else the slot frees itself once it is stale
            study.close()


def _run_study(study, exp, done: int, total: int | None, progress: bool, top: int) -> None:
    """Run the opened study to its budget and print the best candidates and the cache stats."""
    from hashtune.cli.tables import stats_table, trials_table

    if total is not None and total < done:
        console.print(
            f"study [bold]{study.name}[/] already has {done} trial(s), more than the total of "
            f"{total} asked for (--trials and budget.trials count every trial); nothing to run. "
            "Use --more N to add N trials."
        )
    if study.recovered:
        console.print(
            f"resumed [bold]{study.name}[/]: {len(study.recovered)} interrupted trial(s) marked "
            f"INTERRUPTED: {study.recovered}"
        )
    remaining = None if total is None else max(total - done, 0)
    console.print(
        f"study [bold]{study.name}[/] in {study.store.url}: {done} trial(s) done, "
        f"{'no trial limit' if remaining is None else f'{remaining} to go'}"
    )
    if remaining != 0:
        study.optimize(
            n_trials=remaining,
            total_trials=total,
            timeout=exp.budget.timeout_s,
            max_evaluations=exp.budget.max_evaluations,
            trial_timeout=exp.budget.trial_timeout_s,
            max_retries=exp.budget.max_retries,
            show_progress=progress,
        )
    if len(study.directions) > 1:  # several objectives: the non-dominated trials, nothing else
        console.print(
            trials_table(study, study.pareto_front()[:top], f"{study.name}: Pareto front")
        )
    else:
        console.print(trials_table(study, study.top(top), f"{study.name}: best candidates"))
    console.print(
        stats_table(study.name, study.stats(), study.simulated_cost(), study.audit_summary())
    )
    console.print(f"store: {study.store.url}")


@app.command()
def studies(storage: str = StorageOpt) -> None:
    """List the studies in the store."""
    from hashtune.cli.tables import studies_table
    from hashtune.store import StoreError

    try:
        rows = existing_store(storage).studies.list()
    except StoreError as e:
        fail(str(e))
    if not rows:
        console.print(f"no studies in {storage}")
        return
    console.print(studies_table(rows))


#: `--state` choices: every trial state, or all of them.
StateFilter = StrEnum("StateFilter", {"all": "all"} | {s.name: s.value for s in TrialState})


@app.command()
def trials(
    study: str,
    storage: str = StorageOpt,
    state: StateFilter = typer.Option(StateFilter.all, help="Only trials in this state."),
    last: int = typer.Option(50, help="Show the last N trials (0: all)."),
) -> None:
    """List a study's trials."""
    from hashtune.cli.tables import trials_table

    s = load_view(study, storage)
    states = None if state is StateFilter.all else [state.value]
    rows = s.latest_trials(last, states) if last else s.trials(states)
    console.print(trials_table(s, rows, f"{study}: trials"))


@app.command()
def trial(study: str, number: int, storage: str = StorageOpt) -> None:
    """One trial in full: the whole candidate, values, lineage, hash, error text."""
    from hashtune.cli.tables import trial_detail
    from hashtune.store import TrialNotFoundError

    s = load_view(study, storage)
    try:
        found = s.store.trials.by_number(s.study_id, number)
    except TrialNotFoundError:
        fail(f"study {study!r} has no trial number {number} ({s.stats().proposals} trials)")
    console.print(trial_detail(s, found))


@app.command()
def best(
    study: str,
    storage: str = StorageOpt,
    k: int = typer.Option(10, "-k", help="How many (one per distinct function)."),
) -> None:
    """The best candidates of a study (Pareto front for several objectives)."""
    from hashtune.cli.tables import trials_table

    s = load_view(study, storage)
    rows = s.pareto_front() if len(s.directions) > 1 else s.top(k)
    if not rows:
        fail(f"study {study!r} has no scored trials yet", code=1)
    title = f"{study}: Pareto front" if len(s.directions) > 1 else f"{study}: best {len(rows)}"
    console.print(trials_table(s, rows, title))
    console.print(f"store: {storage}")


@app.command()
def plot(
    study: str,
    storage: str = StorageOpt,
    output: Path = typer.Option(None, "--output", "-o", help="PNG/SVG/PDF (default STUDY.png)."),
) -> None:
    """Plot best-so-far over trials (and the Pareto front for two objectives) to a file."""
    from hashtune.cli.plots import plot_study

    s = load_view(study, storage)
    if not s.scored_trials():
        fail(f"study {study!r} has no scored trials yet", code=1)
    path = plot_study(s, output or Path(f"{study}.png"))
    console.print(f"wrote {path}")


@app.command()
def stats(study: str, storage: str = StorageOpt) -> None:
    """Proposals, cache hits and savings; the study's task, who shares it, stale hash versions."""
    from hashtune.cli.tables import stats_table, task_table
    from hashtune.hashing import HASH_VERSION

    view = load_view(study, storage)
    console.print(stats_table(study, view.stats(), view.simulated_cost(), view.audit_summary()))
    record = view.record
    if record.config.get("task"):
        summary = view.store.cache.task_summary(record.config["task"], version=HASH_VERSION)
        console.print(task_table(record, summary, HASH_VERSION))


@app.command()
def dashboard(
    storage: str = StorageOpt,
    host: str = typer.Option("127.0.0.1", help="Interface to bind (default: this machine only)."),
    port: int = typer.Option(8080, help="TCP port."),
) -> None:
    """Serve the read-only study dashboard in the browser (Ctrl-C stops it)."""
    from hashtune.dashboard import serve
    from hashtune.store import StoreError

    console.print(f"dashboard of {storage} on http://{host}:{port}/")
    try:
        serve(storage, host=host, port=port)
    except StoreError as e:
        fail(str(e))


cli_data.register(app)

if __name__ == "__main__":
    app()

"""Write a hashtune study as a real Optuna study (RDB URL or journal file), through Optuna's API.

The result opens with `optuna.load_study`, so `optuna.visualization`, `optuna.importance` and
optuna-dashboard work on hashtune results. Params and distributions come from the space's
decision points (see `hashtune.optuna_trials`); hashtune's extras travel as `hashtune.*` user
attrs. Optuna has no CACHED state: such trials are COMPLETE with `hashtune.state = "CACHED"`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import optuna

from hashtune.optuna_trials import frozen_trials, optuna_directions
from hashtune.spaces.base import Space

#: Study user attribute naming the hashtune study an Optuna study was exported from.
SOURCE_ATTR = "hashtune.source_study"


def optuna_storage(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for `url`: an RDB URL (`sqlite:///...`, `postgresql://...`) or the path
    of a journal file (anything without `://`; `journal:PATH` also works)."""
    if url.startswith("journal:"):
        url = url.removeprefix("journal:")
    elif "://" in url:
        return optuna.storages.RDBStorage(url)
    path = Path(url).expanduser()
    if not path.parent.is_dir():
        raise ValueError(f"journal file {url!r}: directory {str(path.parent)!r} does not exist")
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def export_to_optuna(
    view: Any, url: str, *, name: str | None = None, space: Space | None = None
) -> optuna.Study:
    """Create the Optuna study `name` (default: the hashtune study's name) in `url` holding every
    trial of `view`; ValueError when a study of that name exists there."""
    storage = optuna_storage(url)
    study_name = name or view.name
    if study_name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        raise ValueError(
            f"an Optuna study named {study_name!r} exists in {url}; pick another with --name"
        )
    trials = frozen_trials(view, space)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=optuna_directions(view)
    )
    if any(n != f"value_{i}" for i, n in enumerate(view.objectives)):
        with warnings.catch_warnings():  # experimental in Optuna since 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(view.objectives))
    study.set_user_attr(SOURCE_ATTR, view.name)
    study.set_user_attr("hashtune.config", view.record.config)
    study.add_trials(trials)
    return study

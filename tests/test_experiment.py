"""Experiment files: validation errors name file, field and value; good files build the study."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashtune.experiment import ExperimentError, load_experiment, open_study
from hashtune.store import Store

GOOD = """\
study: nb
seed: 2
space: nas_bench_201
evaluator: {name: nas_bench_201_tabular, args: {path: tests/fixtures/nb201_fixture.csv}}
searcher: {name: regularized_evolution, args: {population_size: 4, tournament_size: 2}}
budget: {trials: 6}
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, field, value",
    [
        (GOOD.replace("trials: 6", "trials: -3"), "budget.trials", "-3"),
        (GOOD.replace("seed: 2", "seed: two"), "seed", "'two'"),
        (GOOD + "colour: blue\n", "colour", "'blue'"),
        (GOOD.replace("study: nb\n", ""), "study", ""),
        (GOOD + "cache: {reevaluate: 0}\n", "cache.reevaluate", "0"),
        (GOOD + "directions: [upwards]\n", "directions.0", "'upwards'"),
        (GOOD + "cache: {wait_timeout_s: -1}\n", "cache.wait_timeout_s", "-1"),
        (GOOD + "liveness: {stale_beats: 1}\n", "liveness.stale_beats", "1"),
        (GOOD.replace("trials: 6", "trials: 6, timeout_s: 0"), "budget.timeout_s", "0"),
        (GOOD.replace("trials: 6", "n_trials: 6"), "budget.n_trials", "trials"),
        (GOOD.replace("trials: 6", "max_retries: 2"), "budget", "max_retries"),
    ],
)
def test_schema_errors_name_the_file_the_field_and_the_value(
    tmp_path: Path, text: str, field: str, value: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    message = str(err.value)
    assert str(path) in message and f"`{field}`" in message and value in message


@pytest.mark.parametrize(
    "old, new, field, value",
    [
        ("space: nas_bench_201", "space: nas_bench_202", "space", "nas_bench_202"),
        (
            "name: regularized_evolution, args: {population_size: 4",
            "name: regularized_evolution, args: {populaton_size: 4",
            "searcher",
            "populaton_size",
        ),
        ("nb201_fixture.csv", "missing.csv", "evaluator", "missing.csv"),
    ],
)
def test_component_errors_are_found_before_anything_runs(
    tmp_path: Path, old: str, new: str, field: str, value: str
) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    url = f"sqlite:///{tmp_path}/s.db"
    with pytest.raises(ExperimentError) as err:
        open_study(load_experiment(path), path, url)
    message = str(err.value)
    assert str(path) in message and f"`{field}`" in message and value in message
    assert Store(url).studies.list() == []  # nothing was created


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "study: x\nspace: [unclosed\n")
    with pytest.raises(ExperimentError, match=r"exp.yaml \(line \d+, column \d+\): not valid YAML"):
        load_experiment(path)


def test_a_bad_enqueue_entry_names_its_index_and_keeps_what_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    path = write(tmp_path, GOOD)
    study = open_study(load_experiment(path), path, url)
    study.optimize(n_trials=3)
    bad = write(
        tmp_path, GOOD + "enqueue: ['|none~0|+|bogus_op~0|none~1|+|none~0|none~1|none~2|']\n"
    )
    with pytest.raises(ExperimentError, match=r"`enqueue.0`.*bogus_op"):
        open_study(load_experiment(bad), bad, url)
    assert len(Store(url).trials.list(study.study_id)) == 3


def test_a_good_file_builds_and_resumes_its_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    path = write(tmp_path, GOOD)
    exp = load_experiment(path)
    study = open_study(exp, path, url)
    assert study.space.name == "nas_bench_201" and study.searcher.population_size == 4
    study.optimize(n_trials=exp.budget.total_trials)
    again = open_study(exp, path, url)
    assert again.study_id == study.study_id and again.count_toward_budget() == 6


def test_the_quickstart_experiment_file_is_valid() -> None:
    exp = load_experiment(Path(__file__).parent.parent / "experiments" / "quickstart.yaml")
    assert exp.study == "quickstart" and exp.space.name == "mlp_digits"


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_every_shipped_experiment_file_builds_its_study(path: Path, tmp_path: Path) -> None:
    exp = load_experiment(path)
    study = open_study(exp, path, f"sqlite:///{tmp_path}/s.db")
    assert study.name == exp.study
    assert len(study.directions) == len(study.evaluator.objectives)


def test_sections_are_the_runtime_types(tmp_path: Path) -> None:
    """The cache, budget and liveness sections validate into the types the study runs with."""
    from hashtune.budget import Budget
    from hashtune.hashing.cache_policy import CacheConfig
    from hashtune.liveness import LivenessConfig
    from hashtune.registry import Component

    text = GOOD.replace("trials: 6", "trials: 6, trial_timeout_s: 9") + "cache: {reevaluate: 2}\n"
    exp = load_experiment(write(tmp_path, text + "liveness: {heartbeat_s: 2}\n"))
    assert exp.cache == CacheConfig(reevaluate=2)
    assert exp.budget == Budget(total_trials=6, trial_timeout_s=9.0)
    assert exp.liveness == LivenessConfig(heartbeat_s=2.0)
    assert exp.searcher == Component(
        "regularized_evolution", {"population_size": 4, "tournament_size": 2}
    )
    assert exp.executor == Component("inprocess")
    default = load_experiment(write(tmp_path, GOOD.replace("budget: {trials: 6}\n", ""), "d.yaml"))
    assert default.budget == Budget(total_trials=20)

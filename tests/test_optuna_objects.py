"""Optuna's samplers and pruners used as they are, through hashtune, on symbolic spaces."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pyglove as pg
import pytest
from optuna.trial import TrialState

import hashtune as ht
from hashtune.experiment import ExperimentError, load_experiment, open_study
from hashtune.search.optuna_objects import object_spec
from hashtune.store import Store

S, P = optuna.samplers, optuna.pruners


def mixed_space() -> ht.Space:
    """Floats, ints and a categorical: every sampler has something to model."""
    return ht.Space(
        pg.Dict(x=pg.floatv(-2.0, 2.0), n=pg.oneof([1, 2, 3, 4]), k=pg.oneof(["a", "b", "c"])),
        "mixed",
    )


def mixed_score(c) -> float:
    return -((c["x"] - 0.5) ** 2) - abs(c["n"] - 3) + {"a": 0.0, "b": 0.3, "c": 0.1}[c["k"]]


def two_scores(c) -> tuple[float, float]:
    return (mixed_score(c), -abs(c["x"]))


def grid_space() -> ht.Space:
    return ht.Space(pg.Dict(n=pg.oneof([1, 2, 3]), k=pg.oneof(["a", "b"])), "grid6")


SAMPLERS = {
    "TPESampler": (lambda: S.TPESampler(multivariate=True, n_startup_trials=5), 1),
    "RandomSampler": (lambda: S.RandomSampler(seed=123), 1),
    "CmaEsSampler": (lambda: S.CmaEsSampler(sigma0=0.5, n_startup_trials=3), 1),
    "GPSampler": (lambda: S.GPSampler(n_startup_trials=4), 1),
    "NSGAIISampler": (lambda: S.NSGAIISampler(population_size=4, mutation_prob=0.3), 2),
    "NSGAIIISampler": (lambda: S.NSGAIIISampler(population_size=4), 2),
    "QMCSampler": (lambda: S.QMCSampler(qmc_type="halton"), 1),
}


def _create(name: str, url: str, sampler, n_obj: int, seed: int = 0) -> ht.Study:
    fn = mixed_score if n_obj == 1 else two_scores
    objectives = ("score",) if n_obj == 1 else ("score", "small_x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return ht.Study.create(
            name,
            space=mixed_space(),
            evaluator=ht.FunctionEvaluator(fn, objectives=objectives),
            searcher=sampler,
            storage=url,
            seed=seed,
            cache={"enabled": False},
        )


@pytest.mark.parametrize("cls", sorted(SAMPLERS))
def test_each_sampler_instance_searches_is_recorded_and_resumes(cls: str, sqlite_url: str) -> None:
    make, n_obj = SAMPLERS[cls]
    given = make()
    study = _create("s", sqlite_url, given, n_obj)
    assert type(study.searcher.study.sampler) is type(given)
    study.optimize(n_trials=8)
    trials = study.trials()
    assert [t.state for t in trials] == ["COMPLETE"] * 8
    assert len({repr(sorted(t.params.items())) for t in trials}) == 8, "no repeats proposed"
    recorded = Store(sqlite_url).studies.require("s").config["searcher"]
    spec = object_spec(given)
    assert recorded == {
        "name": "optuna",
        "args": {"sampler": spec["class"], "sampler_args": spec["args"]},
    }
    study.close()
    again = ht.Study.load("s", storage=sqlite_url, space=mixed_space(), evaluator=study.evaluator)
    assert object_spec(again.searcher.study.sampler) == spec, "the resume rebuilt another sampler"
    again.optimize(n_trials=2)
    assert len(again.trials()) == 10 and again.trials()[-1].state == "COMPLETE"


def test_recorded_arguments_reach_the_rebuilt_sampler(sqlite_url: str) -> None:
    study = _create("tpe", sqlite_url, S.TPESampler(n_startup_trials=7, n_ei_candidates=5), 1)
    args = study.record.config["searcher"]["args"]["sampler_args"]
    assert args == {"n_startup_trials": 7, "n_ei_candidates": 5}
    rebuilt = object_spec(study.searcher.study.sampler)
    assert rebuilt["args"] == args


def test_the_sampler_is_seeded_from_the_study_seed(tmp_path: Path) -> None:
    """Same study seed: same proposals, whatever seed the instance carried; other seed: others."""

    def run(name: str, seed: int, sampler_seed: int) -> list:
        url = f"sqlite:///{tmp_path}/{name}.db"
        study = _create(name, url, S.TPESampler(n_startup_trials=3, seed=sampler_seed), 1, seed)
        study.optimize(n_trials=6)
        return [t.params for t in study.trials()]

    first = run("a", seed=5, sampler_seed=1)
    assert first == run("b", seed=5, sampler_seed=2)
    assert first != run("c", seed=6, sampler_seed=1)


def test_brute_force_sampler_enumerates_a_finite_space_once(sqlite_url: str) -> None:
    study = ht.Study.create(
        "bf",
        space=grid_space(),
        evaluator=ht.FunctionEvaluator(lambda c: c["n"] + (c["k"] == "b")),
        searcher=S.BruteForceSampler(),
        storage=sqlite_url,
        cache={"enabled": False},
    )
    study.optimize(n_trials=6)
    seen = sorted((t.params["n"], t.params["k"]) for t in study.trials())
    assert seen == sorted((n, k) for n in (1, 2, 3) for k in ("a", "b"))
    assert study.best_value == 4.0


def test_a_sampler_whose_arguments_cannot_be_recorded_warns_and_runs(sqlite_url: str) -> None:
    sampler = S.TPESampler(gamma=lambda n: min(n, 3), n_startup_trials=2)
    with pytest.warns(ht.UnrecordedOptunaObjectWarning, match=r"gamma.*not a module-level"):
        study = _create("lam", sqlite_url, sampler, 1)
    assert study.searcher.study.sampler is sampler
    study.optimize(n_trials=4)
    assert study.record.config["searcher"] is None
    study.close()
    with pytest.raises(ValueError, match="pass `searcher=`"):
        ht.Study.load("lam", storage=sqlite_url, space=mixed_space(), evaluator=study.evaluator)
    with pytest.warns(ht.UnrecordedOptunaObjectWarning):
        again = ht.Study.load(
            "lam", storage=sqlite_url, space=mixed_space(), evaluator=study.evaluator,
            searcher=S.TPESampler(gamma=lambda n: 2, n_startup_trials=2),
        )  # fmt: skip
    again.optimize(n_trials=2)
    assert [t.state for t in again.trials()] == ["COMPLETE"] * 6


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("searcher", object(), "optuna.samplers.BaseSampler"),
        ("searcher", P.MedianPruner(), "optuna.pruners._median.MedianPruner"),
        ("pruner", S.TPESampler(), "optuna.pruners.BasePruner"),
        ("pruner", 3, "builtins.int"),
    ],
)
def test_anything_else_is_a_type_error_at_create_time(field, value, accepted, sqlite_url) -> None:
    kwargs = {field: value}
    with pytest.raises(TypeError, match=f"`{field}` must be") as info:
        ht.Study.create(
            "bad", space=mixed_space(), evaluator=ht.FunctionEvaluator(mixed_score),
            storage=sqlite_url, **kwargs,
        )  # fmt: skip
    assert accepted in str(info.value)
    assert Store(sqlite_url).studies.get("bad") is None, "nothing was written"


# -- pruners: hashtune prunes exactly the trials Optuna prunes ---------------------------------

QUALITIES = [0.10, 0.20, 0.15, 0.90, 0.05, 0.80, 0.30, 1.20, 0.25, 0.70, 0.12, 0.95]
STEPS = 8


def curve(q: float, step: int) -> float:
    """A loss curve: good trials (q < 0.5) keep improving, bad ones get worse."""
    return q + 1.0 / (step + 1) if q < 0.5 else q + 0.3 + 0.02 * step


def optuna_reference(pruner: P.BasePruner) -> list[int | None]:
    """The step at which Optuna itself prunes each trial (None: completed)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", pruner=pruner, study_name="hashtune-pruning")
    out: list[int | None] = []
    for q in QUALITIES:
        trial, pruned_at = study.ask(), None
        for step in range(STEPS):
            trial.report(curve(q, step), step)
            if trial.should_prune():
                pruned_at = step
                break
        if pruned_at is None:
            study.tell(trial, curve(q, STEPS - 1))
        else:
            study.tell(trial, state=TrialState.PRUNED)
        out.append(pruned_at)
    return out


def train(c, context) -> float:
    for step in range(STEPS):
        context.report(step, curve(c["q"], step))
    return curve(c["q"], STEPS - 1)


PRUNERS = {
    "MedianPruner": lambda: P.MedianPruner(n_startup_trials=2),
    "PercentilePruner": lambda: P.PercentilePruner(40.0, n_startup_trials=2, n_warmup_steps=1),
    "SuccessiveHalvingPruner": lambda: P.SuccessiveHalvingPruner(
        min_resource=1, reduction_factor=2
    ),
    "HyperbandPruner": lambda: P.HyperbandPruner(
        min_resource=1, max_resource=STEPS, reduction_factor=2
    ),
    "WilcoxonPruner": lambda: P.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2),
    "PatientPruner": lambda: P.PatientPruner(None, patience=2),
    "ThresholdPruner": lambda: P.ThresholdPruner(upper=1.15, n_warmup_steps=2),
}


@pytest.mark.parametrize("cls", sorted(PRUNERS))
def test_each_pruner_prunes_where_optuna_prunes(cls: str, sqlite_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        expected = optuna_reference(PRUNERS[cls]())
        study = ht.Study.create(
            "p",
            space=ht.Space(pg.Dict(q=pg.oneof(QUALITIES)), "q"),
            evaluator=ht.FunctionEvaluator(train),
            searcher="random",
            pruner=PRUNERS[cls](),
            direction="minimize",
            storage=sqlite_url,
            cache={"enabled": False},
        )
        for q in QUALITIES:
            study.enqueue({"q": q})
        study.optimize(n_trials=len(QUALITIES))
    trials = study.trials()
    assert [t.params["q"] for t in trials] == QUALITIES
    got = [t.intermediate[-1][0] if t.state == "PRUNED" else None for t in trials]
    assert got == expected
    assert any(s is not None for s in got) and any(s is None for s in got), "a real test"
    for t in trials:  # intermediate values were reported and stored, up to the pruned step
        last = STEPS - 1 if t.state == "COMPLETE" else t.intermediate[-1][0]
        assert t.intermediate == tuple((s, curve(t.params["q"], s)) for s in range(last + 1))
    spec = study.record.config["pruner"]
    assert spec["name"] == "optuna" and spec["args"]["pruner"] == f"optuna.pruners.{cls}"


def test_optuna_sampler_and_pruner_from_an_experiment_file(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "study: from-file\n"
        "space: nas_bench_201\n"
        "evaluator: {name: nas_bench_201_tabular}\n"
        "searcher: {name: optuna, args: {sampler: TPESampler, sampler_args: {n_startup_trials: 3}}}\n"
        "pruner: {name: optuna, args: {pruner: MedianPruner, pruner_args: {n_startup_trials: 2}}}\n"
        "direction: maximize\n"
    )
    study = open_study(load_experiment(path), path, f"sqlite:///{tmp_path}/e.db")
    assert type(study.searcher.study.sampler) is S.TPESampler
    assert type(study.pruner.pruner) is P.MedianPruner
    study.optimize(n_trials=3)
    assert {t.state for t in study.trials()} == {"COMPLETE"}
    study.close()
    path.write_text(path.read_text().replace("TPESampler", "TPESamplr"))
    with pytest.raises(ExperimentError, match=r"field `searcher`.*TPESamplr"):
        open_study(load_experiment(path), path, f"sqlite:///{tmp_path}/e2.db")


def test_grid_sampler_visits_every_point_once_with_choices_as_written(sqlite_url: str) -> None:
    """GridSampler's grid names string choices as the user wrote them ("a"), not PyGlove's
    literal form ("'a'"): 6 trials are the 6 grid points, each once."""
    study = ht.Study.create(
        "grid",
        space=grid_space(),
        evaluator=ht.FunctionEvaluator(lambda c: c["n"] + (0.5 if c["k"] == "a" else 0.0)),
        searcher=S.GridSampler({"n": [1, 2, 3], "k": ["a", "b"]}),
        storage=sqlite_url,
        seed=0,
    )
    study.optimize(n_trials=6)
    points = [(t.params["n"], t.params["k"]) for t in study.trials()]
    assert [t.state for t in study.trials()] == ["COMPLETE"] * 6
    assert sorted(points) == [(n, k) for n in (1, 2, 3) for k in ("a", "b")]
    assert study.best_params == {"n": 3, "k": "a"}

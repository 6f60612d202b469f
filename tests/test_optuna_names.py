"""Optuna's names and shapes: direction(s), best_*, ask/tell, callbacks, user_attrs, aliases."""

from __future__ import annotations

import optuna
import pyglove as pg
import pytest

import hashtune as ht
from hashtune.store import Store


def space() -> ht.Space:
    return ht.Space(pg.Dict(x=pg.oneof(list(range(-4, 5))), k=pg.oneof(["a", "b"])), "grid18")


def loss(c) -> float:
    return float((c["x"] - 1) ** 2) + (0.5 if c["k"] == "b" else 0.0)


def two(c) -> tuple[float, float]:
    return (float(c["x"]), float(-c["x"] if c["k"] == "a" else -c["x"] - 1))


def make(url: str, name: str = "s", fn=loss, **kw) -> ht.Study:
    kw.setdefault("searcher", "random")
    return ht.Study.create(
        name, space=space(), evaluator=ht.FunctionEvaluator(fn), storage=url, **kw
    )


# -- direction / directions -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"direction": "minimize"},
        {"directions": "minimize"},
        {"directions": ["minimize"]},
        {"direction": optuna.study.StudyDirection.MINIMIZE},
    ],
)
def test_direction_spellings_all_mean_one_minimized_objective(kw, sqlite_url: str) -> None:
    study = make(sqlite_url, **kw)
    assert study.directions == ("minimize",)
    study.optimize(n_trials=18)
    assert study.best_value == min(t.values[0] for t in study.trials())
    assert study.best_params == {"x": 1, "k": "a"}


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"direction": "min"}, r"`direction` must be 'maximize' or 'minimize', got 'min'"),
        ({"directions": ["minimize", "up"]}, r"`directions\[1\]` .* got 'up'"),
        ({"directions": []}, "at least one"),
        ({"direction": ["minimize"]}, "several objectives"),
        ({"directions": ["minimize", "maximize"]}, "2 entries but evaluator"),
    ],
)
def test_bad_directions_are_clear_errors_and_create_nothing(kw, message, sqlite_url) -> None:
    with pytest.raises(ValueError, match=message):
        make(sqlite_url, **kw)
    assert Store(sqlite_url).studies.get("s") is None


def test_direction_and_directions_together_is_a_type_error(sqlite_url: str) -> None:
    with pytest.raises(TypeError, match="not both"):
        make(sqlite_url, direction="minimize", directions=["minimize"])


def test_best_trials_is_the_pareto_front_and_best_value_refuses_two_objectives(sqlite_url) -> None:
    study = ht.Study.create(
        "mo", space=space(), evaluator=ht.FunctionEvaluator(two, objectives=("a", "b")),
        searcher="random", directions=["maximize", "maximize"], storage=sqlite_url,
    )  # fmt: skip
    study.optimize(n_trials=18)
    front = {(t.params["x"], t.params["k"]) for t in study.best_trials}
    scored = study.scored_trials()

    def dominated(t) -> bool:
        return any(
            all(o >= v for o, v in zip(u.values, t.values, strict=True)) and u.values != t.values
            for u in scored
        )

    assert front == {(t.params["x"], t.params["k"]) for t in scored if not dominated(t)}
    assert len(front) > 1
    with pytest.raises(RuntimeError, match="best_trials"):
        _ = study.best_value
    with pytest.raises(RuntimeError, match="best_trials"):
        _ = study.best_params


# -- ask / tell -------------------------------------------------------------------------------


def test_ask_tell_loop_records_trials_and_teaches_the_searcher(sqlite_url: str) -> None:
    study = make(sqlite_url, direction="minimize", searcher="tpe", cache={"enabled": False})
    for _ in range(12):
        trial = study.ask()
        assert trial.cached is None
        record = study.tell(trial, loss(trial.candidate))
        assert record.state == "COMPLETE" and record.params == trial.params
    assert [t.state for t in study.trials()] == ["COMPLETE"] * 12
    assert study.best_value == min(loss(pg.from_json_str(t.candidate)) for t in study.trials())
    assert len(study.searcher.study.trials) >= 12, "the searcher learned every tell"
    failed = study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    pruned = study.tell(study.ask(), state="PRUNED")
    assert (failed.state, pruned.state) == ("FAILED", "PRUNED")


def test_a_cached_candidate_is_told_at_once_without_evaluating(sqlite_url: str) -> None:
    """A study sharing the task has paid for this function: `ask` serves it, `tell` records it."""
    payer = make(sqlite_url, "payer", direction="minimize", task="shared")
    first = payer.ask()
    paid = payer.tell(first, loss(first.candidate))
    study = make(sqlite_url, direction="minimize", task="shared")
    assert study.enqueue(first.candidate)
    again = study.ask()
    assert again.cached == paid.values
    served = study.tell(again)
    assert served.state == "CACHED" and served.values == paid.values
    assert served.cached_from_trial_id == paid.id


def test_tell_errors_name_what_is_wrong(sqlite_url: str) -> None:
    study = make(sqlite_url, direction="minimize", cache={"enabled": False})
    trial = study.ask()
    with pytest.raises(ValueError, match="needs `values`"):
        study.tell(trial)
    with pytest.raises(ValueError, match="expected 1 value"):
        study.tell(trial, [1.0, 2.0])
    with pytest.raises(ValueError, match="state must|`state` must"):
        study.tell(trial, state="DONE")
    study.tell(trial, 3.0)
    with pytest.raises(ValueError, match="already told"):
        study.tell(trial, 3.0)
    nan = study.tell(study.ask(), float("nan"))
    assert nan.state == "FAILED" and "non-finite" in nan.error


def test_asked_trial_reports_and_the_pruner_stops_it(sqlite_url: str) -> None:
    study = make(
        sqlite_url, direction="minimize", pruner=optuna.pruners.ThresholdPruner(upper=5.0),
        cache={"enabled": False},
    )  # fmt: skip
    trial = study.ask()
    trial.report(1.0, 0)
    assert not trial.should_prune()
    trial.report(9.0, 1)
    assert trial.should_prune()
    record = study.tell(trial, state="PRUNED")
    assert record.intermediate == ((0, 1.0), (1, 9.0))


# -- callbacks and user attrs -----------------------------------------------------------------


def test_callbacks_see_every_finished_trial_and_may_stop_the_study(sqlite_url: str) -> None:
    seen = []

    def note(study, trial) -> None:
        seen.append((trial.number, trial.state))
        if len(seen) == 5:
            study.stop()

    study = make(sqlite_url, direction="minimize")
    study.optimize(n_trials=50, callbacks=[note])
    assert seen == [(t.number, t.state) for t in study.trials()]
    assert len(seen) == 5
    with pytest.raises(TypeError, match="callbacks"):
        study.optimize(n_trials=1, callbacks=["not callable"])


def attrs_objective(c, context) -> float:
    context.set_user_attr("width", c["x"] * 10)
    context.set_user_attr("notes", {"k": c["k"]})
    if c["x"] < 0:
        raise ValueError("negative")
    return loss(c)


@pytest.mark.parametrize("executor", ["inprocess", "process"])
def test_user_attrs_from_the_evaluator_context_are_stored(executor: str, sqlite_url: str) -> None:
    study = make(
        sqlite_url, fn=attrs_objective, direction="minimize", executor=executor,
        cache={"enabled": False},
    )  # fmt: skip
    study.optimize(n_trials=6, catch=(ValueError,))
    for t in study.trials():
        assert t.user_attrs["width"] == t.params["x"] * 10, t.state
        assert t.user_attrs["notes"] == {"k": t.params["k"]}
    study.set_trial_user_attr(0, "reviewed", True)
    assert Store(sqlite_url).trials.by_number(study.study_id, 0).user_attrs["reviewed"] is True
    with pytest.raises(ValueError, match="not JSON"):
        study.set_trial_user_attr(0, "bad", object())
    trial = study.ask()
    trial.set_user_attr("asked", "yes")
    record = study.tell(trial, 1.0)
    assert record.user_attrs["asked"] == "yes"


# -- aliases ----------------------------------------------------------------------------------


def test_create_study_and_load_study_read_like_optuna(sqlite_url: str) -> None:
    study = ht.create_study(
        study_name="alias", storage=sqlite_url, sampler=optuna.samplers.TPESampler(),
        direction="minimize", space=space(), evaluator=ht.FunctionEvaluator(loss),
    )  # fmt: skip
    study.optimize(n_trials=4)
    study.close()
    again = ht.load_study(
        study_name="alias", storage=sqlite_url, space=space(), evaluator=study.evaluator
    )
    assert again.directions == ("minimize",) and len(again.trials()) == 4
    assert type(again.searcher.study.sampler) is optuna.samplers.TPESampler
    unnamed = ht.create_study(storage=sqlite_url, space=space(), evaluator=study.evaluator)
    assert unnamed.name.startswith("no-name-")

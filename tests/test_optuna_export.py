"""Studies move both ways: hashtune → a real Optuna study (RDB, journal) → hashtune again."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import optuna
import pyglove as pg
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hashtune import FunctionEvaluator, Study
from hashtune.evaluators.base import TrialPruned
from hashtune.optuna_export import export_to_optuna
from hashtune.optuna_import import import_from_optuna
from hashtune.search.optuna_space import encode_dna
from hashtune.spaces.base import Space
from hashtune.store import Store
from hashtune.view import StudyView

optuna.logging.set_verbosity(optuna.logging.WARNING)
STATES = {"COMPLETE": "COMPLETE", "CACHED": "COMPLETE", "FAILED": "FAIL", "PRUNED": "PRUNED"}


def _score(c, context) -> float:
    lr = c.opt.get("lr", 0.01)
    for step in range(3):
        context.report(step, c.width * (step + 1) * lr)
    if c.width == 8 and c.act == "tanh":
        raise RuntimeError("diverged")
    if c.width == 2 and c.act == "relu":
        raise TrialPruned("bad curve")
    return -abs(c.width - 4) + math.log10(lr)


def _hashtune_study(url: str) -> Study:
    """Conditional space, cache hits, failures, pruned trials, intermediate values, lineage."""
    space = Space(
        pg.Dict(
            width=pg.oneof([2, 4, 8]),
            act=pg.oneof(["relu", "tanh"]),
            opt=pg.oneof([pg.Dict(kind="sgd", lr=pg.floatv(1e-3, 1e-1, scale="log")), {}, {}]),
        ),
        name="cond",
    )
    study = Study.create(
        "src", space=space, evaluator=FunctionEvaluator(_score, objectives=("acc",)),
        searcher="regularized_evolution", searcher_args={"population_size": 4,
        "tournament_size": 2}, storage=url, seed=3,
    )  # fmt: skip
    study.optimize(n_trials=20)
    return study


def test_exported_study_loads_in_optuna_with_identical_trials(tmp_path: Path) -> None:
    study = _hashtune_study(f"sqlite:///{tmp_path}/h.db")
    trials = study.trials()
    assert {t.state for t in trials} == {"COMPLETE", "CACHED", "FAILED", "PRUNED"}
    for target in (f"sqlite:///{tmp_path}/o.db", str(tmp_path / "o.journal")):
        export_to_optuna(study, target)
        storage = target if "://" in target else optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(target)
        )  # fmt: skip
        loaded = optuna.load_study(study_name="src", storage=storage)
        assert [t.number for t in loaded.trials] == [t.number for t in trials]
        assert loaded.metric_names == ["acc"] and loaded.direction.name == "MAXIMIZE"
        by_id = {t.id: t for t in trials}
        for mine, theirs in zip(trials, loaded.trials, strict=True):
            enc = encode_dna(study.space, study.space.dna_from_json(mine.dna))
            assert theirs.params == enc.params and theirs.distributions == enc.distributions
            assert theirs.state.name == STATES[mine.state]
            expect = list(mine.values) if mine.values and mine.state != "FAILED" else None
            assert theirs.values == expect
            assert theirs.intermediate_values == dict(mine.intermediate)
            assert theirs.user_attrs["hashtune.state"] == mine.state
            assert theirs.user_attrs["hashtune.functional_hash"] == mine.functional_hash
            assert theirs.datetime_start.astimezone() == mine.started_at
            if mine.state == "CACHED":
                payer = by_id[mine.cached_from_trial_id].number
                assert theirs.user_attrs["hashtune.cached_from"] == payer
            if mine.parents:
                assert theirs.user_attrs["hashtune.parents"] == list(mine.parents)
        assert "lr" not in next(iter(loaded.trials)).params  # named by decision id
    importances = optuna.importance.get_param_importances(loaded)
    assert {"width", "act", "opt"} <= set(importances)
    fig = optuna.visualization.plot_optimization_history(loaded)
    assert len(fig.data[0].x) == sum(t.state in ("COMPLETE", "CACHED") for t in trials)
    with pytest.raises(ValueError, match="exists"):
        export_to_optuna(study, f"sqlite:///{tmp_path}/o.db")


def test_optuna_dashboard_api_reads_an_exported_study(tmp_path: Path) -> None:
    optuna_dashboard = pytest.importorskip("optuna_dashboard")
    study = _hashtune_study(f"sqlite:///{tmp_path}/h.db")
    export_to_optuna(study, f"sqlite:///{tmp_path}/o.db")
    app = optuna_dashboard.wsgi(optuna.storages.RDBStorage(f"sqlite:///{tmp_path}/o.db"))

    def get(path: str) -> dict:
        env: dict = {"PATH_INFO": path, "wsgi.input": io.BytesIO()}
        setup_testing_defaults(env)
        status: list[str] = []
        body = b"".join(app(env, lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("200"), (path, status, body[:300])
        return json.loads(body)

    summaries = get("/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == ["src"]
    detail = get(f"/api/studies/{summaries[0]['study_id']}")
    assert len(detail["trials"]) == len(study.trials())


def _optuna_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 1e-3, 1.0, log=True)
    n = trial.suggest_int("n", 2, 10, step=2)
    act = trial.suggest_categorical("act", ["relu", "gelu", "tanh"])
    for step in range(3):
        trial.report(x * n * (step + 1), step)
    if act == "tanh" and n == 10:
        raise optuna.TrialPruned()
    if act == "gelu" and n == 2:
        raise RuntimeError("boom")
    return x * n + (act == "relu")


def _snapshot(study: optuna.Study) -> list[tuple]:
    return [
        (t.state, t.params, t.values, t.intermediate_values, t.distributions) for t in study.trials
    ]


def test_optuna_to_hashtune_to_optuna_keeps_params_values_states(tmp_path: Path) -> None:
    src_url = f"sqlite:///{tmp_path}/optuna.db"
    source = optuna.create_study(
        study_name="opt", storage=src_url, sampler=optuna.samplers.RandomSampler(seed=4)
    )
    source.optimize(_optuna_objective, n_trials=25, catch=(RuntimeError,))
    assert {t.state for t in source.trials} == {
        TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
    }  # fmt: skip
    store_url = f"sqlite:///{tmp_path}/hashtune.db"
    result = import_from_optuna(src_url, "opt", store_url)
    assert (result.imported, result.skipped) == (25, {})
    view = StudyView.open("opt", store_url)
    assert [t.params for t in view.trials()] == [t.params for t in source.trials]
    assert type(view.trials()[0].params["n"]) is int
    export_to_optuna(view, f"sqlite:///{tmp_path}/back.db")
    back = optuna.load_study(study_name="opt", storage=f"sqlite:///{tmp_path}/back.db")
    assert _snapshot(back) == _snapshot(source)
    assert back.best_params == source.best_params
    dists = back.trials[0].distributions
    assert dists["x"] == FloatDistribution(1e-3, 1.0, log=True)
    assert dists["n"] == IntDistribution(2, 10, step=2)
    assert dists["act"] == CategoricalDistribution(["relu", "gelu", "tanh"])


def test_imported_trials_warm_start_the_searcher(tmp_path: Path) -> None:
    src_url = f"sqlite:///{tmp_path}/optuna.db"
    source = optuna.create_study(
        study_name="warm", storage=src_url, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    source.optimize(_optuna_objective, n_trials=12, catch=(RuntimeError,))
    store_url = f"sqlite:///{tmp_path}/hashtune.db"
    import_from_optuna(src_url, "warm", store_url, name="ht")

    def fn(c) -> float:
        return c.x * c.n + (c.act == "relu")

    study = Study.load("ht", storage=store_url, evaluator=FunctionEvaluator(fn))
    learned = study.searcher.study.trials
    assert len(learned) == 12
    assert sorted(t.values[0] for t in learned if t.values) == sorted(
        t.value for t in source.trials if t.state == TrialState.COMPLETE
    )
    study.optimize(n_trials=3)
    assert [t.number for t in study.trials()][-3:] == [12, 13, 14]
    assert all(t.state == "COMPLETE" for t in study.trials()[-3:])


def test_conditional_optuna_trials_into_a_flat_space_are_counted_as_skipped(
    tmp_path: Path,
) -> None:
    src_url = f"sqlite:///{tmp_path}/optuna.db"
    source = optuna.create_study(study_name="c", storage=src_url)

    def objective(trial: optuna.Trial) -> float:
        kind = trial.suggest_categorical("kind", ["a", "b"])
        return trial.suggest_float("y", 0, 1) if kind == "a" else 0.5

    source.enqueue_trial({"kind": "a", "y": 0.25})
    source.enqueue_trial({"kind": "b"})
    source.optimize(objective, n_trials=2)
    result = import_from_optuna(src_url, "c", f"sqlite:///{tmp_path}/h.db")
    assert result.imported == 1 and sum(result.skipped.values()) == 1
    assert "conditional" in next(iter(result.skipped))
    store = Store(f"sqlite:///{tmp_path}/h.db")
    assert [t.params for t in store.trials.list(store.studies.require("c").id)] == [
        {"kind": "a", "y": 0.25}
    ]


def test_import_and_export_commands(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hashtune.cli import app

    src_url = f"sqlite:///{tmp_path}/optuna.db"
    source = optuna.create_study(study_name="cmd", storage=src_url)
    source.optimize(lambda t: t.suggest_int("k", 0, 4) ** 2, n_trials=5)
    store_url = f"sqlite:///{tmp_path}/h.db"
    out = CliRunner().invoke(app, ["import", src_url, "cmd", "-s", store_url])
    assert out.exit_code == 0 and "imported 5 trial(s)" in out.output, out.output
    missing = CliRunner().invoke(app, ["import", src_url, "nope", "-s", store_url])
    assert missing.exit_code == 2 and "cannot import Optuna study 'nope'" in missing.output
    assert "Traceback" not in missing.output
    journal = tmp_path / "back.journal"
    out = CliRunner().invoke(
        app, ["export", "cmd", "-s", store_url, "-f", "optuna", "--to", str(journal)]
    )
    assert out.exit_code == 0, out.output
    back = optuna.load_study(
        study_name="cmd",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(journal))
        ),
    )
    assert [t.params for t in back.trials] == [t.params for t in source.trials]
    again = CliRunner().invoke(
        app, ["export", "cmd", "-s", store_url, "-f", "optuna", "--to", str(journal)]
    )
    assert again.exit_code == 2 and "exists" in again.output
    no_to = CliRunner().invoke(app, ["export", "cmd", "-s", store_url, "-f", "optuna"])
    assert no_to.exit_code == 2 and "--to" in no_to.output


def _bulk_study(url: str, n: int) -> StudyView:
    """`n` bulk-loaded trials (no DNA) in a study whose recorded space is known."""
    store = Store(url)
    rec = store.studies.create("bulk", ["maximize"], {"space": {"name": "nas_bench_201"}})
    states = ["COMPLETE", "CACHED", "FAILED", "PRUNED"]
    rows = [
        {"state": states[i % 4], "candidate": f"c{i}", "params": {"op": ["a", "b"][i % 2]},
         "values": None if i % 4 == 2 else [float(i)], "intermediate": [(0, 1.0)] if i % 3 else []}
        for i in range(n)
    ]  # fmt: skip
    store.trials.add_finished(rec.id, rows)
    return StudyView.open("bulk", store)


def test_journal_export_in_chunks_keeps_every_trial(tmp_path: Path, monkeypatch) -> None:
    """Bulk-loaded trials (no DNA, known space) export; the buffered journal writes in chunks
    after another study already in the file; counts, numbers, states and params are equal."""
    import hashtune.optuna_export as ox

    monkeypatch.setattr(ox, "JOURNAL_CHUNK", 7)
    view = _bulk_study(f"sqlite:///{tmp_path}/h.db", 30)
    journal = str(tmp_path / "o.journal")
    other = optuna.create_study(study_name="other", storage=ox.optuna_storage(journal))
    other.add_trial(optuna.trial.create_trial(value=1.0))
    returned = export_to_optuna(view, journal)
    loaded = optuna.load_study(study_name="bulk", storage=ox.optuna_storage(journal))
    mine = view.trials()
    assert len(loaded.trials) == len(mine) == 30 == len(returned.trials)
    assert [t.number for t in loaded.trials] == [t.number for t in mine]
    assert [t.state.name for t in loaded.trials] == [STATES[t.state] for t in mine]
    assert [t.params for t in loaded.trials] == [dict(t.params) for t in mine]
    assert loaded.trials[1].intermediate_values == {0: 1.0}
    assert len(optuna.load_study(study_name="other", storage=journal_storage(journal)).trials) == 1
    returned.set_user_attr("after", 1)  # the returned study still writes to the file
    assert (
        optuna.load_study(study_name="bulk", storage=journal_storage(journal)).user_attrs["after"]
        == 1
    )


def journal_storage(path: str) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def test_buffered_journal_refuses_a_file_written_meanwhile(tmp_path: Path) -> None:
    from hashtune.optuna_export import BufferedJournal

    path = str(tmp_path / "j.log")
    buffer = BufferedJournal(path)
    optuna.create_study(study_name="a", storage=optuna.storages.JournalStorage(buffer))
    optuna.create_study(study_name="b", storage=journal_storage(path))  # another writer
    with pytest.raises(RuntimeError, match="another process"):
        buffer.flush()

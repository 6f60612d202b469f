"""Task identity: a second study in one store gets fresh, correct scores whenever anything its
evaluator reads changed (module globals, closure arrays, defaults, attributes), shares on purpose
with `task=`, keeps an undigestable evaluator's cache to itself, and never serves entries of
another hash version."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyglove as pg
import pytest
from rich.console import Console
from sklearn.datasets import load_digits
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import train_test_split
from sqlalchemy import text
from typer.testing import CliRunner

import hashtune as ht
from hashtune.cli import commands as cli
from hashtune.evaluators.fingerprint import UndigestableWarning, content_fingerprint
from hashtune.experiment import ExperimentError, load_experiment, open_study
from hashtune.hashing import HASH_VERSION
from hashtune.hashing.cache_policy import candidate_hash
from hashtune.search.random_search import RandomSearch
from hashtune.store import Store
from hashtune.store.engine import make_engine, migrate

ROOT = Path(__file__).parent.parent

# -- helpers ----------------------------------------------------------------------------------


def tiny_space() -> ht.Space:
    """Three symbolic candidates {x: 0|1|2}."""
    return ht.Space(pg.Dict(x=pg.oneof([0, 1, 2])), name="tiny")


def run(store: Store | str, name: str, evaluator: ht.Evaluator, xs: list[int], **kw: Any):
    """Create study `name`, have it propose `xs` in order, run them; its trials by number."""
    space = tiny_space()
    study = ht.Study.create(
        name,
        space=space,
        evaluator=evaluator,
        searcher=RandomSearch(space, ("maximize",), 0),
        storage=store,
        **kw,
    )
    template = pg.template(space.hyper_value)
    for x in xs:
        study.enqueue(template.encode(pg.Dict(x=x)), skip_if_exists=False)
    study.optimize(n_trials=len(xs))
    return study, sorted(study.trials(), key=lambda t: t.number)


def states(trials) -> list[str]:
    return [t.state for t in trials]


def values(trials) -> list[float]:
    return [t.values[0] for t in trials]


# Module globals an objective reads (changed between studies by the tests).
OFFSET = 0.0
LOCK = threading.Lock()


def read_offset(c: Any) -> float:
    return 10.0 * c["x"] + OFFSET


def with_defaults(c: Any, context: Any = None, scale: float = 1.0, *, shift: float = 0.0) -> float:
    return scale * c["x"] + shift


def locked(c: Any) -> float:
    with LOCK:
        return float(c["x"])


class Offset(ht.Evaluator):
    """A class evaluator whose score depends on an instance attribute (no `config()`)."""

    def __init__(self, offset: float, log_every: int = 1):
        self.offset = offset
        self.log_every = log_every  # does not change scores

    def evaluate(self, candidate: Any, context: ht.TrialContext) -> float:
        return 10.0 * candidate["x"] + self.offset


# -- stale-data cases: the second study gets fresh, correct scores ----------------------------


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_changed_module_global_gives_fresh_scores(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    _, first = run(url, "before", ht.FunctionEvaluator(read_offset), [1, 2, 1])
    assert states(first) == ["COMPLETE", "COMPLETE", "CACHED"]  # the cache works within a task
    monkeypatch.setitem(read_offset.__globals__, "OFFSET", 5.0)
    _, second = run(url, "after", ht.FunctionEvaluator(read_offset), [1, 2])
    assert states(second) == ["COMPLETE", "COMPLETE"], "scores of the old global were served"
    assert values(second) == [15.0, 25.0]


def test_closure_arrays_differing_in_middle_rows_give_fresh_scores(sqlite_url: str) -> None:
    table = np.random.default_rng(0).normal(size=(2000, 16))
    changed = table.copy()
    changed[1000:1003] += 1.0
    assert repr(table) == repr(changed)  # what a repr-based fingerprint would have seen

    def scorer(rows: np.ndarray):
        def score(c: Any) -> float:
            return float(rows[1000 + c["x"]].sum())

        return score

    _, first = run(sqlite_url, "a", ht.FunctionEvaluator(scorer(table)), [0, 1, 2])
    _, second = run(sqlite_url, "b", ht.FunctionEvaluator(scorer(changed)), [0, 1, 2])
    assert states(second) == ["COMPLETE"] * 3
    assert values(second) == pytest.approx([float(changed[1000 + x].sum()) for x in range(3)])
    assert values(second) != pytest.approx(values(first))


def test_changed_default_arguments_give_fresh_scores(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = run(sqlite_url, "a", ht.FunctionEvaluator(with_defaults), [1, 2])
    assert values(first) == [1.0, 2.0]
    monkeypatch.setattr(with_defaults, "__defaults__", (None, 3.0))
    _, second = run(sqlite_url, "b", ht.FunctionEvaluator(with_defaults), [1, 2])
    assert states(second) == ["COMPLETE"] * 2 and values(second) == [3.0, 6.0]
    monkeypatch.setattr(with_defaults, "__kwdefaults__", {"shift": 0.5})
    _, third = run(sqlite_url, "c", ht.FunctionEvaluator(with_defaults), [1])
    assert states(third) == ["COMPLETE"] and values(third) == [3.5]


def test_class_evaluator_with_changed_attribute_gives_fresh_scores(sqlite_url: str) -> None:
    evaluator = Offset(0.0)
    _, first = run(sqlite_url, "a", evaluator, [1, 2])
    evaluator.offset = 3.0  # same object, same class, same (empty) config()
    _, second = run(sqlite_url, "b", evaluator, [1, 2])
    assert states(second) == ["COMPLETE"] * 2 and values(second) == [13.0, 23.0]
    _, third = run(sqlite_url, "c", Offset(3.0), [1])
    assert states(third) == ["CACHED"], "an evaluator of equal content is the same task"


# Module-global validation split, as a user would write it (the scikit-learn case).
DIGITS_X, DIGITS_Y = load_digits(return_X_y=True)
X_TRAIN, X_VAL, Y_TRAIN, Y_VAL = train_test_split(DIGITS_X, DIGITS_Y, test_size=0.3, random_state=0)
ALPHAS = (0.1, 10.0, 1000.0)


def ridge_val_accuracy(c: Any) -> float:
    model = RidgeClassifier(alpha=ALPHAS[c["x"]]).fit(X_TRAIN, Y_TRAIN)
    return float(model.score(X_VAL, Y_VAL))


def test_sklearn_objective_with_a_changed_module_global_split_gives_fresh_scores(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, first = run(sqlite_url, "split0", ht.FunctionEvaluator(ridge_val_accuracy), [0, 1, 2])
    split = train_test_split(DIGITS_X, DIGITS_Y, test_size=0.3, random_state=1)
    for name, value in zip(("X_TRAIN", "X_VAL", "Y_TRAIN", "Y_VAL"), split, strict=True):
        monkeypatch.setitem(ridge_val_accuracy.__globals__, name, value)
    truth = [ridge_val_accuracy({"x": x}) for x in range(3)]
    _, second = run(sqlite_url, "split1", ht.FunctionEvaluator(ridge_val_accuracy), [0, 1, 2])
    assert states(second) == ["COMPLETE"] * 3, "the first split's scores were served"
    assert values(second) == pytest.approx(truth)
    assert values(second) != pytest.approx(values(first))


# -- sharing on purpose, resuming -------------------------------------------------------------


def test_declared_task_shares_entries_between_different_evaluators(sqlite_url: str) -> None:
    one, two = Offset(0.0, log_every=1), Offset(0.0, log_every=50)
    assert one.fingerprint() != two.fingerprint()  # computed tasks differ...
    _, first = run(sqlite_url, "a", one, [1, 2], task="offset-0")
    study, second = run(sqlite_url, "b", two, [1, 2], task="offset-0")
    assert study.task == "offset-0"
    assert states(second) == ["CACHED", "CACHED"]  # ...but the user declared one task
    assert [t.cached_from_trial_id for t in second] == [t.id for t in first]
    assert values(second) == [10.0, 20.0]


def test_resume_keeps_the_recorded_task_and_refuses_a_changed_evaluator(sqlite_url: str) -> None:
    space = tiny_space()
    kw = dict(space=space, searcher=RandomSearch(space, ("maximize",), 0), storage=sqlite_url)
    created = ht.Study.create("r", evaluator=Offset(1.0), **kw)
    again = ht.Study.create("r", evaluator=Offset(1.0), load_if_exists=True, **kw)
    assert again.task == created.task == Offset(1.0).fingerprint()
    with pytest.raises(ValueError, match=r"different evaluator configuration.*pass task="):
        ht.Study.create("r", evaluator=Offset(2.0), load_if_exists=True, **kw)
    with pytest.raises(ValueError, match=r"different evaluator configuration"):
        ht.Study.load(
            "r", storage=sqlite_url, space=space, evaluator=Offset(2.0), searcher=kw["searcher"]
        )
    forced = ht.Study.create(
        "r", evaluator=Offset(2.0), load_if_exists=True, task=created.task, **kw
    )
    assert forced.task == created.task
    with pytest.raises(ValueError, match=r"uses task .* not 'other'"):
        ht.Study.create("r", evaluator=Offset(1.0), load_if_exists=True, task="other", **kw)
    ht.Study.create("d", evaluator=Offset(1.0), task="declared", **kw)
    resumed = ht.Study.create("d", evaluator=Offset(9.0), load_if_exists=True, **kw)
    assert resumed.task == "declared"  # a declared task stands on resume
    with pytest.raises(ValueError, match="must not start with 'study:'"):
        ht.Study.create("bad", evaluator=Offset(1.0), task="study:x", **kw)


def test_experiment_files_declare_a_shared_task(tmp_path: Path) -> None:
    """The same table in a reformatted file (another sha256) is declared one task by name."""
    table = ROOT / "tests/fixtures/nb201_fixture.csv"
    copy = tmp_path / "table.csv"
    shutil.copy(table, copy)
    with copy.open("a") as f:
        f.write("# a trailing comment: same rows, another file digest\n")
    studies = []
    for name, path in (("e1", table), ("e2", copy)):
        exp_path = tmp_path / f"{name}.yaml"
        exp_path.write_text(
            f"study: {name}\nstorage: sqlite:///{tmp_path}/e.db\ntask: nb201-table\n"
            f"space: nas_bench_201\nsearcher: random\n"
            f"evaluator: {{name: nas_bench_201_tabular, args: {{path: {path}}}}}\n"
        )
        exp = load_experiment(exp_path)
        assert exp.task == "nb201-table"
        studies.append(open_study(exp, exp_path))
    assert studies[0].evaluator.fingerprint() != studies[1].evaluator.fingerprint()
    assert [s.task for s in studies] == ["nb201-table", "nb201-table"]
    assert [s.record.config["task_identity"]["source"] for s in studies] == ["explicit"] * 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: x\ntask: ''\nspace: nas_bench_201\nevaluator: function\n")
    with pytest.raises(ExperimentError, match=r"field `task`"):
        load_experiment(bad)


# -- undigestable values ----------------------------------------------------------------------


def test_undigestable_global_scopes_the_cache_to_the_study_with_a_warning(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.warns(UndigestableWarning, match=r"global LOCK of .*locked .*_thread.lock") as seen:
        first_study, first = run(sqlite_url, "a", ht.FunctionEvaluator(locked), [1, 1])
    assert "scoped to this study alone" in str(seen[0].message)
    assert states(first) == ["COMPLETE", "CACHED"]  # still a cache within the study
    with pytest.warns(UndigestableWarning):
        second_study, second = run(sqlite_url, "b", ht.FunctionEvaluator(locked), [1])
    assert second_study.task != first_study.task
    assert states(second) == ["COMPLETE"], "an undigestable task was shared across studies"
    space = tiny_space()
    with pytest.warns(UndigestableWarning):  # resuming the study keeps its own task
        again = ht.Study.load(
            "a", storage=sqlite_url, space=space, evaluator=ht.FunctionEvaluator(locked),
            searcher=RandomSearch(space, ("maximize",), 0),
        )  # fmt: skip
    assert again.task == first_study.task
    monkeypatch.setattr(cli, "console", Console(width=200))
    out = CliRunner().invoke(cli.app, ["stats", "a", "--storage", sqlite_url]).output
    assert first_study.task in out and "scoped to this study" in out and "global LOCK" in out
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # declaring the task is the user's word: no warning
        run(sqlite_url, "c", ht.FunctionEvaluator(locked), [1], task="locked")


def test_sockets_and_generators_are_named_as_undigestable() -> None:
    with socket.socket() as sock:
        fp = content_fingerprint({"conn": sock, "rows": (i for i in range(3))}, "data")
    paths = sorted(u.path for u in fp.undigestable)
    assert paths == ["data['conn']", "data['rows']"]
    assert any("socket" in u.reason for u in fp.undigestable)
    assert any("generator" in u.reason for u in fp.undigestable)


# -- hash versions -----------------------------------------------------------------------------


def test_entries_of_another_hash_version_are_never_served_and_stats_reports_them(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(sqlite_url)
    study, first = run(store, "a", ht.FunctionEvaluator(read_offset), [1])
    fhash = candidate_hash(pg.Dict(x=2))
    store.cache.record(study.task, fhash, [999.0], first[0].id, 1.0, version="hashtune-ufh-v0")
    assert store.cache.lookup(study.task, fhash, version=HASH_VERSION) is None
    _, second = run(store, "b", ht.FunctionEvaluator(read_offset), [2, 1])
    assert states(second) == ["COMPLETE", "CACHED"] and values(second) == [20.0, 10.0]

    monkeypatch.setattr(cli, "console", Console(width=200))
    out = CliRunner().invoke(cli.app, ["stats", "a", "--storage", sqlite_url])
    assert out.exit_code == 0, out.output
    assert study.task in out.output and "computed from the evaluator's content" in out.output
    assert "studies sharing these entries" in out.output and "│ b" in out.output
    assert "1 entries under hashtune-ufh-v0, never served" in out.output
    assert f"entries (hash version {HASH_VERSION})" in out.output
    summary = store.cache.task_summary(study.task, version=HASH_VERSION)
    assert (summary.entries, summary.other_versions) == (2, {"hashtune-ufh-v0": 1})
    assert summary.studies == ("a", "b")


def test_migration_tags_existing_cache_entries_with_the_previous_hash_version(
    storage_url: str,
) -> None:
    engine = make_engine(storage_url)
    migrate(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO fec_cache (task, functional_hash, status, count, mean, m2, "
                "first_trial_id, eval_seconds, updated_at) VALUES ('T', 'h', 'READY', 1, '[0.5]', "
                "'[0.0]', 7, 2.0, '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = Store(storage_url)  # upgrades to head
    entry = store.cache.lookup("T", "h", version="hashtune-ufh-v2")
    assert entry is not None and (entry.mean, entry.hash_version) == ((0.5,), "hashtune-ufh-v2")
    assert store.cache.lookup("T", "h", version="hashtune-ufh-v3") is None
    assert store.cache.claim("T", "h", 8, version="hashtune-ufh-v3")  # a new key, not a conflict


# -- the digest itself -------------------------------------------------------------------------

_IN_SUBPROCESS = """
from hashtune.evaluators.fingerprint import content_fingerprint, evaluator_fingerprint
from hashtune.evaluators.testing import QuadraticEvaluator
data = {"names": {"alpha", "beta", "gamma", "delta"}, "pairs": frozenset({("a", 1), ("b", 2)})}
print(content_fingerprint(data).digest, evaluator_fingerprint(QuadraticEvaluator(1.5)).digest)
"""


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Resuming in a new process must find the same task: no id(), no str-hash set order."""
    outs = {
        subprocess.run(
            [sys.executable, "-c", _IN_SUBPROCESS],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(outs) == 1, outs


def test_library_closures_and_jitted_globals_are_digested_by_content() -> None:
    import jax
    import optax

    assert content_fingerprint(optax.adam(1e-3)) != content_fingerprint(optax.adam(1e-2))
    assert content_fingerprint(optax.adam(1e-3)) == content_fingerprint(optax.adam(1e-3))
    weights = {"w": np.ones(4)}

    @jax.jit
    def apply(x):
        return x * weights["w"]

    before = content_fingerprint(apply).digest
    weights["w"] = np.arange(4.0)
    assert content_fingerprint(apply).digest != before


def test_user_module_attributes_and_pandas_frames_are_digested_by_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import pandas as pd

    (tmp_path / "ht_userdata.py").write_text("import numpy as np\nX = np.arange(5.0)\n")
    (tmp_path / "ht_objective.py").write_text(
        "import ht_userdata\n\ndef score(c):\n    return float(ht_userdata.X[c['x']])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data, objective = (importlib.import_module(m) for m in ("ht_userdata", "ht_objective"))
    before = ht.FunctionEvaluator(objective.score).fingerprint()
    monkeypatch.setattr(data, "X", np.arange(5.0) * 2)  # `ht_userdata.X`, read through the module
    assert ht.FunctionEvaluator(objective.score).fingerprint() != before

    frame = pd.DataFrame({"a": np.arange(1000.0), "b": ["x"] * 1000})
    edited = frame.copy()
    edited.loc[500, "a"] = -1.0
    assert content_fingerprint(frame) == content_fingerprint(frame.copy())
    assert content_fingerprint(frame) != content_fingerprint(edited)


def test_a_study_recorded_before_content_fingerprints_resumes_on_a_computed_task(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(sqlite_url)
    store.studies.create("legacy", ["maximize"], {"task": "0123456789abcdef", "seed": 0})
    space = tiny_space()
    with caplog.at_level("WARNING", logger="hashtune.task_identity"):
        study = ht.Study.load(
            "legacy", storage=store, space=space, evaluator=Offset(1.0),
            searcher=RandomSearch(space, ("maximize",), 0),
        )  # fmt: skip
    assert study.task == Offset(1.0).fingerprint()
    assert "recorded by an older hashtune" in caplog.text


class _PickledOnce(ht.Evaluator):
    """A plain evaluator class (no `__slotnames__` until an instance is pickled)."""

    objectives = ("score",)

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def evaluate(self, candidate: Any, context: Any) -> float:
        return self.scale


def test_pickling_an_evaluator_leaves_its_fingerprint_unchanged() -> None:
    """copyreg caches `__slotnames__` on the class at the first pickle (as a process pool does):
    a resume after a pool run must still see the same evaluator."""
    import copyreg
    import pickle

    from hashtune.evaluators.fingerprint import evaluator_fingerprint

    ev = _PickledOnce(2.0)
    before = evaluator_fingerprint(ev)
    assert "__slotnames__" not in vars(_PickledOnce)
    pickle.loads(pickle.dumps(ev))
    copyreg._slotnames(_PickledOnce)  # what pickle did: the class now carries the cached list
    assert "__slotnames__" in vars(_PickledOnce)
    assert evaluator_fingerprint(ev) == before
    assert evaluator_fingerprint(_PickledOnce(3.0)) != before  # content still counts

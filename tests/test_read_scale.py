"""Reading and resuming big studies (issue 14): resumes decode only what a searcher needs and
propose what a full replay would; best-k, Pareto fronts and DataFrames from SQL match plain Python."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pyglove as pg
import pytest

from hashtune import FunctionEvaluator, Space, Study, StudyView
from hashtune.cli.tables import trial_rows
from hashtune.search.base import Feedback, Proposal, StoredProposal
from hashtune.search.book import BookedSearcher, dna_key, proposal_key
from hashtune.search.registry import make_searcher
from hashtune.search.selection import pareto_front
from hashtune.store import Store
from hashtune.store.pareto import peel_front

ACTS = ["relu", "tanh", "gelu"]


def flat_space() -> Space:
    return Space(
        pg.Dict(a=pg.oneof(list(range(12))), b=pg.oneof(ACTS), x=pg.floatv(0.0, 1.0)),
        name="flat3",
    )


def score(c: Any) -> float:
    return -((c.a - 7) ** 2) - (c.x - 0.2) ** 2 + ACTS.index(c.b)


def two(c: Any) -> tuple[float, float]:
    return score(c), float(c.a) + c.x


class Counting(Space):
    """A flat space that counts DNA decodes and candidate builds."""

    def __init__(self) -> None:
        super().__init__(flat_space().hyper_value, name="flat3")
        self.decoded = self.built = 0

    def dna_from_json(self, data: Any) -> pg.DNA:
        self.decoded += 1
        return super().dna_from_json(data)

    def materialize(self, dna: pg.DNA) -> Any:
        self.built += 1
        return super().materialize(dna)


def stored_rows(space: Space, n: int, k: int, seed: int, task: str | None = None) -> list[dict]:
    """`n` finished trials of random DNA, scored by `score`/`two`; 5% failed, a few NaN."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        dna = space.random_dna(rng)
        c = space.materialize(dna)
        vals = [score(c), float(c.a) + c.x][:k]
        failed = rng.random() < 0.05
        if not failed and rng.random() < 0.03:
            vals[-1] = float("nan")
        rows.append({
            "state": "FAILED" if failed else "COMPLETE", "candidate": space.candidate_to_json(c),
            "params": space.flat_params(dna), "dna": space.dna_to_json(dna),
            "values": None if failed else vals, "functional_hash": f"h{i}", "task": task,
        })  # fmt: skip
    return rows


CASES = {
    "random": ({}, 1),
    "regularized_evolution": ({"population_size": 12, "tournament_size": 4}, 1),
    "hill_climb": ({"batch": 3}, 1),
    "nsga2": ({"population_size": 12}, 2),
    "tpe": ({"n_startup_trials": 5}, 1),
}


def history(space: Space, store: Store, study_id: int, stored: bool) -> list:
    out = []
    for number, state, dna, values in store.queries.history(study_id):
        if stored:
            p: Proposal = StoredProposal(number, dna, space)
        else:
            d = space.dna_from_json(dna)
            p = Proposal(number, d, space.materialize(d))
        out.append((p, Feedback(state, values if state == "COMPLETE" else None)))
    return out


def full_replay(searcher: Any, items: list) -> None:
    """What restore did before: tell every finished proposal, fully decoded, in order."""
    if isinstance(searcher, BookedSearcher):
        searcher.replay(items)
    else:
        searcher.restore(items)


@pytest.mark.parametrize("name", list(CASES))
def test_resume_decodes_a_few_dna_and_proposes_what_a_full_replay_would(
    tmp_path, name: str
) -> None:
    args, k = CASES[name]
    dirs = ("maximize", "minimize")[:k]
    url = f"sqlite:///{tmp_path / 's.db'}"
    evaluator = FunctionEvaluator(score if k == 1 else two, objectives=("s", "c")[:k])
    study = Study.create(
        "big", space=flat_space(), evaluator=evaluator, searcher=name, searcher_args=args,
        storage=url, directions=dirs, seed=3,
    )  # fmt: skip
    study.store.trials.add_finished(study.study_id, stored_rows(flat_space(), 300, k, seed=1))
    study.close()

    counting = Counting()
    resumed = Study.load("big", storage=url, space=counting, evaluator=evaluator)
    assert counting.built == 0  # no candidate is materialised to resume
    assert counting.decoded <= 13  # a population's worth at most, not 300

    replayed = make_searcher(name, flat_space(), dirs, resumed.searcher.seed, **args)
    full_replay(replayed, history(flat_space(), resumed.store, resumed.study_id, stored=False))
    ours = [dna_key(resumed.searcher.ask(300 + i).dna) for i in range(8)]
    theirs = [dna_key(replayed.ask(300 + i).dna) for i in range(8)]
    assert ours == theirs
    if hasattr(replayed, "population"):
        assert [m.number for m in resumed.searcher.population] == [
            m.number for m in replayed.population
        ]


def test_nsga2_replay_on_values_keeps_the_population_a_tell_by_tell_replay_keeps() -> None:
    space = flat_space()
    rng = random.Random(4)
    items = []
    for i in range(600):  # values on a coarse grid: ties and duplicates on every front
        dna = space.random_dna(rng)
        vals = (rng.randrange(20) / 2, rng.randrange(20) / 2)
        items.append((Proposal(i, dna, None), Feedback("COMPLETE", vals)))
    fast = make_searcher("nsga2", space, ("maximize", "minimize"), 0, population_size=15)
    slow = make_searcher("nsga2", space, ("maximize", "minimize"), 0, population_size=15)
    fast.restore(items)
    for p, f in items:
        slow.tell(p, f)
    assert [m.number for m in fast.population] == [m.number for m in slow.population]


def test_stored_proposal_key_is_the_decoded_dna_key() -> None:
    space = flat_space()
    rng = random.Random(0)
    for _ in range(20):
        dna = space.random_dna(rng)
        p = StoredProposal(0, space.dna_to_json(dna), space)
        assert proposal_key(p, p.space) == dna_key(dna) == dna_key(p.dna) == space.dna_key(dna)


# ---- reads -----------------------------------------------------------------------------------
def read_study(
    tmp_path, k: int, dirs: tuple[str, ...], n: int = 400, url: str | None = None
) -> StudyView:
    """A study of `n` trials on a coarse value grid (ties), a few NaN, infinite, pruned and
    failed ones."""
    store = Store(url or f"sqlite:///{tmp_path / f'r{k}.db'}")
    record = store.studies.create("r", list(dirs), {"objectives": [f"o{j}" for j in range(k)]})
    rng = random.Random(k)
    rows = []
    for i in range(n):
        vals = [rng.randrange(8) * 0.5 - 1 for _ in range(k)]
        if rng.random() < 0.06:
            vals[rng.randrange(k)] = rng.choice([float("nan"), float("inf"), -float("inf")])
        state = rng.choice(["COMPLETE"] * 8 + ["CACHED", "FAILED", "PRUNED"])
        rows.append({
            "state": state, "candidate": f'{{"i": {i}}}', "params": {"i": i, "f": i / 3},
            "values": None if state == "FAILED" else vals, "functional_hash": f"h{i % 150}",
        })  # fmt: skip
    store.trials.add_finished(record.id, rows)
    return StudyView.open("r", store)


def brute_scored(view: StudyView) -> list:
    return [
        t
        for t in view.trials(["COMPLETE", "CACHED"])
        if t.values and all(math.isfinite(v) for v in t.values)
    ]


@pytest.mark.parametrize(
    "dirs",
    [
        ("maximize", "minimize"),
        ("minimize", "minimize"),
        ("maximize", "maximize", "minimize"),
        ("minimize", "maximize", "minimize", "maximize"),
    ],
)
def test_pareto_front_from_sql_is_the_brute_force_front(tmp_path, dirs) -> None:
    view = read_study(tmp_path, len(dirs), dirs)
    scored = brute_scored(view)
    expected = [scored[i].number for i in pareto_front([t.values for t in scored], dirs)]
    got = [t.number for t in view.pareto_front()]
    assert got == expected and len(got) > 1
    assert len({tuple(t.values) for t in view.pareto_front()}) < len(got) or len(dirs) > 2


@pytest.mark.parametrize("dirs", [("maximize", "minimize"), ("minimize", "maximize", "minimize")])
def test_pareto_front_is_the_brute_force_front_on_each_backend_with_sample_pivots(
    tmp_path, storage_url, monkeypatch, dirs
) -> None:
    from hashtune.store import pareto

    monkeypatch.setattr(pareto, "SAMPLE", 40)  # 600 trials: three objectives prune by pivots
    monkeypatch.setattr(pareto, "PIVOTS", 4)
    view = read_study(tmp_path, len(dirs), dirs, n=600, url=storage_url)
    scored = brute_scored(view)
    expected = [scored[i].number for i in pareto_front([t.values for t in scored], dirs)]
    assert [t.number for t in view.pareto_front()] == expected and len(expected) > 2
    sign = np.where([d == "maximize" for d in dirs], 1.0, -1.0)
    pivots = pareto._sample_pivots(view.store.db, view.study_id, sign)
    assert len(pivots) > 0 or len(dirs) == 2


def test_pick_pivots_are_front_points_that_dominate_most_first() -> None:
    from hashtune.store.pareto import pick_pivots

    rng = np.random.default_rng(2)
    pts = rng.random((500, 3))
    pivots = pick_pivots(pts, 5)
    front = {tuple(p) for p in pts[peel_front(pts)]}
    assert all(tuple(p) in front for p in pivots)
    covered = [int(np.all(pts <= p, axis=1).sum()) for p in pivots]
    assert covered[0] == max(int(np.all(pts <= p, axis=1).sum()) for p in pts[peel_front(pts)])


def test_has_dna_finds_a_stored_dna_by_the_index_and_skips_states(storage_url) -> None:
    space = flat_space()
    store = Store(storage_url)
    record = store.studies.create("d", ["maximize"], {})
    rows = stored_rows(space, 30, 1, seed=5)
    rows[7]["state"] = "INTERRUPTED"
    store.trials.add_finished(record.id, rows)
    assert all(store.queries.has_dna(record.id, r["dna"]) for r in rows[:10])
    assert not store.queries.has_dna(record.id, rows[7]["dna"], skip_states=("INTERRUPTED",))
    assert not store.queries.has_dna(record.id + 1, rows[0]["dna"])
    unseen = space.dna_to_json(space.random_dna(random.Random(99)))
    assert not store.queries.has_dna(record.id, unseen)


def test_enqueue_skips_a_dna_some_trial_has_and_queues_an_interrupted_one(sqlite_url) -> None:
    study = Study.create(
        "e", space=flat_space(), evaluator=FunctionEvaluator(score, objectives=("s",)),
        searcher="random", storage=sqlite_url, seed=1,
    )  # fmt: skip
    rows = stored_rows(flat_space(), 20, 1, seed=6)
    rows[3]["state"] = "INTERRUPTED"
    study.store.trials.add_finished(study.study_id, rows)
    dna = [flat_space().dna_from_json(r["dna"]) for r in rows]
    assert not study.enqueue(dna[0])  # a trial has it
    assert study.enqueue(dna[3])  # only an interrupted trial has it: it runs again
    assert not study.enqueue(dna[3])  # already queued
    assert study.enqueue(dna[0], skip_if_exists=False)
    study.close()


def test_peel_front_matches_pairwise_dominance() -> None:
    import numpy as np

    rng = random.Random(9)
    pts = np.array([[rng.randrange(6) for _ in range(3)] for _ in range(300)], dtype=float)
    expected = pareto_front(pts.tolist(), ("maximize",) * 3)
    assert peel_front(pts) == expected


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_best_k_is_the_sorted_python_ranking_one_per_function(tmp_path, direction) -> None:
    view = read_study(tmp_path, 1, (direction,))
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(brute_scored(view), key=lambda t: (sign * t.values[0], t.number))
    expected, seen = [], set()
    for t in ranked:
        if t.functional_hash not in seen:
            seen.add(t.functional_hash)
            expected.append(t.number)
    for k in (1, 7, 40, 1000):
        assert [t.number for t in view.top(k)] == expected[:k]
    best = sign * ranked[0].values[0]
    assert [t.number for t in view.best_trials] == sorted(
        t.number for t in ranked if sign * t.values[0] == best
    )


def test_latest_trials_is_the_tail_of_all_trials(tmp_path) -> None:
    view = read_study(tmp_path, 1, ("maximize",))
    assert [t.number for t in view.latest_trials(25)] == [t.number for t in view.trials()[-25:]]
    failed = view.trials(["FAILED"])[-5:]
    assert [t.number for t in view.latest_trials(5, ["FAILED"])] == [t.number for t in failed]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_trials_dataframe_keeps_types_and_matches_the_trial_records(
    tmp_path, storage_url, k
) -> None:
    dirs = ("maximize", "minimize", "minimize", "maximize")[:k]
    view = read_study(tmp_path, k, dirs, n=120, url=storage_url)
    df = view.trials_dataframe()
    assert str(df["number"].dtype) == "int64" and str(df["params_i"].dtype) == "int64"
    assert str(df["params_f"].dtype) == "float64" and str(df[f"o{k - 1}"].dtype) == "float64"
    expected = trial_rows(view.trials(), view.objectives)
    assert list(df.columns) == list(expected[0])
    for row, want in zip(df.to_dict("records"), expected, strict=True):
        for col, value in want.items():
            got = row[col]
            if isinstance(value, float) and math.isnan(value) or value is None:
                assert got is None or (isinstance(got, float) and math.isnan(got)), col
            else:
                assert got == value, (col, got, value)

"""The DNA fast path (spaces/fast_dna.py) gives exactly what PyGlove's own machinery gives."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg
import pytest
from pyglove.ext.evolution import mutators

from hashtune import FunctionEvaluator, Study
from hashtune.search.base import Feedback, PlainProposal, Proposal, StoredProposal
from hashtune.search.optuna_space import dna_from_optuna_params, encode_dna, suggest_dna
from hashtune.search.random_search import RandomSearch
from hashtune.search.regularized_evolution import RegularizedEvolution
from hashtune.space_registry import make_space
from hashtune.spaces.base import Space
from hashtune.spaces.fast_dna import PlainDNA


@pg.members([("width", pg.typing.Int()), ("act", pg.typing.Str()), ("rate", pg.typing.Float())])
class Layer(pg.Object):
    pass


def flat() -> Space:
    return Space(
        pg.Dict(x=pg.floatv(0.0, 1.0), y=pg.floatv(-1.0, 1.0), w=pg.oneof([1, 2, 4, 8]),
                act=pg.oneof(["relu", "tanh", "gelu"])),
        "flat",
    )  # fmt: skip


def conditional() -> Space:
    branch = pg.Dict(u=pg.floatv(0.0, 1.0), k=pg.oneof(["p", "q", "r"]))
    deep = pg.Dict(z=pg.floatv(0.0, 2.0), inner=pg.oneof([pg.Dict(t=pg.oneof([3, 4])), 7]))
    return Space(
        pg.Dict(
            a=pg.oneof([1, branch, deep]),
            b=pg.floatv(-1.0, 1.0, scale="linear"),
            c=pg.oneof([pg.Dict(w=pg.oneof([3, 4]))]),
            layer=Layer(width=pg.oneof([16, 32]), act=pg.oneof(["relu", "elu"]),
                        rate=pg.floatv(1e-4, 1e-1, scale="log")),
            fixed=pg.Dict(keep=[1, 2], name="const"),
        ),
        "conditional",
    )  # fmt: skip


def single() -> Space:
    return Space(pg.oneof([pg.Dict(v=pg.floatv(0.0, 1.0)), pg.Dict(m=pg.oneof([5, 6]))]), "one")


SPACES = {"flat": flat, "conditional": conditional, "single": single}


def _pyglove(space: Space) -> Space:
    """The same space with the fast path switched off (PyGlove's generic machinery)."""
    slow = Space(space.hyper_value, space.name)
    slow._codec = None
    return slow


def _old_mutate(space: Space, dna: pg.DNA, rng: random.Random) -> pg.DNA:
    """`Space.mutate` as it was before the fast path (PyGlove's Uniform mutator)."""
    dna.use_spec(space.dna_spec)
    child = dna
    for _ in range(32):
        child = mutators.Uniform(seed=rng.randrange(2**31))([dna.clone(deep=True)])[0]
        if child != dna:
            break
    return child


@pytest.mark.parametrize("name", list(SPACES))
def test_codec_draws_decodes_and_names_dna_as_pyglove_does(name: str) -> None:
    space = SPACES[name]()
    codec = space.codec
    assert codec is not None and codec.can_decode
    for seed in range(40):
        rng_fast, rng_pg = random.Random(seed), random.Random(seed)
        dna = space.random_dna(rng_fast)
        ref = pg.random_dna(space.dna_spec, rng_pg)
        assert dna == ref and rng_fast.random() == rng_pg.random()
        values = codec.values(ref)
        assert codec.dna(values) == ref
        fast, slow = space.materialize(ref), pg.materialize(space.hyper_value, ref)
        assert pg.eq(fast, slow) and pg.to_json_str(fast) == pg.to_json_str(slow)
        assert space.flat_params(ref) == _pyglove(space).flat_params(ref)
        key = json.dumps(ref.to_json(compact=True), sort_keys=True, default=repr)
        assert codec.key(values) == key


@pytest.mark.parametrize("name", list(SPACES))
def test_fast_mutation_is_pyglove_uniform_mutation(name: str) -> None:
    space = SPACES[name]()
    rng = random.Random(7)
    for seed in range(40):
        parent = space.random_dna(rng)
        fast_rng, old_rng = random.Random(seed), random.Random(seed)
        child, how = space.mutate(parent, fast_rng)
        assert how == "uniform_point"
        assert child == _old_mutate(space, parent, old_rng)
        assert fast_rng.random() == old_rng.random()  # the same draws were consumed


def test_registered_spaces_materialise_as_pyglove_does() -> None:
    space = make_space("mlp_digits")
    assert space.codec is not None
    rng = random.Random(3)
    for _ in range(10):
        dna = space.random_dna(rng)
        fast, slow = space.materialize(dna), pg.materialize(space.hyper_value, dna)
        assert pg.to_json_str(fast) == pg.to_json_str(slow)


def test_specs_the_codec_does_not_cover_keep_pyglove_path() -> None:
    space = Space(pg.Dict(s=pg.manyof(2, [1, 2, 3]), x=pg.floatv(0.0, 1.0)), "many")
    assert space.codec is None
    dna = space.random_dna(random.Random(0))
    assert pg.eq(space.materialize(dna), pg.materialize(space.hyper_value, dna))


@pytest.mark.parametrize("name", list(SPACES))
def test_optuna_params_map_to_the_dna_the_old_conversion_gives(name: str) -> None:
    space = SPACES[name]()
    slow = _pyglove(space)
    rng = random.Random(11)
    for _ in range(30):
        dna = pg.random_dna(space.dna_spec, rng)
        fast_enc, slow_enc = encode_dna(space, dna), encode_dna(slow, dna)
        assert fast_enc.params == slow_enc.params
        assert fast_enc.distributions == slow_enc.distributions
        back = dna_from_optuna_params(space, fast_enc.params)
        assert back == dna_from_optuna_params(slow, fast_enc.params) == dna


def test_suggested_dna_is_the_old_conversion_of_the_suggested_params() -> None:
    space = conditional()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        dna = suggest_dna(space, trial)
        assert dna == dna_from_optuna_params(_pyglove(space), trial.params)
        study.tell(trial, 0.0)


# ---- plain DNA: searchers carry values, and build no pg.DNA ------------------------------------


def _fitness(candidate: Any) -> float:
    """A deterministic score of a candidate (its JSON, hashed to [0, 1))."""
    digest = hashlib.sha256(pg.to_json_str(candidate).encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def _drive(searcher: Any, n: int) -> list[Proposal]:
    """`n` asks, each told a score, two outstanding at a time (as the loop runs them)."""
    out, pending = [], []
    for number in range(n):
        pending.append(searcher.ask(number))
        out.append(pending[-1])
        if len(pending) == 2 or number == n - 1:
            for p in pending:
                searcher.tell(p, Feedback("COMPLETE", (_fitness(p.candidate),)))
            pending = []
    return out


SEARCHERS = {
    "random": lambda space: RandomSearch(space, seed=3),
    "re": lambda space: RegularizedEvolution(space, seed=3, population_size=20, tournament_size=5),
}


@pytest.mark.parametrize("name", ["flat", "conditional"])
@pytest.mark.parametrize("searcher", list(SEARCHERS))
def test_plain_proposals_equal_pyglove_path_proposals(name: str, searcher: str) -> None:
    fast_space, slow_space = SPACES[name](), _pyglove(SPACES[name]())
    fast = _drive(SEARCHERS[searcher](fast_space), 200)
    slow = _drive(SEARCHERS[searcher](slow_space), 200)
    assert all(isinstance(p, PlainProposal) for p in fast)
    assert not any(isinstance(p, PlainProposal) for p in slow)
    assert all(p.genome._dna is None for p in fast)  # no pg.DNA was built on the way
    if searcher == "re":
        assert sum(p.mutation is not None for p in fast) > 150
    for f, s in zip(fast, slow, strict=True):
        assert (f.number, f.parents, f.mutation) == (s.number, s.parents, s.mutation)
        stored_f = json.dumps(fast_space.dna_to_json(f.genome))
        assert stored_f == json.dumps(slow_space.dna_to_json(s.genome))
        assert fast_space.flat_params(f.genome) == slow_space.flat_params(s.genome)
        assert pg.to_json_str(f.candidate) == pg.to_json_str(s.candidate)
        assert fast_space.dna_key(f.genome) == slow_space.dna_key(s.dna)
        assert f.dna == s.dna  # built on demand, the DNA PyGlove's path gives


@pytest.mark.parametrize("name", list(SPACES))
def test_plain_dna_json_reads_back_to_the_same_values(name: str) -> None:
    space = SPACES[name]()
    codec = space.plain_codec
    assert codec is not None
    rng = random.Random(5)
    for _ in range(50):
        genome = space.random_genome(rng)
        assert isinstance(genome, PlainDNA)
        data = json.loads(json.dumps(space.dna_to_json(genome)))  # what the store gives back
        assert data == genome.dna.to_json(compact=True)
        back = space.genome_from_json(data)
        assert isinstance(back, PlainDNA) and back.values == genome.values
        assert space.dna_from_json(data) == genome.dna
        assert space.dna_key(StoredProposal(0, data, space).genome) == space.dna_key(genome)


def test_dna_json_the_codec_cannot_read_is_read_by_pyglove() -> None:
    space = flat()
    dna = space.random_dna(random.Random(0))
    dna.set_metadata("note", 1)
    with_meta = dna.to_json(compact=True)
    assert isinstance(space.genome_from_json(with_meta), pg.DNA)
    codec = space.plain_codec
    assert codec is not None
    body = space.dna_to_json(space.random_genome(random.Random(1)))
    for bad in ([1, 2], {**body, "value": body["value"][:3]}, {**body, "value": [0.1, 0.2, 9, 0]}):
        with pytest.raises(ValueError):
            codec.from_json(bad)


class _OwnMutation(Space):
    def mutate(self, dna: pg.DNA, rng: random.Random) -> tuple[pg.DNA, str]:
        assert isinstance(dna, pg.DNA)
        return super().mutate(dna, rng)


def test_spaces_overriding_dna_methods_keep_pg_dna() -> None:
    space = _OwnMutation(flat().hyper_value, "own")
    assert space.codec is not None and space.plain_codec is None
    proposals = _drive(SEARCHERS["re"](space), 60)
    assert all(isinstance(p.dna, pg.DNA) and type(p) is Proposal for p in proposals)


def test_plain_proposals_store_what_pyglove_path_stores(tmp_path: Path) -> None:
    """The bytes of the stored DNA, params and candidate match, so stored studies resume."""
    rows = []
    for name, space in (("fast", flat()), ("slow", _pyglove(flat()))):
        url = f"sqlite:///{tmp_path / name}.db"
        study = Study.create(
            name, space=space, evaluator=FunctionEvaluator(_fitness), storage=url,
            searcher="regularized_evolution", searcher_args={"population_size": 8}, seed=1,
        )  # fmt: skip
        study.optimize(n_trials=40)
        with sqlite3.connect(tmp_path / f"{name}.db") as db:
            sql = "SELECT number, dna, params, candidate FROM ht_trials ORDER BY number"
            rows.append(db.execute(sql).fetchall())
        resumed = Study.load(name, storage=url, space=space, evaluator=FunctionEvaluator(_fitness))
        resumed.optimize(n_trials=5)
        assert len(resumed.trials()) == 45
    assert len(rows[0]) == 40 and rows[0] == rows[1]

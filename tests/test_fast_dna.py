"""The DNA fast path (spaces/fast_dna.py) gives exactly what PyGlove's own machinery gives."""

from __future__ import annotations

import json
import random

import optuna
import pyglove as pg
import pytest
from pyglove.ext.evolution import mutators

from hashtune.search.optuna_space import dna_from_optuna_params, encode_dna, suggest_dna
from hashtune.space_registry import make_space
from hashtune.spaces.base import Space


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

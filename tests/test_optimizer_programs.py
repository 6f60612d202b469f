"""Optimizer-program language: parsing, printing, compilation vs optax, the space and mutations."""

from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pyglove as pg
import pytest

from hashtune.spaces.base import Executable, Space
from hashtune.spaces.optimizers import Program, ProgramSyntaxError, Statement
from hashtune.spaces.optimizers.instruction import MUTATIONS
from hashtune.spaces.optimizers.seeds import ADAM, LION, seed_programs
from hashtune.spaces.optimizers.space import optimizer_program_space


@pytest.fixture(scope="module")
def space8():
    return optimizer_program_space(max_statements=8)


@pytest.fixture(scope="module")
def space16():
    return optimizer_program_space(max_statements=16)


def test_seeds_parse_and_round_trip():
    seeds = seed_programs()
    assert {"sgd", "momentum", "adam", "lion"} <= set(seeds)
    for name, p in seeds.items():
        src = p.to_source()
        again = Program.from_source(src)
        assert again == p, name
        assert again.to_source() == src
        assert pg.from_json_str(pg.to_json_str(p)) == p
    assert seeds["adam"].uses_step and not seeds["lion"].uses_step


def test_names_nesting_reassignment_and_aliases():
    src = """
def step(weights, grad, mom, vel, rate):
    '''Docstring is ignored.'''
    c = interp(grad, mom, 0.9)
    mom = interp(grad, mom, 0.99)
    mom2 = mom
    k = -0.5
    u = -(sign(c) * rate) * k
    u += 0.0 * weights
    return u, mom2, vel
"""
    p = Program.from_source(src)
    assert [s.op for s in p.statements] == [
        "interp",
        "interp",
        "sign",
        "mul",
        "neg",
        "mul",
        "mul",
        "add",
    ]
    assert p.outputs[1] == "mom" and p.outputs[2] == "v"  # param `mom` is canonical `m`
    assert Program.from_source(p.to_source()) == p
    # Different names for the same computation give the same canonical program.
    lion = Program.from_source(LION)
    renamed = Program.from_source(
        LION.replace("c", "z").replace("update =", "out =").replace("return update", "return out")
    )
    assert renamed.canonical() == lion.canonical()


def test_statement_validation():
    with pytest.raises(ValueError, match="args"):
        Statement(target="x", op="add", args=["g"])
    with pytest.raises(ValueError, match="undefined register"):
        Program(statements=[Statement(target="x", op="sign", args=["y"])], outputs=["x", "m", "v"])
    with pytest.raises(ValueError, match="reserved"):
        Program(statements=[Statement(target="g", op="sign", args=["g"])], outputs=["g", "m", "v"])


_BAD = [
    ("import jax\ndef f(w, g, m, v, lr):\n    return g, m, v\n", 1, "imports are not allowed"),
    (
        "def f(w, g, m, v, lr):\n    for i in w:\n        g = g\n    return g, m, v\n",
        2,
        "'for' loops",
    ),
    (
        "def f(w, g, m, v, lr):\n    u = g\n    if u:\n        u = g\n    return u, m, v\n",
        3,
        "'if'",
    ),
    ("def f(w, g, m, v, lr):\n    u = jnp.sign(g)\n    return u, m, v\n", 2, "attribute access"),
    ("def f(w, g, m, v, lr):\n    u = foo(g)\n    return u, m, v\n", 2, "unknown function 'foo'"),
    (
        "def f(w, g, m, v, lr):\n    u = g\n    u = sign(g, m)\n    return u, m, v\n",
        3,
        "sign() takes 1",
    ),
    ("def f(w, g, m, v, lr):\n    u = g * y\n    return u, m, v\n", 2, "undefined variable 'y'"),
    ("def f(w, g, m, v, lr):\n    u = g\n\n    return u, m\n", 4, "must return 3 values"),
    (
        "def f(w, g, m, v, lr):\n    u = clip(g, c=1.0)\n    return u, m, v\n",
        2,
        "keyword arguments",
    ),
    ("def f(w, g, m, v, lr):\n    u = g * 2\n    return u, m, v\n", 2, "constant 2 is not a float"),
    ("def f(w, g, m, v):\n    return g, m, v\n", 1, "5 parameters"),
    ("def f(w, g, m, v, lr):\n    u = g\n", 1, "missing return"),
    ("def f(w, g, m, v, lr):\n    return g, m, v\n    u = g\n", 3, "after return"),
    ("def f(w, g, m, v, lr):\n    a, b = g, m\n    return a, b, v\n", 2, "single variable name"),
    ("def f(w, g, m, v, lr):\n    u = g % 2.0\n    return u, m, v\n", 2, "operator '%'"),
    ("def f(w, g, m, v, lr):\n    u = g +\n    return u, m, v\n", 2, "invalid Python syntax"),
]


@pytest.mark.parametrize(("src", "line", "reason"), _BAD)
def test_rejects_bad_programs_with_line_and_reason(src, line, reason):
    with pytest.raises(ProgramSyntaxError) as info:
        Program.from_source(src)
    assert isinstance(info.value, ValueError)
    assert info.value.lineno == line
    assert str(info.value).startswith(f"line {line}: ")
    assert reason in str(info.value)


def _run(opt, params, grads):
    state = opt.init(params)
    update = jax.jit(opt.update)
    for g in grads:
        u, state = update(g, state, params)
        params = optax.apply_updates(params, u)
    return params


@pytest.mark.parametrize(
    ("seed", "reference"),
    [
        ("adam", lambda lr: optax.adam(lr)),
        ("lion", lambda lr: optax.lion(lr, weight_decay=0.0)),
        ("lion_wd", lambda lr: optax.lion(lr)),  # optax default weight_decay=1e-3
        ("momentum", lambda lr: optax.sgd(lr, momentum=0.9)),
        ("sgd", lambda lr: optax.sgd(lr)),
    ],
)
def test_compiled_program_matches_optax(seed, reference):
    program = seed_programs()[seed]
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        params = {"a": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=5))}
        grads = [
            jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape)), params) for _ in range(7)
        ]
        ours = _run(program.as_optax(0.01), params, grads)
        ref = _run(reference(0.01), params, grads)
        assert ours["a"].dtype == jnp.float64
        moved = max(
            float(jnp.max(jnp.abs(o - p)))
            for o, p in zip(jax.tree.leaves(ours), jax.tree.leaves(params), strict=True)
        )
        assert moved > 1e-3  # the comparison is not vacuous
        for o, r in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
            np.testing.assert_allclose(np.asarray(o), np.asarray(r), rtol=0, atol=1e-6)


def test_as_function_is_jittable_and_broadcasts():
    fn = jax.jit(Program.from_source(ADAM).as_function())
    w = jnp.ones((4,))
    u, m, v = fn(w, w, 0 * w, 0 * w, 0.1, 1.0)
    np.testing.assert_allclose(u, 0.1 * np.ones(4), rtol=1e-5)  # bias-corrected first step = lr
    # the update reads v, so v is live state and its constant output is kept
    const = Program.from_source("def f(w, g, m, v, lr):\n    return v * 0.0, m, 1.0 / 0.0\n")
    u, m, v = const.as_function()(w, w, w, w, 0.1)
    assert u.shape == (4,) and not np.any(np.isfinite(v))  # plain semantics: 1/0 = inf


def test_executable_form():
    ex = Program.from_source(LION).executable()
    assert isinstance(ex, Executable) and ex.static_key is None
    assert [i.name for i in ex.inputs] == ["w", "g", "m", "v", "lr", "t"]
    assert ex.inputs[3].scale == "log+" and ex.inputs[4].scale == "log+"  # v, lr never negative
    x = jnp.linspace(-1, 1, 16)
    u, m, v = jax.jit(ex.fn, static_argnums=0)(None, x, x, x, jnp.abs(x), 0.01, 3.0)
    np.testing.assert_allclose(u, 0.01 * np.sign(x), atol=1e-7)


def test_space_basics_and_seeds_representable(space8, space16):
    assert isinstance(space8, Space) and space8.name == "optimizer_programs"
    rng = random.Random(0)
    for _ in range(5):
        p = space8.materialize(space8.random_dna(rng))
        assert isinstance(p, Program) and len(p.statements) <= 8
        assert Program.from_source(p.to_source()) == p
    for name, p in seed_programs().items():
        if name == "adam":
            with pytest.raises(ValueError, match="13 statements but the space has 8 slots"):
                space8.dna_of(p)
        else:
            assert space8.materialize(space8.dna_of(p)).canonical() == p.canonical()
        dna = space16.dna_of(p)
        assert space16.materialize(dna).canonical() == p.canonical()
        assert space16.dna_from_json(space16.dna_to_json(dna)) == dna
    # decoding agrees with PyGlove's own materialisation of the hyper value
    dna = space8.random_dna(rng)
    slots = pg.materialize(space8.hyper_value, dna)
    for slot, ins in zip(slots, space8.instructions(dna), strict=True):
        assert slot["op"] == ins.op


def test_dna_of_rejects_what_does_not_fit():
    small = optimizer_program_space(max_statements=8, constants=(0.9, 0.99), scratch_registers=0)
    with pytest.raises(ValueError, match="not in the space's grid"):
        small.dna_of(
            Program.from_source("def f(w, g, m, v, lr):\n    u = g * 0.5\n    return u, m, v\n")
        )
    no_scratch = optimizer_program_space(max_statements=16, scratch_registers=0)
    with pytest.raises(ValueError, match="no free register"):
        no_scratch.dna_of(seed_programs()["adam"])
    reordered = "def f(w, g, m, v, lr):\n    n = m * 0.9\n    u = m * lr\n    return u, n, v\n"
    with pytest.raises(ValueError, match="still holds 'm'"):
        no_scratch.dna_of(Program.from_source(reordered))
    with pytest.raises(ValueError, match="input 'g'"):
        small.dna_of(Program.from_source("def f(w, g, m, v, lr):\n    return g, m, v\n"))


def test_mutations_keep_programs_valid(space8):
    rng = random.Random(1234)
    dna = space8.dna_of(seed_programs()["lion"])
    seen = set()
    x = jnp.linspace(-1.0, 1.0, 16)
    for _ in range(200):
        child, kind = space8.mutate(dna, rng)
        assert kind in MUTATIONS
        assert child != dna
        p = space8.materialize(child)
        assert Program.from_source(p.to_source()) == p
        u, m, v = p.as_function()(x, x, x, jnp.abs(x), 0.01, 2.0)
        assert u.shape == m.shape == v.shape == (16,)
        seen.add(kind)
        dna = child
    assert seen == set(MUTATIONS)

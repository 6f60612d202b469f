"""Functional hash of optimizer programs: function-preserving rewrites hash equal, others not."""

from __future__ import annotations

import random
import textwrap

import numpy as np
import pytest

from hashtune.hashing import functional_hash, functional_hashes
from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.seeds import ADAM, LION, LION_WD, MOMENTUM, SGD


def prog(body: str, args: str = "w, g, m, v, lr") -> Program:
    """A program from an indented body (the `def` line is added)."""
    return Program.from_source(f"def f({args}):\n" + textwrap.indent(textwrap.dedent(body), "    "))


EQUAL = {
    "renamed": (
        "u = g * lr\nreturn u, m, v",
        "step = g * lr\nreturn step, m, v",
    ),
    "commuted": ("u = g * lr\nreturn u, m, v", "u = lr * g\nreturn u, m, v"),
    "reordered": (
        "a = g * 0.9\nb = m * 0.1\nu = (a + b) * lr\nreturn u, b, v",
        "b = m * 0.1\na = g * 0.9\nu = (a + b) * lr\nreturn u, b, v",
    ),
    "dead_code": (
        "junk = exp(w) / v\nmore = log(junk)\nu = g * lr\nreturn u, m, v",
        "u = g * lr\nreturn u, m, v",
    ),
    "times_two_vs_add": ("u = g * 2.0\nreturn u * lr, m, v", "u = g + g\nreturn u * lr, m, v"),
    "interp_expanded": (
        "m = interp(g, m, 0.9)\nreturn m * lr, m, v",
        "m = g * (1.0 - 0.9) + m * 0.9\nreturn m * lr, m, v",
    ),
    "square_vs_mul": ("s = square(g)\nreturn s, m, v", "s = g * g\nreturn s, m, v"),
    "sqrt_square_vs_abs": ("s = sqrt(square(g))\nreturn s, m, v", "s = abs(g)\nreturn s, m, v"),
    "exp_log": ("s = exp(log(v))\nreturn s, m, v", "return v, m, v"),
    "add_sub_cancel": ("s = (g + w) - w\nreturn s * lr, m, v", "return g * lr, m, v"),
    "zero_times_w": ("u = w * 0.0 + g * lr\nreturn u, m, v", "u = g * lr\nreturn u, m, v"),
    "max_via_min": (
        "s = maximum(g, m)\nreturn s, m, v",
        "s = -minimum(-g, -m)\nreturn s, m, v",
    ),
    # state the update never reads is dead: what is stored there cannot change training
    "dead_state_swapped": ("return g, m, v", "return g, v, m"),
    "dead_state_kept_vs_updated": ("return g * lr, m, v", "m = g\nreturn g * lr, m, v"),
    "reassociated_lion": (
        "c = interp(g, m, 0.9)\nu = sign(c) * lr\nm = interp(g, m, 0.99)\nreturn u, m, v",
        "m2 = m * 0.99 + g * 0.01\nu = lr * sign(m * 0.9 + g * 0.1)\nreturn u, m2, v",
    ),
}

DIFFERENT = {
    "const_0.9_vs_0.99": (
        "m = m * 0.9 + g\nreturn m * lr, m, v",
        "m = m * 0.99 + g\nreturn m * lr, m, v",
    ),
    "const_1e-6_relative": ("return g * lr, m, v", "return g * lr * 1.000001, m, v"),
    "sign_vs_identity": ("return sign(g) * lr, m, v", "return g * lr, m, v"),
    "one_op_differs": ("return maximum(g, m), m, v", "return minimum(g, m), m, v"),
    "outputs_swapped": ("return g * m + v, m, v", "return g * m + v, v, m"),
    "state_kept_vs_updated": ("return (g + m) * lr, m, v", "m = g\nreturn (g + m) * lr, m, v"),
    "where_the_momentum_goes": (
        "m = m * 0.9 + g\nreturn m * lr, m, v",
        "m = m + g * 0.9\nreturn m * lr, m, v",
    ),
    "weight_decay": ("return g * lr, m, v", "return (g + w * 0.001) * lr, m, v"),
    "abs_vs_identity_on_positive_v": ("return v * lr, m, v", "return -v * lr, m, v"),
    "nan_vs_inf": ("return log(g - 2.0), m, v", "return g / 0.0, m, v"),
}


@pytest.mark.parametrize("name", sorted(EQUAL))
def test_equivalent_programs_hash_equal(name: str) -> None:
    a, b = EQUAL[name]
    assert functional_hash(prog(a)) == functional_hash(prog(b))


@pytest.mark.parametrize("name", sorted(DIFFERENT))
def test_different_programs_hash_apart(name: str) -> None:
    a, b = DIFFERENT[name]
    assert functional_hash(prog(a)) != functional_hash(prog(b))


def test_seed_optimizers_are_distinct_and_stable() -> None:
    programs = [Program.from_source(src) for src in (SGD, MOMENTUM, ADAM, LION, LION_WD)]
    hashes = functional_hashes(programs)
    assert len(set(hashes)) == 5
    assert hashes == [functional_hash(p) for p in programs]


def test_adam_with_and_without_reassociation() -> None:
    rewritten = ADAM.replace(
        "update = lr * m_hat / (sqrt(v_hat) + 1e-08)",
        "den = sqrt(v_hat) + 1e-08\n    update = m_hat * (lr / den)",
    )
    assert rewritten != ADAM
    assert functional_hash(Program.from_source(ADAM)) == functional_hash(
        Program.from_source(rewritten)
    )
    eps = ADAM.replace("1e-08", "1e-07")
    assert functional_hash(Program.from_source(ADAM)) != functional_hash(Program.from_source(eps))


def test_declaring_an_unused_step_input_changes_nothing() -> None:
    assert functional_hash(prog("return g * lr, m, v")) == functional_hash(
        prog("return g * lr, m, v", args="w, g, m, v, lr, t")
    )
    assert functional_hash(prog("return g * lr, m, v", args="w, g, m, v, lr, t")) != (
        functional_hash(prog("return g * lr * t, m, v", args="w, g, m, v, lr, t"))
    )


def test_random_programs_equal_hash_means_equal_outputs() -> None:
    """Sampled programs: equal hashes only for programs with (near-)identical probe outputs."""
    from hashtune.hashing.functional_hash import _resolve, _run_eager

    space_mod = pytest.importorskip("hashtune.spaces.optimizers.space")
    space = space_mod.OptimizerProgramSpace()
    rng = random.Random(7)
    programs = [space.materialize(space.random_dna(rng)) for _ in range(60)]
    hashes = functional_hashes(programs)
    assert hashes == [functional_hash(p) for p in programs]

    outputs = [_run_eager(*_resolve(p, None)[:2]) for p in programs]

    def close(i: int, j: int, rtol: float) -> bool:
        return all(
            np.allclose(a, b, rtol=rtol, atol=1e-13, equal_nan=True)
            for a, b in zip(outputs[i], outputs[j], strict=True)
        )

    for i in range(len(programs)):
        for j in range(i):
            if hashes[i] == hashes[j]:
                assert close(i, j, 1e-7), (programs[i].to_source(), programs[j].to_source())
            else:
                assert not close(i, j, 1e-12), (programs[i].to_source(), programs[j].to_source())
    assert len(set(hashes)) > 10  # random programs are mostly different functions

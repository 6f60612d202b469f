"""The generic functional hash: probes, quantisation, content parameters, plain callables."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hashtune.hashing import (
    BATCHED_META_KEY,
    DEFAULT_DIGITS,
    HASH_CHARS,
    Probe,
    content_param_fn,
    functional_hash,
    functional_hashes,
    quantise,
)
from hashtune.spaces.base import Executable, InputSpec

VEC2 = Probe(shapes=[(16,), (16,)])
VEC3 = Probe(shapes=[(16,), (16,), ()], ranges=[(-1, 1), (-1, 1), (0.05, 0.95)])

# ---- probes -------------------------------------------------------------------------------------


def test_probe_values_are_seeded_and_in_range() -> None:
    p = Probe(shapes=[(3, 4), ()], dtypes=["float64", "int32"], ranges=[(2.0, 5.0), (1, 9)])
    x, n = p.stacked
    assert x.shape == (4, 3, 4) and n.shape == (4,)
    assert x.min() >= 2.0 and x.max() <= 5.0 and n.dtype == np.int32
    assert 1 <= n.min() and n.max() <= 9
    again = Probe(shapes=[(3, 4), ()], dtypes=["float64", "int32"], ranges=[(2.0, 5.0), (1, 9)])
    np.testing.assert_array_equal(again.stacked[0], x)
    assert not np.array_equal(x[0], x[1])  # independent batches
    other_seed = Probe(shapes=[(3, 4), ()], dtypes=["float64", "int32"], seed=1)
    assert not np.array_equal(other_seed.stacked[0], x)


def test_probe_from_specs_ignores_names() -> None:
    a = Probe.from_specs([InputSpec("x", (5,)), InputSpec("y", (), low=0.0, high=2.0)])
    b = Probe.from_specs([InputSpec("p", (5,)), InputSpec("q", (), low=0.0, high=2.0)])
    assert a.signature == b.signature
    np.testing.assert_array_equal(a.batch(2)[1], b.batch(2)[1])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"shapes": []}, "shapes"),
        ({"shapes": [(3,)], "dtypes": ["complex64"]}, "dtypes"),
        ({"shapes": [(3,)], "ranges": [(1.0, 0.0)]}, "ranges"),
        ({"shapes": [(3,)], "num_batches": 0}, "num_batches"),
        ({"shapes": [(3,)], "dtypes": ["float64", "float64"]}, "dtypes"),
    ],
)
def test_probe_rejects_bad_fields(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Probe(**kwargs)


# ---- quantisation -------------------------------------------------------------------------------


def test_quantise_tokens() -> None:
    vals = np.array([1.0, -1.0, 0.0, -0.0, np.nan, np.inf, -np.inf, 123456789.0, 1e-300])
    exp, man = quantise(vals, digits=8)
    assert (exp[2], man[2]) == (exp[3], man[3])  # 0.0 and -0.0 agree
    pick = [0, 1, 2, 4, 5, 6]
    tokens = {(int(e), int(m)) for e, m in zip(exp[pick], man[pick], strict=True)}
    assert len(tokens) == 6  # 1, -1, 0, nan, inf, -inf all distinct
    assert (exp[7], man[7]) == (8, 12345679)
    assert (exp[8], man[8]) == (exp[2], man[2])  # flushed: 1e-300 is noise next to 1.2e8


def test_quantise_absorbs_ulp_noise_and_resolves_digits() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 10_000)
    noisy = x * (1 + 4e-16 * rng.choice([-1, 1], x.shape))
    e1, m1 = quantise(x)
    e2, m2 = quantise(noisy)
    assert np.mean((e1 == e2) & (m1 == m2)) > 0.9999
    d = DEFAULT_DIGITS
    e3, m3 = quantise(x * (1 + 10.0 ** (2 - d)))  # 100 quanta: a different function
    assert np.mean((e1 == e3) & (m1 == m3)) < 0.05
    for v in (9.999999999999999, 0.09999999999999999, 1e22, 99999999.5):
        e, m = quantise(np.array([v]))
        assert 10 ** (d - 1) <= abs(int(m[0])) < 10**d  # normalised mantissa near powers of ten


def test_quantise_is_exact_for_ints_and_rejects_bad_digits() -> None:
    _, man = quantise(np.array([3, -7, 2**40]))
    assert man.tolist() == [3, -7, 2**40]
    with pytest.raises(ValueError, match="digits"):
        quantise(np.ones(2), digits=0)


# ---- the content parameter rule -----------------------------------------------------------------


def test_content_params_equal_inputs_equal_weights_different_inputs_different() -> None:
    with jax.enable_x64(True):
        x = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
        w1 = content_param_fn("dense", (4, 5), x)
        w2 = content_param_fn("dense", (4, 5), x + 0.0)
        assert w1.shape == (4, 5) and w1.dtype == jnp.float64
        np.testing.assert_array_equal(w1, w2)
        w_scaled = content_param_fn("dense", (4, 5), 2.0 * x)
        cos = jnp.sum(w1 * w_scaled) / (jnp.linalg.norm(w1) * jnp.linalg.norm(w_scaled))
        assert cos < 0.999  # not a rescaling: BatchNorm cannot cancel the difference
        assert not np.allclose(w1, content_param_fn("other_op", (4, 5), x))
        assert not np.allclose(content_param_fn("b", (5,), x), content_param_fn("b", (5,), -x))


def test_content_params_are_jit_and_vmap_compatible() -> None:
    with jax.enable_x64(True):
        xs = jnp.arange(24.0).reshape(2, 3, 4) / 24.0
        eager = [content_param_fn("dense", (4, 2), x) for x in xs]
        batched = jax.jit(jax.vmap(lambda x: content_param_fn("dense", (4, 2), x)))(xs)
        np.testing.assert_allclose(batched, np.stack(eager), rtol=1e-13)


def test_content_params_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="op_name"):
        content_param_fn("", (2,), jnp.ones(2))
    with pytest.raises(ValueError, match="shape"):
        content_param_fn("dense", None, jnp.ones(2))


# ---- plain callables ----------------------------------------------------------------------------


def test_hash_format_and_determinism() -> None:
    h = functional_hash(lambda a, b: a * b, VEC2)
    assert len(h) == HASH_CHARS and int(h, 16) >= 0
    assert h == functional_hash(lambda x, y: y * x, VEC2)
    assert h != functional_hash(lambda a, b: a * b, Probe(shapes=[(16,), (16,)], seed=3))


@pytest.mark.parametrize(
    ("f", "g"),
    [
        (lambda a, b: a * 2, lambda a, b: a + a),
        (lambda a, b, t: a + t * (b - a), lambda a, b, t: a * (1 - t) + b * t),
        (lambda a, b: (a + b) ** 2, lambda a, b: a * a + 2 * a * b + b * b),
        (lambda a, b: jnp.maximum(a, b), lambda a, b: (a + b + jnp.abs(a - b)) / 2),
        (lambda a, b: jnp.tanh(a), lambda a, b: 2 * jax.nn.sigmoid(2 * a) - 1),
        (lambda a, b: {"x": a, "y": b}, lambda a, b: (a, b)),  # containers do not matter
        (lambda a, b: a - a, lambda a, b: jnp.zeros_like(a)),
        (lambda a, b: (a * 0.1 + b * 0.2) - (b * 0.2 + a * 0.1), lambda a, b: 0.0 * a),
    ],
)
def test_equal_callables(f, g) -> None:
    probe = VEC3 if f.__code__.co_argcount == 3 else VEC2
    assert functional_hash(f, probe) == functional_hash(g, probe)


@pytest.mark.parametrize(
    ("f", "g"),
    [
        (lambda a, b: a * 0.9, lambda a, b: a * 0.99),
        (lambda a, b: jnp.sign(a), lambda a, b: a),
        (lambda a, b: a + b, lambda a, b: a - b),
        (lambda a, b: (a, b), lambda a, b: (b, a)),
        (lambda a, b: a, lambda a, b: a.reshape(4, 4)),  # shape is part of the function
        (lambda a, b: a, lambda a, b: jnp.abs(a)),
        (lambda a, b: jnp.log(a), lambda a, b: jnp.log(jnp.abs(a))),  # nan vs number
        (lambda a, b: a / 0.0, lambda a, b: -a / 0.0),  # +inf vs -inf tokens
        (lambda a, b: (a > 0).astype(jnp.int32), lambda a, b: (a >= 0.5).astype(jnp.int32)),
    ],
)
def test_different_callables(f, g) -> None:
    assert functional_hash(f, VEC2) != functional_hash(g, VEC2)


def test_value_dependent_python_control_flow_falls_back_to_per_batch() -> None:
    def branchy(a, b):
        return a if float(a[0]) > 2.0 else b  # concrete value needed: no vmap

    assert functional_hash(branchy, VEC2) == functional_hash(lambda a, b: b, VEC2)


def test_plain_callable_needs_a_probe_and_junk_is_rejected() -> None:
    with pytest.raises(ValueError, match="probe"):
        functional_hash(lambda a: a)
    with pytest.raises(ValueError, match="candidate"):
        functional_hash(42)


# ---- executables with parameters and the batched path ------------------------------------------


def _mlp_exe(act: str, scale: float = 1.0) -> Executable:
    """A 2-layer net whose weights come from param_fn; `act` picks the activation."""
    fn_act = {"relu": jax.nn.relu, "tanh": jnp.tanh, "id": lambda h: h}[act]

    def fn(param_fn, x):
        h = fn_act(x @ param_fn("dense", (3, 4), x) * scale)
        return h @ param_fn("dense", (4, 2), h)

    return Executable(fn=fn, inputs=(InputSpec("x", (5, 3)),))


def test_executables_with_content_parameters() -> None:
    assert functional_hash(_mlp_exe("relu")) == functional_hash(_mlp_exe("relu"))
    assert functional_hash(_mlp_exe("relu")) != functional_hash(_mlp_exe("tanh"))
    assert functional_hash(_mlp_exe("relu")) != functional_hash(_mlp_exe("relu", scale=0.5))

    class Candidate:  # anything with .executable() is hashed through it
        def executable(self) -> Executable:
            return _mlp_exe("id")

    assert functional_hash(Candidate()) == functional_hash(_mlp_exe("id"))


def _poly_batched(param_fn, coeffs, x):
    w = param_fn("lin", (3, 3), x)
    h = x @ w
    return coeffs[0] * h + coeffs[1] * h**2 + coeffs[2] * jnp.tanh(h)


def _poly_exe(coeffs: tuple[float, float, float]) -> Executable:
    def fn(param_fn, x):
        return _poly_batched(param_fn, coeffs, x)

    data = jnp.asarray(coeffs)
    return Executable(
        fn, (InputSpec("x", (4, 3)),), "poly", {BATCHED_META_KEY: (_poly_batched, data)}
    )


def test_batched_path_equals_eager_path() -> None:
    grid = [(a, b, c) for a in (0.0, 1.0, 2.0) for b in (0.0, 0.5) for c in (0.0, 1.0, -1.0)]
    exes = [_poly_exe(c) for c in grid] + [_mlp_exe("tanh")]
    batched = functional_hashes(exes, chunk=4)  # several chunks, the last one padded
    eager = [functional_hash(e) for e in exes]
    assert batched == eager
    assert len(set(batched)) == len(grid) + 1
    with pytest.raises(ValueError, match="chunk"):
        functional_hashes(exes, chunk=0)


def test_same_hash_in_a_separate_process() -> None:
    code = (
        "from hashtune.hashing import Probe, functional_hash; import jax.numpy as jnp; "
        "print(functional_hash(lambda a, b: jnp.sin(a) * b + 0.9, Probe(shapes=[(16,), (16,)])))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = functional_hash(lambda a, b: jnp.sin(a) * b + 0.9, VEC2)
    assert out.stdout.strip().splitlines()[-1] == here

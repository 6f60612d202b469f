"""The MLP digits space (conditional depth/widths), its executable form and its JAX evaluator."""

from __future__ import annotations

import pickle
import random

import numpy as np
import pyglove as pg
import pytest

from hashtune.evaluators.base import TrialContext, TrialPruned
from hashtune.evaluators.data import load_digits_split
from hashtune.evaluators.mlp_digits import MLPDigitsEvaluator
from hashtune.spaces.base import Executable, Space
from hashtune.spaces.mlp import MLPConfig, mlp_space

GOOD = dict(activation="relu", learning_rate=3e-3, weight_decay=1e-4, batch_size=64)


def _dna_for_depth(space: Space, depth: int, rng: random.Random) -> pg.DNA:
    for _ in range(500):
        dna = space.random_dna(rng)
        if dna.children[0].value == depth - 1:
            return dna
    raise AssertionError(f"no DNA of depth {depth}")


def test_space_materialises_depth_consistent_configs():
    space = mlp_space()
    assert space.name == "mlp_digits"
    rng = random.Random(0)
    depths = set()
    for _ in range(30):
        dna = space.random_dna(rng)
        cfg = space.materialize(dna)
        assert isinstance(cfg, MLPConfig) and not pg.is_abstract(cfg)
        assert cfg.depth == dna.children[0].value + 1
        assert all(w in (16, 32, 64, 128) for w in cfg.hidden)
        assert cfg.activation in ("relu", "tanh", "gelu", "swish")
        assert 1e-4 <= cfg.learning_rate <= 1e-1 and 1e-6 <= cfg.weight_decay <= 1e-2
        assert cfg.batch_size in (32, 64, 128)
        depths.add(cfg.depth)
        # Round trip: DNA JSON and the candidate itself (pickled for process executors).
        assert space.materialize(space.dna_from_json(space.dna_to_json(dna))) == cfg
        assert pickle.loads(pickle.dumps(cfg)) == cfg
    assert depths == {1, 2, 3}


def test_widths_are_a_conditional_sub_space():
    space = mlp_space(max_depth=3)
    rng = random.Random(1)
    shallow, deep = _dna_for_depth(space, 1, rng), _dna_for_depth(space, 3, rng)
    # hidden's choice carries 1 resp. 3 width decisions below it; the rest are 4 flat decisions.
    assert len(shallow.children[0].children) == 1 and len(deep.children[0].children) == 3
    assert len(shallow.to_numbers()) == 2 + 4 and len(deep.to_numbers()) == 4 + 4
    assert space.materialize(shallow).depth == 1 and space.materialize(deep).depth == 3


def test_space_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_depth"):
        mlp_space(max_depth=0)
    with pytest.raises(ValueError, match="activations"):
        mlp_space(activations=("relu", "sigmoidish"))
    with pytest.raises(ValueError, match="learning_rate"):
        mlp_space(learning_rate=(0.1, 0.01))


def test_executable_runs_and_matches_apply():
    import jax
    import jax.numpy as jnp

    cfg = MLPConfig(hidden=[32, 16], **GOOD)
    exe = cfg.executable()
    assert isinstance(exe, Executable) and exe.inputs[0].shape == (8, 64)
    assert exe.meta == {"training": {"learning_rate": 3e-3, "weight_decay": 1e-4, "batch_size": 64}}
    calls = []

    def param_fn(name, shape, x):
        calls.append((name, shape, None if x is None else x.shape))
        rng = np.random.default_rng(len(calls))
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)

    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    out = jax.jit(lambda x: exe.fn(param_fn, x))(x)
    assert out.shape == (8, 10) and bool(jnp.all(jnp.isfinite(out)))
    assert [c[:2] for c in calls[::2]] == [
        ("dense", (64, 32)),
        ("dense", (32, 16)),
        ("dense", (16, 10)),
    ]
    assert calls[1] == ("bias", (32,), (8, 64))
    # The same parameters through `apply` give the same logits.
    calls.clear()
    params = [
        (param_fn("dense", (i, o), None), param_fn("bias", (o,), None))
        for i, o in cfg.layer_shapes()
    ]
    np.testing.assert_allclose(cfg.apply(params, x), out, rtol=1e-5, atol=1e-5)
    # Architecture, not training settings, decides the traced shapes.
    other = MLPConfig(hidden=[32, 16], **{**GOOD, "learning_rate": 0.05}).executable()
    assert other.static_key == exe.static_key and other.meta != exe.meta
    assert MLPConfig(hidden=[32], **GOOD).executable().static_key != exe.static_key


def test_digits_split_is_seeded_stratified_and_standardised():
    x_tr, y_tr, x_va, y_va = load_digits_split(0)
    assert x_tr.shape[1] == 64 and len(x_tr) + len(x_va) == 1797
    assert abs(len(x_va) / 1797 - 0.25) < 0.01
    np.testing.assert_allclose(x_tr.mean(axis=0), 0.0, atol=1e-5)
    assert np.bincount(y_va).min() >= 40  # every class present in proportion
    again = load_digits_split(0)
    assert again[0] is x_tr and not x_tr.flags.writeable
    other = load_digits_split(1)
    assert not np.array_equal(other[1], y_tr)
    assert load_digits_split(0, flat=False)[0].shape == (len(x_tr), 8, 8, 1)
    with pytest.raises(ValueError, match="val_fraction"):
        load_digits_split(0, val_fraction=1.5)


def test_evaluator_trains_to_good_accuracy_deterministically():
    ev = MLPDigitsEvaluator(epochs=10, seed=0)
    cfg = MLPConfig(hidden=[64], **GOOD)
    ctx = TrialContext()
    res = ev.evaluate(cfg, ctx)
    assert res.values[0] > 0.9
    assert res.metadata["params"] == 64 * 64 + 64 + 64 * 10 + 10
    assert [s for s, _ in ctx.intermediate] == list(range(1, 11))
    assert ctx.intermediate[-1][1] == res.values[0]
    assert ctx.intermediate[0][1] < res.values[0]  # it learns
    # Same seed → same accuracy; different init seed → a different run.
    assert MLPDigitsEvaluator(epochs=10, seed=0).evaluate(cfg, TrialContext()).values == res.values
    other = MLPDigitsEvaluator(epochs=10, seed=1).evaluate(cfg, TrialContext())
    assert other.values[0] > 0.9
    # Compile buckets are shared: a deeper, different-activation net of the same batch size
    # trains too, without a new compilation (fast).
    deep = MLPConfig(hidden=[128, 32, 16], **{**GOOD, "activation": "tanh"})
    res_deep = ev.evaluate(deep, TrialContext())
    assert res_deep.values[0] > 0.8 and res_deep.metadata["train_seconds"] < 1.5


def test_evaluator_learning_rate_matters_and_pruning_stops_training():
    ev = MLPDigitsEvaluator(epochs=3, seed=0)
    tiny_lr = ev.evaluate(MLPConfig(hidden=[64], **{**GOOD, "learning_rate": 1e-6}), TrialContext())
    good = ev.evaluate(MLPConfig(hidden=[64], **GOOD), TrialContext())
    assert good.values[0] > tiny_lr.values[0] + 0.2

    ctx = TrialContext(should_prune=lambda step, value, hist: step >= 2)
    with pytest.raises(TrialPruned):
        ev.evaluate(MLPConfig(hidden=[64], **GOOD), ctx)
    assert [s for s, _ in ctx.intermediate] == [1, 2]


def test_evaluator_config_and_validation():
    ev = MLPDigitsEvaluator(epochs=5, seed=3, val_fraction=0.2)
    cfg = ev.config()
    assert cfg["dataset"] == "sklearn.datasets.load_digits"
    assert (cfg["epochs"], cfg["seed"], cfg["val_fraction"], cfg["split_seed"]) == (5, 3, 0.2, 0)
    assert ev.fingerprint() != MLPDigitsEvaluator(epochs=6, seed=3, val_fraction=0.2).fingerprint()
    assert ev.objectives == ("val_accuracy",) and ev.name == "mlp_digits"
    with pytest.raises(ValueError, match="epochs"):
        MLPDigitsEvaluator(epochs=0)
    with pytest.raises(ValueError, match="candidate"):
        ev.evaluate({"hidden": [3]}, TrialContext())

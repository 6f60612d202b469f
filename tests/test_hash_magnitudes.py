"""Probes across magnitudes: functions equal on [-1, 1] but not at 1e3 or 1e-8 hash apart."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from hashtune.hashing import Probe, functional_hash, quantise
from hashtune.spaces.base import Executable, InputSpec
from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.program import INPUT_SPECS

#: The probe ranges of hash v2 (main before issue 9): w, g, m in [-1, 1], v in [0, 1].
UNIT_SPECS = (
    InputSpec("w", (16,)),
    InputSpec("g", (16,)),
    InputSpec("m", (16,)),
    InputSpec("v", (16,), low=0.0, high=1.0),
    InputSpec("lr", (), low=1e-3, high=1e-1),
    InputSpec("t", (), low=1.0, high=100.0),
)


def prog(body: str) -> Program:
    """A program of the five standard inputs from an indented body."""
    return Program.from_source("def f(w, g, m, v, lr):\n" + textwrap.indent(body, "    "))


def unit_range_hash(program: Program) -> str:
    """The hash on the old unit-range probes (eager path)."""
    return functional_hash(Executable(program.executable().fn, UNIT_SPECS))


#: Pairs that compute the same values on the unit ranges, but not at real magnitudes.
APART_AT_MAGNITUDES = {
    "clip_at_1": ("return clip(g, 1.0) * lr, m, v", "return g * lr, m, v"),
    "minimum_at_2": ("return minimum(g, 2.0) * lr, m, v", "return g * lr, m, v"),
    "maximum_at_minus_2": ("return maximum(g, -2.0) * lr, m, v", "return g * lr, m, v"),
    "v_capped_at_1": (  # the update reads v, so v is live state (dead state is passed through)
        "return g * lr / (sqrt(v) + 1.0), m, minimum(v, 1.0)",
        "return g * lr / (sqrt(v) + 1.0), m, v",
    ),
    "lr_capped_at_half": ("return g * minimum(lr, 0.5), m, v", "return g * lr, m, v"),
    "adam_eps_matters_for_tiny_v": (
        "return g * lr / (sqrt(v) + 1e-08), m, v",
        "return g * lr / sqrt(v), m, v",
    ),
    "floor_at_1e-8_matters_at_zero": (
        "return maximum(abs(g), 1e-08) * lr, m, v",
        "return abs(g) * lr, m, v",
    ),
    "clip_at_100_matters_near_1e3": ("return clip(g, 100.0) * lr, m, v", "return g * lr, m, v"),
    "weight_decay_capped": (
        "return (g + minimum(w, 10.0) * 0.01) * lr, m, v",
        "return (g + w * 0.01) * lr, m, v",
    ),
}

#: Rewrites that mix magnitudes (cancellation, reassociation) and must still hash equal.
EQUAL_AT_MAGNITUDES = {
    "add_then_subtract_large_w": ("return ((g + w) - w) * lr, m, v", "return g * lr, m, v"),
    "distributed_lr": ("return lr * g + lr * m, m, v", "return lr * (g + m), m, v"),
    "reassociated_adam_step": (
        "return g * lr / (sqrt(v) + 1e-08), m, v",
        "d = sqrt(v) + 1e-08\nreturn g * (lr / d), m, v",
    ),
    "exp_log_over_22_decades": (
        "return g * lr / (v + 1.0), m, exp(log(v))",
        "return g * lr / (v + 1.0), m, v",
    ),
    "fourth_power": ("return square(square(g)), m, v", "return pow(g, 4.0), m, v"),
    "sum_and_difference": ("return (w + g) - (w - g), m, v", "return g * 2.0, m, v"),
}


@pytest.mark.parametrize("name", sorted(APART_AT_MAGNITUDES))
def test_functions_equal_on_unit_range_hash_apart_across_magnitudes(name: str) -> None:
    a, b = (prog(src) for src in APART_AT_MAGNITUDES[name])
    assert unit_range_hash(a) == unit_range_hash(b)  # the old probes merged them
    assert functional_hash(a) != functional_hash(b)


@pytest.mark.parametrize("name", sorted(EQUAL_AT_MAGNITUDES))
def test_rewrites_mixing_magnitudes_still_hash_equal(name: str) -> None:
    a, b = (prog(src) for src in EQUAL_AT_MAGNITUDES[name])
    assert functional_hash(a) == functional_hash(b)


def test_program_probes_span_the_decades_with_signs_and_zeros() -> None:
    w, g, m, v, lr, t = Probe.from_specs(INPUT_SPECS).stacked
    for x in (w, g, m):
        mags = np.abs(x[x != 0])
        assert mags.min() < 1e-6 and mags.max() > 1e2  # at least eight decades over 4 batches
        assert (x < 0).any() and (x > 0).any() and (x == 0).any()
    assert v.min() == 0.0 and v[v > 0].min() < 1e-12 and v.max() > 1e4
    assert lr.min() >= 1e-7 and lr.max() <= 10.0 and lr.max() / lr.min() > 1e5
    assert t.min() >= 1.0 and t.max() <= 1e6 and t.max() > 1e4
    # One magnitude regime per batch, shared by the inputs: g and w of a batch stay comparable.
    for b in range(w.shape[0]):
        both = (w[b] != 0) & (g[b] != 0)
        ratio = np.log10(np.abs(w[b][both]) / np.abs(g[b][both]))
        assert np.abs(ratio).max() <= 2 * 0.15 * 11 + 1e-9
    again = Probe.from_specs(INPUT_SPECS).stacked
    np.testing.assert_array_equal(again[1], g)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"scales": ["exp"]}, "scales"),
        ({"scales": ["log"], "ranges": [(0.0, 1.0)]}, "scales"),
        ({"scales": ["log+"], "dtypes": ["int32"], "ranges": [(1, 9)]}, "scales"),
        ({"zeros": [1.5]}, "zeros"),
    ],
)
def test_log_probe_rejects_bad_fields(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Probe(shapes=[(3,)], **kwargs)


def test_flush_is_per_batch_so_tiny_regimes_keep_their_digits() -> None:
    x = np.array([[1e3, 2e3, 0.0], [1e-9, 3e-9, 5e-22]])  # batch 1 is a tiny regime
    _, whole = quantise(x)
    _, per_batch = quantise(x, axis=1)
    assert whole[1].tolist() == [0, 0, 0]  # flushed against 2e3: the regime would be lost
    assert per_batch[1, 0] != 0 and per_batch[1, 1] != 0 and per_batch[1, 2] == 0

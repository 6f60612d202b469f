"""The batched (array) form of optimizer programs computes what the eager program computes."""

from __future__ import annotations

import random

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hashtune.hashing import Probe
from hashtune.spaces.base import BATCHED_META_KEY
from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.batched import program_arrays, run_program_arrays
from hashtune.spaces.optimizers.program import INPUT_SPECS, INPUTS
from hashtune.spaces.optimizers.space import OptimizerProgramSpace


def _both(program: Program) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(eager outputs, batched-form outputs) on the program's probe batches."""
    probe = Probe.from_specs(INPUT_SPECS, num_batches=2)
    run, data = program.executable().meta[BATCHED_META_KEY]
    fn = program.as_function()
    eager, batched = [], []
    with jax.enable_x64(True):
        for b in range(probe.num_batches):
            xs = [jnp.asarray(x) for x in probe.batch(b)]
            eager.append([np.asarray(o) for o in fn(*xs)])
            batched.append([np.asarray(o) for o in jax.jit(run, static_argnums=0)(None, data, *xs)])
    return eager, batched


def test_batched_form_equals_eager_program_on_random_programs() -> None:
    space = OptimizerProgramSpace()
    rng = random.Random(3)
    for _ in range(12):
        program = space.materialize(space.random_dna(rng))
        eager, batched = _both(program)
        for e, b in zip(eager, batched, strict=True):
            for x, y in zip(e, b, strict=True):
                np.testing.assert_allclose(x, y, rtol=1e-13, atol=0, equal_nan=True)


def test_long_programs_are_padded_and_constant_outputs_kept() -> None:
    body = "".join(f"    a{i} = a{i - 1} * 0.5 + g\n" for i in range(1, 10))
    src = f"def f(w, g, m, v, lr):\n    a0 = g\n{body}    return a9 * lr + m, 0.25, v\n"
    program = Program.from_source(src)
    data = program_arrays(program.live_statements(), program.outputs, INPUTS)
    n = len(program.live_statements())
    assert n > 8 and data.op.shape == (-(-n // 8) * 8,)
    assert data.out_is_const.tolist() == [False, True, False]
    eager, batched = _both(program)
    np.testing.assert_allclose(batched[0][0], eager[0][0], rtol=1e-13)
    assert np.all(batched[1][1] == 0.25)


def test_program_arrays_need_six_inputs() -> None:
    with pytest.raises(ValueError, match="inputs"):
        program_arrays([], ["w", "m", "v"], INPUTS[:5])
    assert run_program_arrays is not None

"""Dead optimizer state (never read by the update, directly or through live state) is no part of
a program's function: it hashes alike however it is computed, and training is unchanged."""

from __future__ import annotations

import random
import textwrap

import numpy as np
import pytest

from hashtune.evaluators.batched_training import BatchedTrainer, SingleTrainer, prepare_suite
from hashtune.evaluators.proxy_tasks import TaskSpec
from hashtune.hashing import Probe, functional_hash, functional_hashes
from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.batched import program_arrays
from hashtune.spaces.optimizers.program import INPUT_SPECS, INPUTS
from hashtune.spaces.optimizers.simplify import simplify
from hashtune.spaces.optimizers.slots import SlotProgram
from hashtune.spaces.optimizers.space import Instruction, optimizer_program_space


def prog(body: str) -> Program:
    """A program from an indented body (the `def` line is added)."""
    src = "def f(w, g, m, v, lr):\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return Program.from_source(src)


def eager_hash(p: Program) -> str:
    """The digest of the eager executable (`as_function`), not the batched arrays."""
    fn = p.executable().fn  # a plain callable: hashed eagerly, on the executable's own probe
    return functional_hash(lambda *xs: fn(None, *xs), Probe.from_specs(INPUT_SPECS))


def all_hashes(programs: list[Program]) -> list[list[str]]:
    """Per program: [batched one-at-a-time, eager, batched many-at-once] digests."""
    many = functional_hashes(programs)
    return [[functional_hash(p), eager_hash(p), h] for p, h in zip(programs, many, strict=True)]


DEAD_M = [
    "m2 = m * 0.9 + g\nreturn g * lr, m2, v",
    "m2 = exp(g) / v\nm3 = log(m2)\nreturn g * lr, m3, v",
    "return g * lr, 0.5, v",
    "return g * lr, v, v",
    "return g * lr, m, v",
]


def test_dead_m_computed_differently_hashes_alike_every_path() -> None:
    programs = [prog(b) for b in DEAD_M]
    assert all(p.live_state() == () for p in programs)
    hashes = all_hashes(programs)
    assert len({h for row in hashes for h in row}) == 1, hashes
    # ... and differs from a program with a different update
    assert functional_hash(prog("return g * lr * 2.0, m, v")) != hashes[0][0]
    # the dead statements are gone and m is passed through
    assert programs[1].live_statements()[0].op == "mul" and len(programs[1].live_statements()) == 1
    assert all(p.live_outputs()[1:] == ["m", "v"] for p in programs)


def test_dead_m_beside_live_v_hashes_alike_and_v_still_counts() -> None:
    base = "v2 = v * 0.99 + square(g)\nu = g * lr / (sqrt(v2) + 1e-08)\n"
    a = prog(base + "m2 = m * 0.9 + g\nreturn u, m2, v2")
    b = prog(base + "m2 = v2 - m\nreturn u, m2, v2")
    c = prog(base.replace("0.99", "0.9") + "m2 = m * 0.9 + g\nreturn u, m2, v2")
    assert a.live_state() == b.live_state() == ("v",)
    ha, hb, hc = all_hashes([a, b, c])
    assert len(set(ha + hb)) == 1 and hc[0] not in ha


def test_v_feeding_m_feeding_the_update_keeps_both_live() -> None:
    """The update reads m; m's next value reads v: v is live, so its computation counts."""
    src = "v2 = v * {beta} + square(g)\nm2 = m * 0.9 + sqrt(v)\nreturn m * lr, m2, v2"
    a, b = prog(src.format(beta=0.99)), prog(src.format(beta=0.9))
    assert a.live_state() == ("m", "v")
    ha, hb = all_hashes([a, b])
    assert len(set(ha)) == len(set(hb)) == 1 and ha[0] != hb[0]
    # when m's next value stops reading v, v is dead and the same change no longer counts
    src2 = src.replace("sqrt(v)", "g")
    c, d = prog(src2.format(beta=0.99)), prog(src2.format(beta=0.9))
    assert c.live_state() == ("m",)
    assert len({h for row in all_hashes([c, d]) for h in row}) == 1


def test_update_reading_m_keeps_m_live() -> None:
    a = prog("m2 = m * 0.9 + g\nreturn (g + m) * lr, m2, v")
    b = prog("m2 = m * 0.5 + g\nreturn (g + m) * lr, m2, v")
    assert a.live_state() == ("m",) and a.live_outputs()[1] == "m2"
    ha, hb = all_hashes([a, b])
    assert ha[0] != hb[0]
    # through a scratch register and an overwritten name too
    c = prog("s = interp(g, m, 0.5)\nm2 = s * 2.0\nreturn sign(s) * lr, m2, v")
    assert c.live_state() == ("m",)


def test_simplify_drops_dead_state_and_passes_it_through() -> None:
    s = simplify(prog("m2 = exp(g) / v\nm3 = log(m2)\nreturn g * lr, m3, v"))
    assert s.to_source().splitlines()[1:] == ["    update = g * lr", "    return update, m, v"]


def _dead_m_slots(rng: random.Random, n: int) -> list[tuple[SlotProgram, SlotProgram]]:
    """Pairs (p, p + junk writes to m) of random slot programs whose m is dead in both."""
    space = optimizer_program_space(max_statements=8)
    pairs = []
    while len(pairs) < n:
        p = SlotProgram.random_short(space, rng, rng.randint(1, 5))
        if "m" in p.live_state() or len(p.instrs) - sum(i.op != "noop" for i in p.instrs) < 2:
            continue
        instrs = [i for i in p.instrs if i.op != "noop"]
        for _ in range(2):  # appended writes to m: nothing reads them
            ins = space.random_instruction(rng)
            instrs.append(Instruction(ins.op, "m", ins.args))
        q = SlotProgram(space, instrs + [Instruction("noop")] * (8 - len(instrs)))
        if "m" not in q.live_state():  # the junk may read m, which must keep it dead anyway
            pairs.append((p, q))
    return pairs


def test_random_programs_with_junk_dead_m_hash_alike_slot_and_program_paths() -> None:
    pairs = _dead_m_slots(random.Random(16), 12)
    flat = [s for pair in pairs for s in pair]
    slot_hashes = functional_hashes(flat)
    program_hashes = functional_hashes([s.program() for s in flat])
    eager = [eager_hash(s.program()) for s in flat]
    assert slot_hashes == program_hashes == eager
    for k in range(len(pairs)):
        assert slot_hashes[2 * k] == slot_hashes[2 * k + 1]
        assert pairs[k][0].live_key() == pairs[k][1].live_key()  # memo keys agree too


TINY = (
    TaskSpec("lin", "linreg", dim=4, cond=100.0, samples=16, batch=8),
    TaskSpec("par", "parity", hidden=(4,), activation="tanh", dim=3, batch=8),
)
LRS = (0.003, 0.03)


class RawArrays:
    """A program encoded as before the fix: every statement, the raw (update, m, v) outputs."""

    def __init__(self, program: Program):
        self.program = program

    def arrays(self, n: int | None = None) -> object:
        """`ProgramArrays` of all statements and outputs, padded to `n` (default: multiple of 8)."""
        p = self.program
        pad = n or max(8, -(-len(p.statements) // 8) * 8)
        return program_arrays(p.statements, p.outputs, INPUTS, pad=pad)


@pytest.fixture(scope="module")
def suite():
    return prepare_suite(TINY, steps=6, seeds=2, seed=0)


def test_training_is_unchanged_by_dropping_dead_state(suite) -> None:
    programs = [
        prog("m2 = m * 0.9 + g\nreturn g * lr, m2, v"),
        prog(
            "v2 = v * 0.99 + square(g)\nm2 = exp(g) - v2\nreturn g * lr / (sqrt(v2) + 1.0), m2, v2"
        ),
        prog("v2 = v * 0.9 + g\nm2 = m * 0.5 + v\nreturn m * lr + g * lr, m2, v2"),  # all live
    ]
    rng = random.Random(4)
    space = optimizer_program_space(max_statements=8)
    while len(programs) < 8:  # random programs with a dead state computed
        s = SlotProgram.random_short(space, rng, rng.randint(2, 6)).program()
        if s.live_outputs() != list(s.outputs) and s.live_state():
            programs.append(s)
    raw = BatchedTrainer(suite, LRS, population_axis="map").losses([RawArrays(p) for p in programs])
    new = BatchedTrainer(suite, LRS, population_axis="map").losses(programs)
    single = SingleTrainer(suite, LRS).losses(programs)
    assert raw.shape == (len(programs), 2, len(LRS), 2)
    assert np.isfinite(raw[:3]).all()
    fin = np.isfinite(raw)
    assert (fin == np.isfinite(new)).all() and (fin == np.isfinite(single)).all()
    np.testing.assert_allclose(new[fin], raw[fin], rtol=1e-6)
    # XLA's compiled program may round an op an ulp apart from the interpreter (as in
    # test_batched_training): nearly all entries agree to 1e-5, every one to 1e-3
    rel = np.abs(single[fin] - raw[fin]) / np.maximum(np.abs(raw[fin]), 1e-7)
    assert (rel < 1e-5).mean() >= 0.9 and rel.max() < 1e-3, np.sort(rel)[-5:]

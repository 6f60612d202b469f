"""Readable form of optimizer programs: dead code, constant folding, identities, renaming."""

from __future__ import annotations

import random

import numpy as np

from hashtune.spaces.optimizers import Program
from hashtune.spaces.optimizers.references import REFERENCE_SOURCES
from hashtune.spaces.optimizers.simplify import simplify
from hashtune.spaces.optimizers.space import optimizer_program_space

MESSY = """
def update(w, g, m, v, lr):
    dead = exp(w)
    a = 0.5 * 2.0
    b = g * a
    c = b + 0.0
    m = interp(c, m, 0.9)
    k = interp(lr, g, 0.0)
    update = k * m
    return update, m, v
"""


def _run(p: Program, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    w, g, m, v = (rng.standard_normal(32) for _ in range(4))
    v = np.abs(v)
    out = p.as_function()(w, g, m, v, 0.01, 3.0)
    return [np.asarray(o) for o in out]


def test_messy_program_simplifies_to_its_core():
    p = Program.from_source(MESSY)
    s = simplify(p)
    src = s.to_source()
    assert "exp" not in src  # dead statement removed
    assert "0.5" not in src and "2.0" not in src and "+ 0.0" not in src  # folded / identity
    assert [st.op for st in s.statements] == ["interp", "mul"]
    assert s.statements[0].target == "m1" and s.outputs[0] == "update"
    for a, b in zip(_run(p), _run(s), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_references_keep_their_function_and_shrink_never_grow():
    for src in REFERENCE_SOURCES.values():
        p = Program.from_source(src)
        s = simplify(p)
        assert len(s.statements) <= len(p.live_statements())
        for a, b in zip(_run(p), _run(s), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)


def test_random_programs_compute_the_same_after_simplify():
    space = optimizer_program_space(max_statements=8)
    rng = random.Random(3)
    for _ in range(30):
        p = space.materialize(space.random_dna(rng))
        s = simplify(p)
        assert Program.from_source(s.to_source()) == s  # valid, parseable
        with np.errstate(all="ignore"):
            for a, b in zip(_run(p), _run(s), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_non_finite_fold_is_kept_visible():
    p = Program.from_source(
        "def update(w, g, m, v, lr):\n    u = log(0.0) * g\n    return u, m, v\n"
    )
    assert "log(0.0)" in simplify(p).to_source()


#: Like MESSY but only constants of the space's grid (an enqueued program must fit the space).
IN_GRID = """
def update(w, g, m, v, lr):
    dead = exp(w)
    a = 0.5 * 2.0
    b = g * a
    m = interp(b, m, 0.9)
    update = lr * m
    return update, m, v
"""


def test_cli_trial_shows_the_simplified_program_next_to_the_raw_one(tmp_path):
    import os
    import subprocess
    import sys

    exp = tmp_path / "opt.yaml"
    exp.write_text(
        "study: opt-simplify\n"
        f"storage: sqlite:///{tmp_path}/s.db\n"
        "space: {name: optimizer_programs, args: {max_statements: 8}}\n"
        'evaluator: {name: "hashtune.evaluators.testing:SleepEvaluator", args: {seconds: 0.0}}\n'
        "searcher: random\n"
        "budget: {trials: 1}\n"
        "enqueue:\n"
        "  - |\n" + "".join(f"    {line}\n" for line in IN_GRID.strip().splitlines())
    )
    env = {**os.environ, "COLUMNS": "200"}
    run = [sys.executable, "-m", "hashtune.cli"]
    subprocess.run([*run, "run", str(exp)], check=True, capture_output=True, env=env, timeout=300)
    out = subprocess.run(
        [*run, "trial", "opt-simplify", "0", "--storage", f"sqlite:///{tmp_path}/s.db"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    ).stdout
    raw, simple = out.split("simplified", 1)
    assert "exp(w)" in raw  # the raw form keeps the dead statement
    assert "m1 = interp(g, m, 0.9)" in simple and "exp(w)" not in simple

"""NAS-Bench-201 space, network, probe form and evaluators.

The fixture `tests/fixtures/nb201_fixture.csv` is SYNTHETIC (made by
`benchmarks/make_nb201_fixture.py`): val_accuracy is a function of each cell's functional form.
"""

from __future__ import annotations

import collections
import importlib.util
import itertools
import random
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hashtune.evaluators import nas_bench_201_model as model
from hashtune.evaluators.base import TrialContext
from hashtune.evaluators.nas_bench_201 import (
    NasBench201TabularEvaluator,
    NasBench201TrainEvaluator,
)
from hashtune.spaces.base import Space
from hashtune.spaces.nas_bench_201 import (
    EDGES,
    NUM_CELLS,
    OPS,
    PROBE_INPUT,
    Cell,
    all_cells,
    cell_from_string,
    format_arch,
    functional_form,
    nas_bench_201_space,
    parse_arch,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "nb201_fixture.csv"
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"  # noqa: E501
SMALL = {"channels": 4, "cells_per_stage": 1, "input_shape": (8, 8, 1), "num_classes": 10}


@pytest.fixture(scope="module")
def cells() -> list[Cell]:
    return all_cells()


@pytest.fixture(scope="module")
def tabular() -> NasBench201TabularEvaluator:
    return NasBench201TabularEvaluator(FIXTURE, extra_objectives=("params",))


# ---- cells and strings


def test_string_round_trip_all_op_tuples() -> None:
    """Fast: the string codec behind `cell_from_string`/`to_string` on all 15,625 op tuples."""
    tuples = list(itertools.product(OPS, repeat=len(EDGES)))
    strings = [format_arch(ops) for ops in tuples]
    assert len(set(strings)) == NUM_CELLS == 15_625
    assert all(parse_arch(s) == ops for s, ops in zip(strings, tuples, strict=True))
    for ops in random.Random(0).sample(tuples, 200):
        cell = Cell(*ops)
        assert cell_from_string(cell.to_string()) == cell and cell.ops == ops


@pytest.mark.slow  # builds 31,250 PyGlove objects (~0.2 ms each): ~4-9 s
def test_round_trip_all_cells(cells: list[Cell]) -> None:
    assert len(cells) == NUM_CELLS == 15_625
    strings = [c.to_string() for c in cells]
    assert len(set(strings)) == NUM_CELLS
    for cell, s in zip(cells, strings, strict=True):
        back = cell_from_string(s)
        assert back.ops == cell.ops and back.to_string() == s
    assert cell_from_string(EXAMPLE).to_string() == EXAMPLE
    assert cell_from_string(EXAMPLE).edges == [
        (0, 1, "nor_conv_3x3"),
        (0, 2, "nor_conv_3x3"),
        (1, 2, "avg_pool_3x3"),
        (0, 3, "skip_connect"),
        (1, 3, "nor_conv_3x3"),
        (2, 3, "skip_connect"),
    ]


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (EXAMPLE.replace("avg_pool_3x3", "max_pool_3x3"), "'max_pool_3x3'"),
        (EXAMPLE.replace("avg_pool_3x3~1", "avg_pool_3x3~0"), "'avg_pool_3x3~0'"),
        (EXAMPLE.replace("skip_connect~2", "skip_connect"), "'skip_connect'"),
        (EXAMPLE.replace("skip_connect~2", "skip_connect~2~2"), "'skip_connect~2~2'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "2"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "'|none~0|'"),
        (EXAMPLE[:-1], "'|skip_connect~0|nor_conv_3x3~1|skip_connect~2'"),
        (" " + EXAMPLE, "' |nor_conv_3x3~0|'"),
        (42, "42"),
    ],
)
def test_invalid_strings_name_the_bad_token(bad: object, named: str) -> None:
    with pytest.raises(ValueError) as err:
        cell_from_string(bad)  # type: ignore[arg-type]
    assert named in str(err.value)


def test_bad_op_in_constructor_is_rejected() -> None:
    with pytest.raises(ValueError, match="conv_5x5"):
        Cell("conv_5x5", "none", "none", "none", "none", "none")


def test_live_edges_and_functional_form() -> None:
    # Node 2 is never read (2->3 is none), so 0->2 and 1->2 are dead; 1->3 via 0->1 is live.
    cell = cell_from_string(
        "|nor_conv_1x1~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    )
    assert cell.live_edges() == [
        (0, 1, "nor_conv_1x1"),
        (0, 3, "skip_connect"),
        (1, 3, "nor_conv_3x3"),
    ]
    assert [(i, j) for i, j, _ in cell.effective_edges()] == [(0, 1), (0, 3), (1, 3), (2, 3)]
    assert cell.functional_form() == "C3[C1[x]]+x"
    # Changing a dead edge keeps the form; sum order and pooling distribute.
    dead = cell_from_string(cell.to_string().replace("avg_pool_3x3~1", "nor_conv_1x1~1"))
    assert dead.functional_form() == cell.functional_form()
    a = ("skip_connect", "none", "none", "avg_pool_3x3", "avg_pool_3x3", "none")
    b = ("none", "skip_connect", "none", "avg_pool_3x3", "none", "avg_pool_3x3")
    assert functional_form(a) == functional_form(b) == "P(x)+P(x)"
    assert functional_form(("none",) * 6) == "0"


# ---- the PyGlove space


def test_space_materialises_cells_and_mutates_one_edge() -> None:
    space = nas_bench_201_space()
    assert isinstance(space, Space) and space.name == "nas_bench_201"
    assert len(space.dna_spec.elements) == len(EDGES)
    rng = random.Random(0)
    names = collections.Counter()
    for _ in range(60):
        dna = space.random_dna(rng)
        cell = space.materialize(dna)
        assert isinstance(cell, Cell)
        assert cell.ops == tuple(OPS[k] for k in dna.to_numbers())
        assert space.dna_of(cell) == dna
        child, name = space.mutate(dna, rng)
        child_cell = space.materialize(child)
        diff = [e for e, (a, b) in enumerate(zip(cell.ops, child_cell.ops, strict=True)) if a != b]
        assert len(diff) == 1, (cell.to_string(), child_cell.to_string())
        i, j = EDGES[diff[0]]
        assert name == f"edge_op:{i}->{j}"
        assert cell_from_string(child_cell.to_string()) == child_cell
        names[name] += 1
    assert len(names) == len(EDGES)  # every edge can be mutated


def test_mutation_prefers_effective_edges() -> None:
    rng = random.Random(1)
    # Only 0->3 can change the output of this cell: node 1 and 2 are unreachable.
    dna = nas_bench_201_space().dna_of("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    strict = nas_bench_201_space(dead_edge_weight=0.0)
    assert {strict.mutate(dna, rng)[1] for _ in range(20)} == {"edge_op:0->3"}
    default = nas_bench_201_space()  # weight 1 vs 0.1: 0->3 in 1/1.5 of the mutations
    counts = collections.Counter(default.mutate(dna, rng)[1] for _ in range(300))
    assert 0.55 < counts["edge_op:0->3"] / 300 < 0.78
    with pytest.raises(ValueError, match="dead_edge_weight"):
        nas_bench_201_space(dead_edge_weight=2.0)


# ---- the probe (executable) form


def _fixed_param_fn(calls: list | None = None):
    def param_fn(op: str, shape: tuple[int, ...], x: jax.Array) -> jax.Array:
        if calls is not None:
            calls.append((op, shape, x.shape))
        size = int(np.prod(shape))
        return jnp.sin(jnp.arange(size, dtype=jnp.float64) + len(op)).reshape(shape) / 3.0

    return param_fn


def _content_param_fn(op: str, shape: tuple[int, ...], x: jax.Array) -> np.ndarray:
    """Parameters derived from (op, shape, rounded content of x), like the functional hash."""
    arr = np.asarray(x)
    seed = hash((op, shape, round(float(arr.sum()), 6), round(float((arr**2).sum()), 6)))
    return np.random.default_rng(seed % 2**32).normal(size=shape)


def _probe(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(PROBE_INPUT.low, PROBE_INPUT.high, PROBE_INPUT.shape)


def test_executable_runs_under_jit_and_skip_path_is_identity() -> None:
    x = _probe()
    with jax.enable_x64(True):
        skip = cell_from_string("|skip_connect~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
        ex = skip.executable()
        assert ex.inputs == (PROBE_INPUT,)
        out = jax.jit(lambda v: ex.fn(_fixed_param_fn(), v))(jnp.asarray(x))
        assert out.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(out), x)
        zero = cell_from_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        out = jax.jit(lambda v: zero.executable().fn(_fixed_param_fn(), v))(jnp.asarray(x))
        np.testing.assert_array_equal(np.asarray(out), np.zeros_like(x))
        calls: list = []
        full = cell_from_string(EXAMPLE).executable()
        out = jax.jit(lambda v: full.fn(_fixed_param_fn(calls), v))(jnp.asarray(x))
        assert np.all(np.isfinite(np.asarray(out))) and out.shape == x.shape
        assert sorted(calls) == [("nor_conv_3x3", (3, 3, 3, 3), x.shape)] * 3


def test_probe_pool_excludes_padding() -> None:
    x = _probe(1)
    pool = cell_from_string("|none~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")
    with jax.enable_x64(True):
        out = np.asarray(pool.executable().fn(_fixed_param_fn(), jnp.asarray(x)))
    np.testing.assert_allclose(out[:, 0, 0], x[:, :2, :2].mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(out[:, 2, 3], x[:, 1:4, 2:5].mean(axis=(1, 2)), rtol=1e-12)


def test_functional_form_matches_what_the_probe_computes() -> None:
    """Equal forms give equal probe outputs and different forms differ (content-derived params)."""
    by_form = collections.defaultdict(list)
    for idx in np.ndindex(*(len(OPS),) * len(EDGES)):
        ops = tuple(OPS[k] for k in idx)
        by_form[functional_form(ops)].append(ops)
    rng = random.Random(3)
    forms = rng.sample(sorted(f for f, group in by_form.items() if len(group) > 1), 12)
    outputs = {}
    with jax.enable_x64(True):
        x = jnp.asarray(_probe(2))
        for form in forms:
            a, b = rng.sample(by_form[form], 2)
            out_a, out_b = (
                np.asarray(Cell(*ops).executable().fn(_content_param_fn, x)) for ops in (a, b)
            )
            np.testing.assert_allclose(out_a, out_b, rtol=1e-9, atol=1e-12, err_msg=form)
            outputs[form] = out_a
    values = list(outputs.values())
    for k in range(len(values)):
        for m in range(k + 1, len(values)):
            assert not np.allclose(values[k], values[m], atol=1e-6)


# ---- the network


def test_network_builds_and_equals_supernet() -> None:
    """The supernet with a cell's op indices is that cell's network (same init, same outputs)."""
    cell = cell_from_string(EXAMPLE)
    rng = jax.random.PRNGKey(0)
    params, state = model.init(rng, cell, **SMALL)
    assert model.count_params(params) == model.param_count(cell, **SMALL)
    assert set(params["layers"][0]["cell"]) == {f"{i}->{j}:{op}" for i, j, op in cell.edges}
    sp, ss = model.init_supernet(rng, **SMALL)
    assert model.count_params(sp) > model.count_params(params)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(16, 8, 8, 1)), jnp.float32)
    for train in (True, False):
        want, _ = model.apply(params, state, x, train)
        got, _ = model.apply_supernet(sp, ss, jnp.asarray(model.op_indices(cell)), x, train)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # eager first-use compiles of every conv/BN gradient: ~10 s on a busy CPU
@pytest.mark.parametrize(
    "arch",
    [
        EXAMPLE,
        "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_3x3~2|",
        "|skip_connect~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|",
    ],
)
def test_network_trains_one_step(arch: str) -> None:
    cell = cell_from_string(arch)
    rng = jax.random.PRNGKey(0)
    params, state = model.init(rng, cell, **SMALL)
    assert model.count_params(params) == model.param_count(cell, **SMALL)
    data = np.random.default_rng(0)
    x = jnp.asarray(data.normal(size=(16, 8, 8, 1)), jnp.float32)
    y = jnp.asarray(data.integers(0, 10, 16), jnp.int32)

    def loss_fn(p):
        logits, new_state = model.apply(p, state, x, True)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_state

    (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    opt = optax.sgd(0.1)
    updates, _ = opt.update(grads, opt.init(params), params)
    new_params = optax.apply_updates(params, updates)
    assert np.isfinite(float(loss))
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    moved = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)), params, new_params)
    assert all(jax.tree_util.tree_leaves(moved)), "every parameter should get a gradient"
    logits, _ = model.apply(new_params, new_state, x, False)
    assert logits.shape == (16, 10) and np.all(np.isfinite(np.asarray(logits)))


def test_flops_and_params_by_hand() -> None:
    none = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    one = "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"
    # C=2, N=1, 4x4x1 input, 3 classes: stem 16*9*1*2; reductions at 2x2 (2->4) and 1x1 (4->8).
    base = 16 * 9 * 2 + 4 * (9 * 2 * 4 + 9 * 4 * 4 + 2 * 4) + 1 * (9 * 4 * 8 + 9 * 8 * 8 + 4 * 8)
    size = {"channels": 2, "cells_per_stage": 1, "input_shape": (4, 4, 1), "num_classes": 3}
    assert model.flops(none, **size) == base + 8 * 3
    assert model.flops(one, **size) == base + 8 * 3 + 16 * 2 * 2 + 4 * 4 * 4 + 1 * 8 * 8
    # NAS-Bench-201's published sizes of its largest cell at C=16, N=5 on CIFAR-10.
    big = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+" * 1 + (
        "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    assert round(model.param_count(big) / 1e6, 4) == 1.5315
    assert round(model.flops(big) / 1e6, 2) == 220.12
    with pytest.raises(ValueError, match="input_shape"):
        model.init(jax.random.PRNGKey(0), none, input_shape=(6, 6, 1))


# ---- tabular evaluator


def test_tabular_fixture_values(tabular: NasBench201TabularEvaluator) -> None:
    assert len(tabular) == NUM_CELLS
    assert tabular.objectives == ("val_accuracy", "params")
    line = next(ln for ln in FIXTURE.read_text().splitlines() if ln.startswith(EXAMPLE + ","))
    _, acc, params, mflops = line.split(",")
    res = tabular.evaluate(cell_from_string(EXAMPLE), TrialContext())
    assert res.values == (float(acc), float(params))
    assert res.metadata == {"flops": float(mflops)}
    assert tabular.evaluate(EXAMPLE, TrialContext()).values == res.values
    assert (
        tabular.config()["sha256"] == __import__("hashlib").sha256(FIXTURE.read_bytes()).hexdigest()
    )


def test_fixture_is_functional_and_reproducible(tabular: NasBench201TabularEvaluator) -> None:
    by_form = collections.defaultdict(set)
    for ops, row in tabular._rows.items():
        by_form[functional_form(ops)].add(row["val_accuracy"])
    assert all(len(v) == 1 for v in by_form.values())
    assert len(by_form) > 1000 and len({v for s in by_form.values() for v in s}) > 1000
    spec = importlib.util.spec_from_file_location(
        "mk", ROOT / "benchmarks" / "make_nb201_fixture.py"
    )
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)  # type: ignore[union-attr]
    assert "\n".join(mk.rows()) + "\n" == FIXTURE.read_text()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tabular_errors(tmp_path: Path) -> None:
    other = EXAMPLE.replace("skip_connect~2", "none~2")
    good = f"# comment\narch,val_accuracy,params\n{EXAMPLE},91.5,0.5\n\n{other},88,\n"
    ev = NasBench201TabularEvaluator(_write(tmp_path, "t.csv", good))
    assert ev.evaluate(other, TrialContext()).values == (88.0,)
    assert ev.evaluate(other, TrialContext()).metadata == {}
    missing = EXAMPLE.replace("skip_connect~0", "none~0")
    with pytest.raises(ValueError, match=r"is not in benchmark file") as err:
        ev.evaluate(missing, TrialContext())
    assert missing in str(err.value)
    cases = {
        "arch,val_accuracy\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n": (
            "t1.csv:2",
            "'conv'",
        ),
        f"arch,val_accuracy\n{EXAMPLE},ninety\n": ("t2.csv:2", "'ninety'"),
        f"arch,val_accuracy\n{EXAMPLE},1,2\n": ("t3.csv:2", "expected 2 fields"),
        f"arch,val_accuracy\n{EXAMPLE},\n": ("t4.csv:2", "'val_accuracy' is empty"),
        f"arch,val_accuracy\n{EXAMPLE},1\n# x\n{EXAMPLE},2\n": ("t5.csv:4", "repeats line 2"),
        f"arch,test_accuracy\n{EXAMPLE},1\n": ("t6.csv:1", "'val_accuracy'"),
        f"arch,val_accuracy\n{EXAMPLE},nan\n": ("t7.csv:2", "'nan'"),
    }
    for k, (text, (where, what)) in enumerate(cases.items(), start=1):
        with pytest.raises(ValueError) as err:
            NasBench201TabularEvaluator(_write(tmp_path, f"t{k}.csv", text))
        assert where in str(err.value) and what in str(err.value), str(err.value)
    with pytest.raises(ValueError, match="cannot read"):
        NasBench201TabularEvaluator(tmp_path / "nope.csv")


def test_tabular_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.json", f'{{"{EXAMPLE}": {{"val_accuracy": 90.25, "flops": 12}}}}')
    ev = NasBench201TabularEvaluator(path)
    res = ev.evaluate(EXAMPLE, TrialContext())
    assert res.values == (90.25,) and res.metadata == {"flops": 12.0}
    other = NasBench201TabularEvaluator(_write(tmp_path, "c.json", path.read_text() + " "))
    assert other.fingerprint() != ev.fingerprint()
    for k, (text, what) in enumerate(
        [
            (
                f'{{"{EXAMPLE.replace("skip_connect~0", "bad_op~0")}": {{"val_accuracy": 1}}}}',
                "'bad_op'",
            ),
            (f'{{"{EXAMPLE}": {{"val_accuracy": "x"}}}}', "'x'"),
            (f'{{"{EXAMPLE}": {{"flops": 1}}}}', "val_accuracy"),
            ("[1, 2]", "expected an object"),
        ]
    ):
        with pytest.raises(ValueError, match="bad|non-numeric|lacks|expected") as err:
            NasBench201TabularEvaluator(_write(tmp_path, f"e{k}.json", text))
        assert what in str(err.value) and f"e{k}.json" in str(err.value)


# ---- train-from-scratch evaluator


def test_train_evaluator_config_and_validation() -> None:
    ev = NasBench201TrainEvaluator(epochs=2, seed=3)
    cfg = ev.config()
    assert cfg["data"] == "sklearn.datasets.load_digits" and cfg["split_seed"] == 3
    assert cfg["epochs"] == 2 and cfg["channels"] == 8 and cfg["cells_per_stage"] == 1
    assert ev.fingerprint() != NasBench201TrainEvaluator(epochs=3, seed=3).fingerprint()
    assert ev.objectives == ("val_accuracy",)
    two = NasBench201TrainEvaluator(epochs=2, seed=3, extra_objectives=["params"])
    assert two.objectives == ("val_accuracy", "params")
    assert two.fingerprint() != ev.fingerprint()
    for bad in (
        {"channels": 0},
        {"epochs": 1.5},
        {"lr": -1.0},
        {"batch_size": 10**6},
        {"extra_objectives": ["latency"]},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            NasBench201TrainEvaluator(**bad)
    with pytest.raises(ValueError, match="candidate"):
        ev.evaluate(42, TrialContext())


@pytest.mark.slow
def test_train_evaluator_end_to_end() -> None:
    ev = NasBench201TrainEvaluator(epochs=3)
    ctx = TrialContext()
    res = ev.evaluate(cell_from_string(EXAMPLE), ctx)
    (acc,) = res.values
    assert acc > 0.5  # chance is 0.1
    assert [step for step, _ in ctx.intermediate] == [1, 2, 3] and ctx.intermediate[-1][1] == acc
    assert res.metadata["params"] == model.param_count(EXAMPLE, 8, 1, (8, 8, 1), 10)
    assert res.metadata["flops"] == model.flops(EXAMPLE, 8, 1, (8, 8, 1), 10)
    assert res.metadata["train_seconds"] > 0
    # Deterministic: same cell, same task → same accuracy; a dead cell stays at chance.
    assert ev.evaluate(EXAMPLE, TrialContext()).values == res.values
    dead = ev.evaluate("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", TrialContext())
    assert dead.values[0] < 0.2

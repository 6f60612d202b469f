"""The real NAS-Bench-201 table shipped with hashtune: default table, noise, cost, partition check.

The table is package data (evaluators/tables/nb201_results.csv.gz); nothing here reads /work/shared.
"""

from __future__ import annotations

import re
import statistics

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from hashtune import Study
from hashtune.cli.tables import stats_table
from hashtune.evaluators.base import TrialContext
from hashtune.evaluators.nas_bench_201 import NasBench201TabularEvaluator
from hashtune.evaluators.nas_bench_201_tabular import (
    ISOMORPHIC_SD,
    SIMULATED_EPOCHS,
    default_table_path,
)
from hashtune.hashing import functional_hashes
from hashtune.spaces.nas_bench_201 import Cell, functional_form, nas_bench_201_space
from hashtune.spaces.nas_bench_201_iso import isomorphism_key

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"  # noqa: E501
#: Node 1 is zero (edge 0->1 is none), so edges 1->2 and 1->3 are dead: 25 encodings, one function.
DEAD = "|none~0|+|nor_conv_3x3~0|{a}~1|+|nor_conv_1x1~0|{b}~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table() -> NasBench201TabularEvaluator:
    return NasBench201TabularEvaluator()


def test_default_table_is_the_real_nb201_table_shipped_as_package_data(
    table: NasBench201TabularEvaluator,
) -> None:
    assert default_table_path().name == "nb201_results.csv.gz" and default_table_path().is_file()
    assert len(table) == 15625 and table.objectives == ("cifar10_test_acc",)
    best = max(r["cifar10_test_acc"] for r in table.rows().values())
    assert best == pytest.approx(94.3733)  # the published best cell
    res = table.evaluate(EXAMPLE, TrialContext())
    assert res.values == (93.66,)
    assert res.metadata["cifar10_test_acc_one_seed"] == 93.62
    assert res.metadata["simulated_gpu_seconds"] == pytest.approx(SIMULATED_EPOCHS * 23.1981)
    frame = pd.read_csv(default_table_path())  # pandas reads the shipped file as it is
    assert list(frame.columns)[:3] == ["arch", "cifar10_test_acc", "cifar10_test_acc_one_seed"]


def test_gaussian_noise_is_a_fresh_seeded_draw_of_the_measured_size(
    table: NasBench201TabularEvaluator,
) -> None:
    noisy = NasBench201TabularEvaluator(noise="gaussian", seed=7)
    draws = [noisy.evaluate(EXAMPLE, TrialContext(n)).values[0] for n in range(400)]
    assert len(set(draws)) == 400, "each trial must get its own draw"
    assert statistics.fmean(draws) == pytest.approx(93.66, abs=0.03)
    assert statistics.stdev(draws) == pytest.approx(ISOMORPHIC_SD, rel=0.15)
    again = NasBench201TabularEvaluator(noise="gaussian", seed=7)
    assert again.evaluate(EXAMPLE, TrialContext(3)).values[0] == draws[3]
    other_seed = NasBench201TabularEvaluator(noise="gaussian", seed=8)
    assert other_seed.evaluate(EXAMPLE, TrialContext(3)).values[0] != draws[3]
    assert noisy.evaluate(EXAMPLE, TrialContext(3)).metadata["noise_free"] == 93.66
    fingerprints = {e.fingerprint() for e in (table, noisy, again, other_seed)}
    assert len(fingerprints) == 3, "noise mode and seed are part of the task; equal configs share"


def test_one_seed_noise_reads_the_real_single_run(table: NasBench201TabularEvaluator) -> None:
    one = NasBench201TabularEvaluator(noise="one_seed")
    assert one.evaluate(EXAMPLE, TrialContext(0)).values == (93.62,)
    assert one.evaluate(EXAMPLE, TrialContext(5)).values == (93.62,)  # one fixed real run
    assert one.fingerprint() != table.fingerprint()


def test_noise_arguments_are_validated(tmp_path) -> None:
    for kwargs, what in (
        ({"noise": "loud"}, "`noise`"),
        ({"noise": "gaussian", "noise_sd": 0}, "`noise_sd`"),
        ({"seed": -1}, "`seed`"),
    ):
        with pytest.raises(ValueError, match=what):
            NasBench201TabularEvaluator(**kwargs)
    path = tmp_path / "t.csv"
    path.write_text(f"arch,val_accuracy\n{EXAMPLE},91\n")
    with pytest.raises(ValueError, match="val_accuracy_one_seed"):
        NasBench201TabularEvaluator(path, noise="one_seed")


def test_reevaluate_serves_the_mean_of_k_noisy_evaluations_and_audit_measures_the_noise(
    sqlite_url: str,
) -> None:
    """reevaluate=3, audit every hit: 3 paid draws, then the mean, each hit audited afresh."""
    ev = NasBench201TabularEvaluator(noise="gaussian", seed=1)
    study = Study.create(
        "nb201-noise",
        space=nas_bench_201_space(),
        evaluator=ev,
        searcher="random",
        storage=sqlite_url,
        cache={"reevaluate": 3, "audit_fraction": 1.0},
    )
    archs = [DEAD.format(a=a, b=b) for a, b in [("none", "none"), ("skip_connect", "none")]]
    archs += [DEAD.format(a="nor_conv_3x3", b=b) for b in ("none", "avg_pool_3x3", "skip_connect")]
    for arch in archs:
        assert study.enqueue(arch)
    study.optimize(n_trials=5)
    t = {tr.number: tr for tr in study.trials()}
    assert len({tr.functional_hash for tr in t.values()}) == 1
    assert [t[n].state for n in range(5)] == ["COMPLETE"] * 3 + ["CACHED"] * 2
    paid = [ev.evaluate(archs[n], TrialContext(n)).values[0] for n in range(3)]
    assert [t[n].values[0] for n in range(3)] == paid
    mean = statistics.fmean(paid)
    for n in (3, 4):
        assert t[n].values[0] == pytest.approx(mean), "a hit must be served the mean of 3"
        fresh = ev.evaluate(archs[n], TrialContext(n)).values[0]
        assert t[n].user_attrs["audit_fresh"] == [pytest.approx(fresh)]
    summary = study.audit_summary()
    assert summary is not None and summary.audits == 2
    diffs = [abs(mean - ev.evaluate(archs[n], TrialContext(n)).values[0]) for n in (3, 4)]
    assert summary.max_abs_diff == pytest.approx(max(diffs))
    assert summary.median_abs_diff == pytest.approx(statistics.median(diffs))
    cost = study.simulated_cost()
    one = t[0].user_attrs["simulated_gpu_seconds"]
    assert cost is not None and cost.saved_s == 0.0, "audited hits were paid, not saved"
    assert cost.paid_s == pytest.approx(
        sum(t[n].user_attrs["simulated_gpu_seconds"] for n in range(3)) + 2 * one
    )


def test_stats_count_simulated_gpu_time_saved_by_hits(sqlite_url: str) -> None:
    study = Study.create(
        "nb201-cost",
        space=nas_bench_201_space(),
        evaluator=NasBench201TabularEvaluator(),
        searcher="random",
        storage=sqlite_url,
    )
    for b in ("none", "avg_pool_3x3", "skip_connect"):
        study.enqueue(DEAD.format(a="none", b=b))
    study.optimize(n_trials=3)
    t = sorted(study.trials(), key=lambda tr: tr.number)
    assert [tr.state for tr in t] == ["COMPLETE", "CACHED", "CACHED"]
    cost = study.simulated_cost()
    assert cost is not None
    assert cost.paid_s == pytest.approx(t[0].user_attrs["simulated_gpu_seconds"])
    assert cost.saved_s == pytest.approx(2 * cost.paid_s)
    assert study.audit_summary() is None
    console = Console(width=100, record=True)
    console.print(stats_table(study.name, study.stats(), cost, study.audit_summary()))
    text = console.export_text()
    saved = re.escape(f"{2 * cost.paid_s / 3600:.2f}")
    assert re.search(rf"simulated GPU hours saved\s*│\s*{saved}\s*│", text), text


# -- the partition check: hash classes differ only by training noise ------------------------


def _spread(keys: list[str], acc: np.ndarray) -> dict[str, float]:
    """Within-class SD (ddof=1) median/p90/max and pooled SD over classes with several cells."""
    groups = pd.DataFrame({"k": keys, "v": acc}).groupby("k")["v"]
    size = groups.size()
    multi = size > 1
    sd, var = groups.std()[multi], groups.var()[multi]
    pooled = float(np.sqrt((var * (size[multi] - 1)).sum() / (size[multi] - 1).sum()))
    return {
        "median": sd.median(),
        "p90": sd.quantile(0.9),
        "p99": sd.quantile(0.99),
        "max": sd.max(),
        "pooled": pooled,
        "sds": sd,
    }


def _assert_noise_only(keys: list[str], iso: dict, acc: np.ndarray) -> None:
    """`keys`' classes spread no more than isomorphism classes (pure seed noise), tolerance 15%,
    and at most twice as many of them spread beyond the isomorphism classes' 99th percentile."""
    got = _spread(keys, acc)
    for q in ("median", "p90", "pooled"):
        assert got[q] <= 1.15 * iso[q], f"{q} SD {got[q]:.3f} > 1.15 x isomorphism {iso[q]:.3f}"
    wide = float((got["sds"] > iso["p99"]).mean())
    assert wide <= 2 * 0.01 + 1e-9, f"{wide:.1%} of classes spread like a merge of different cells"
    assert got["max"] <= 1.15 * iso["max"]


@pytest.fixture(scope="module")
def real(table: NasBench201TabularEvaluator) -> tuple[list, np.ndarray, dict]:
    ops = list(table.rows())
    acc = np.array([table.rows()[o]["cifar10_test_acc"] for o in ops])
    iso_keys = [isomorphism_key(o) for o in ops]
    assert len(set(iso_keys)) == 6466  # NB201's own count of unique cells
    return ops, acc, _spread(iso_keys, acc)


def test_functional_classes_differ_only_by_training_noise_and_a_coarse_merge_is_caught(
    real: tuple[list, np.ndarray, dict],
) -> None:
    """`functional_form` classes are the hash's classes (the slow test in
    test_hash_equivalence_nb201 checks it on all cells); a wrong, coarse merge fails the check."""
    ops, acc, iso = real
    _assert_noise_only([functional_form(o) for o in ops], iso, acc)
    coarse = [",".join(sorted(o)) for o in ops]  # the ops, wherever they sit
    with pytest.raises(AssertionError):
        _assert_noise_only(coarse, iso, acc)


@pytest.mark.slow
def test_hash_classes_on_the_real_table_differ_only_by_training_noise(
    real: tuple[list, np.ndarray, dict],
) -> None:
    """All 15,625 cells hashed (batched, compiled): 13 s on an idle 2-core machine, 40+ busy."""
    ops, acc, iso = real
    hashes = functional_hashes([Cell(*o) for o in ops])
    assert len(set(hashes)) == 4660
    _assert_noise_only(hashes, iso, acc)

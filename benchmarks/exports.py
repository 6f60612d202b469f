"""Exports of a study: CSV/JSON/Parquet and to Optuna (SQLite, journal), against Optuna's own.

Fills a store with `--trials` finished trials (a conditional space: ints, floats, strings; 5
intermediate values each) through `Store.add_finished_trials`, then times hashtune's exports
and, side by side, Optuna's `trials_dataframe().to_csv` on the exported Optuna study (the peer's
way to get a CSV; it drops intermediate values, directions and distributions).
Prints an 80-column table and writes benchmarks/results/exports.json.
Usage: ``.venv/bin/python benchmarks/exports.py [--trials 2000]``
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import optuna
import pyglove as pg

from hashtune.exports import export_data, write_export
from hashtune.optuna_export import export_to_optuna, optuna_storage
from hashtune.space_registry import register_space
from hashtune.spaces.base import Space
from hashtune.store import Store
from hashtune.view import StudyView

RESULTS = Path(__file__).resolve().parent / "results"


@register_space("bench_exports")
def bench_space() -> Space:
    return Space(
        pg.Dict(
            width=pg.oneof([16, 32, 64, 128]),
            act=pg.oneof(["relu", "gelu", "tanh"]),
            lr=pg.floatv(1e-4, 1e-1, scale="log"),
            opt=pg.oneof([pg.Dict(momentum=pg.floatv(0.0, 0.99)), "adam"]),
        )
    )


def fill(url: str, n: int) -> StudyView:
    store, space, rng = Store(url), bench_space(), random.Random(0)
    sid = store.create_study("bench", ["maximize"], {"space": {"name": "bench_exports"}}).id
    rows = []
    for _ in range(n):
        dna = space.random_dna(rng)
        rows.append({
            "state": "COMPLETE", "dna": space.dna_to_json(dna), "params": space.flat_params(dna),
            "candidate": space.candidate_to_json(space.materialize(dna)),
            "values": [rng.random()], "intermediate": {s: rng.random() for s in range(5)},
        })  # fmt: skip
    store.add_finished_trials(sid, rows)
    return StudyView.open("bench", store)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        view = fill(f"sqlite:///{d}/h.db", args.trials)
        res = {
            f"hashtune {f}": timed(lambda f=f: write_export(export_data(view), f, d / f"t.{f}"))
            for f in ("csv", "json", "parquet")
        }
        res["hashtune -> optuna sqlite"] = timed(
            lambda: export_to_optuna(view, f"sqlite:///{d}/o.db")
        )
        res["hashtune -> optuna journal"] = timed(lambda: export_to_optuna(view, str(d / "o.j")))
        peer = optuna.load_study(study_name="bench", storage=optuna_storage(str(d / "o.j")))
        res["optuna trials_dataframe csv"] = timed(
            lambda: peer.trials_dataframe().to_csv(d / "peer.csv")
        )
    peer_s = res["optuna trials_dataframe csv"]
    print(f"{'export of ' + str(args.trials) + ' trials':<40}{'seconds':>12}{'vs optuna csv':>16}")
    for k, v in res.items():
        print(f"{k:<40}{v:>12.3f}{v / peer_s:>15.2f}x")
    RESULTS.mkdir(exist_ok=True)
    out = {"trials": args.trials, "seconds": res}
    (RESULTS / "exports.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

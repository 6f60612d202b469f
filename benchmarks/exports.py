"""Exports of a study: CSV/JSON/Parquet and to Optuna (SQLite, journal), against Optuna's own.

Fills a store with `--trials` finished trials (a conditional space: ints, floats, strings; 5
intermediate values each) through `Store.add_finished_trials`, then times hashtune's exports
and, side by side, Optuna's `trials_dataframe().to_csv` on the exported Optuna study (the peer's
way to get a CSV; it drops intermediate values, directions and distributions).
Prints an 80-column table and writes benchmarks/results/exports.json.
Usage: ``.venv/bin/python benchmarks/exports.py [--trials 2000] [--quick] [--json PATH]``
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pyglove as pg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import parser, quiet_libraries, write_json  # noqa: E402
from harness.tables import print_table  # noqa: E402

from hashtune.exports import export_data, write_export  # noqa: E402
from hashtune.optuna_export import export_to_optuna, optuna_storage  # noqa: E402
from hashtune.space_registry import register_space  # noqa: E402
from hashtune.spaces.base import Space  # noqa: E402
from hashtune.store import Store  # noqa: E402
from hashtune.view import StudyView  # noqa: E402
from hashtune.vocabulary import Direction, TrialState  # noqa: E402


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
    sid = store.studies.create(
        "bench", [Direction.MAXIMIZE], {"space": {"name": "bench_exports"}}
    ).id
    rows = []
    for _ in range(n):
        dna = space.random_dna(rng)
        rows.append({
            "state": TrialState.COMPLETE, "dna": space.dna_to_json(dna), "params": space.flat_params(dna),
            "candidate": space.candidate_to_json(space.materialize(dna)),
            "values": [rng.random()], "intermediate": {s: rng.random() for s in range(5)},
        })  # fmt: skip
    store.trials.add_finished(sid, rows)
    return StudyView.open("bench", store)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    """Fill a store, time every export and Optuna's own CSV, print the table, write the JSON."""
    ap = parser(__doc__, "exports", seed=None)
    ap.add_argument("--trials", type=int, default=2000)
    args = ap.parse_args()
    if args.quick:  # seconds: a small study
        args.trials = 50
    quiet_libraries()
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
    print_table(
        f"export of {args.trials} trials",
        ["export", "seconds", "vs optuna csv"],
        [(k, f"{v:.3f}", f"{v / peer_s:.2f}x") for k, v in res.items()],
    )
    write_json({"trials": args.trials, "seconds": res}, args.json, indent=2)


if __name__ == "__main__":
    main()

"""Loop overhead per trial: hashtune's full loop (ask, hash, cache, store, tell) against the
peers' own loops, side by side in one run, on a trivial objective.

Space: 4 decision points (two floats, two categoricals); objective: a sum of them (microseconds).
Systems (`--systems`, comma-separated prefixes):
  ht:{random,re,tpe}:{on,off}:{sqlite,pg}  hashtune Study.optimize, cache on/off, SQLite file or
                                           PostgreSQL (database `loopw_bench`), in-process
  optuna:{random,tpe}:{mem,sqlite,journal} Optuna study.optimize (RandomSampler / TPESampler)
  pyglove:re:mem                           PyGlove's own regularized evolution (pg.sample)
Both evolutions: population 50, tournament 10. Repetitions run ABAB (the order of systems is
reversed every other repetition); the table shows the median over repetitions of wall time of the
optimize call / trials. `--profile` adds, for hashtune random / RE / TPE (cache on, SQLite, at the
smallest trial count), the exclusive milliseconds per trial spent in the searcher, PyGlove (space
methods), the hash and the store, and the SQL statements and commits per trial (SQLAlchemy events).

Prints tables; writes benchmarks/results/overhead.json (`--out`).
Usage: ``.venv/bin/python benchmarks/overhead.py [--trials 1000,10000] [--reps 3] [--quick]
[--systems ht:random,optuna] [--no-profile] [--out overhead.json]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg
from sqlalchemy import event
from sqlalchemy.engine import Engine

import hashtune as ht
from hashtune.evaluators.base import FunctionEvaluator

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(tempfile.gettempdir()) / "loopw" / "overhead"
PG_DB = "loopw_bench"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
ACTS = ("relu", "tanh", "gelu")
WIDTHS = (1, 2, 4, 8)
POP, TOURNAMENT = 50, 10

HT = [
    f"ht:{s}:{c}:{b}"
    for s in ("random", "re", "tpe")
    for c in ("on", "off")
    for b in ("sqlite", "pg")
]
OPTUNA = [f"optuna:{s}:{b}" for s in ("random", "tpe") for b in ("mem", "sqlite", "journal")]
ALL = HT + OPTUNA + ["pyglove:re:mem"]
SEARCHERS = {"random": "random", "re": "regularized_evolution", "tpe": "tpe"}


def hyper() -> pg.Dict:
    return pg.Dict(
        x=pg.floatv(0.0, 1.0), y=pg.floatv(-1.0, 1.0), width=pg.oneof(WIDTHS), act=pg.oneof(ACTS)
    )


def objective(c: Any) -> float:
    return c["x"] + c["y"] + 0.1 * c["width"] + 0.01 * ACTS.index(c["act"])


def _url(backend: str) -> str:
    if backend == "pg":
        return PG_URL
    return f"sqlite:///{WORK}/ht-{uuid.uuid4().hex[:8]}.db"


def run_hashtune(searcher: str, cache: str, backend: str, n: int, profile: bool = False) -> dict:
    """One fresh Study of `n` trials; ms per trial over its optimize call (and a profile)."""
    args = {"population_size": POP, "tournament_size": TOURNAMENT} if searcher == "re" else None
    study = ht.Study.create(
        f"overhead-{uuid.uuid4().hex[:10]}", space=ht.Space(hyper(), "four"),
        evaluator=FunctionEvaluator(objective), searcher=SEARCHERS[searcher],
        searcher_args=args, storage=_url(backend), cache={"enabled": cache == "on"}, seed=0,
    )  # fmt: skip
    prof = Profile(study) if profile else None
    t0 = time.perf_counter()
    study.optimize(n_trials=n, show_progress=False)
    wall = time.perf_counter() - t0
    done = sum(1 for t in study.trials() if t.state in ("COMPLETE", "CACHED"))
    out = {"ms": 1000 * wall / n, "trials": n, "done": done}
    if prof is not None:
        out["profile"] = prof.report(n, wall)
    study.close()
    study.store.close()
    return out


def run_optuna(sampler: str, backend: str, n: int) -> dict:
    """Optuna's own loop on the same space and objective."""
    storage: Any = None
    if backend == "sqlite":
        storage = f"sqlite:///{WORK}/optuna-{uuid.uuid4().hex[:8]}.db"
    elif backend == "journal":
        path = str(WORK / f"optuna-{uuid.uuid4().hex[:8]}.log")
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    smp = optuna.samplers.RandomSampler(seed=0) if sampler == "random" else None
    if smp is None:
        smp = optuna.samplers.TPESampler(seed=0)
    study = optuna.create_study(storage=storage, sampler=smp, direction="maximize")

    def obj(trial: optuna.Trial) -> float:
        c = {
            "x": trial.suggest_float("x", 0.0, 1.0),
            "y": trial.suggest_float("y", -1.0, 1.0),
            "width": trial.suggest_categorical("width", WIDTHS),
            "act": trial.suggest_categorical("act", ACTS),
        }
        return objective(c)

    t0 = time.perf_counter()
    study.optimize(obj, n_trials=n)
    wall = time.perf_counter() - t0
    return {"ms": 1000 * wall / n, "trials": n, "done": len(study.trials)}


def run_pyglove(n: int) -> dict:
    """PyGlove's own regularized evolution, in memory (pg.sample + feedback)."""
    algo = pg.evolution.regularized_evolution(
        population_size=POP, tournament_size=TOURNAMENT, seed=0
    )
    t0 = time.perf_counter()
    for i, (c, fb) in enumerate(pg.sample(hyper(), algo)):
        fb(objective(c))
        if i + 1 >= n:
            break
    wall = time.perf_counter() - t0
    return {"ms": 1000 * wall / n, "trials": n, "done": n}


def run(system: str, n: int, profile: bool = False) -> dict:
    kind, a, b, *rest = system.split(":")
    if kind == "ht":
        return run_hashtune(a, b, rest[0], n, profile)
    if kind == "optuna":
        return run_optuna(a, b, n)
    return run_pyglove(n)


class Profile:
    """Exclusive time per bucket (searcher, PyGlove, hash, store) and SQL counts of one Study."""

    BUCKETS = ("searcher", "pyglove", "hash", "store")

    def __init__(self, study: Any):
        self.seconds = dict.fromkeys(self.BUCKETS, 0.0)
        self.stack: list[list[float]] = []
        self.statements = self.commits = 0
        st = study
        for name in ("ask", "tell", "observe", "set_pending"):
            self._wrap(st.searcher, name, "searcher")
        for name in ("materialize", "mutate", "random_dna", "dna_to_json", "dna_from_json",
                     "candidate_to_json", "flat_params"):  # fmt: skip
            self._wrap(st.space, name, "pyglove")
        self._wrap(st.cache, "key", "hash")
        for name in dir(type(st.store)):
            if not name.startswith("_") and callable(getattr(st.store, name)):
                self._wrap(st.store, name, "store")
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._commit)

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def _commit(self, *_: Any) -> None:
        self.commits += 1

    def _wrap(self, obj: Any, name: str, bucket: str) -> None:
        fn = getattr(obj, name, None)
        if fn is None:
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.perf_counter(), 0.0]  # start, time spent in nested timed calls
            self.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stack.pop()
                total = time.perf_counter() - frame[0]
                self.seconds[bucket] += total - frame[1]
                if self.stack:
                    self.stack[-1][1] += total

        setattr(obj, name, timed)

    def report(self, n: int, wall: float) -> dict:
        event.remove(Engine, "before_cursor_execute", self._statement)
        event.remove(Engine, "commit", self._commit)
        out = {k: 1000 * v / n for k, v in self.seconds.items()}
        out["other"] = 1000 * wall / n - sum(out.values())
        out["statements"] = self.statements / n
        out["commits"] = self.commits / n
        return out


def ensure_pg() -> bool:
    """Create the benchmark database if missing; False when PostgreSQL is not reachable."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
                conn.execute(f'DROP DATABASE "{PG_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DB}"')
        return True
    except Exception as e:  # noqa: BLE001 - report and skip the PostgreSQL rows
        print(f"PostgreSQL not available ({e}); skipping its rows")
        return False


def select(patterns: str) -> list[str]:
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [s for s in ALL if any(s.startswith(p) for p in wanted)]


def print_table(results: dict[str, dict[str, list[dict]]], trials: list[int]) -> None:
    print("\nms per trial (median of repetitions; wall of the optimize call / trials)")
    head = "".join(f"{f'{n:,} trials':>16}" for n in trials)
    print(f"{'system':<28}{head}")
    print("-" * (28 + 16 * len(trials)))
    for system, per_n in results.items():
        cells = []
        for n in trials:
            runs = per_n.get(str(n), [])
            ms = [r["ms"] for r in runs]
            cells.append(f"{statistics.median(ms):>10.2f} (x{len(ms)})" if ms else f"{'-':>16}")
        print(f"{system:<28}{''.join(cells)}")


def print_profile(profiles: dict[str, dict]) -> None:
    if not profiles:
        return
    print("\nhashtune trial profile (cache on, SQLite): exclusive ms per trial, SQL per trial")
    cols = (*Profile.BUCKETS, "other", "statements", "commits")
    print(f"{'system':<22}" + "".join(f"{c:>11}" for c in cols))
    for system, p in profiles.items():
        print(f"{system:<22}" + "".join(f"{p[c]:>11.2f}" for c in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", default="1000,10000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--systems", default="ht,optuna,pyglove")
    ap.add_argument("--quick", action="store_true", help="200 trials, 1 repetition")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--out", default="overhead.json", help="file name under benchmarks/results/")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.reps = "200", 1
    trials = [int(n) for n in args.trials.split(",")]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    logging.getLogger("hashtune").setLevel(logging.ERROR)
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    systems = select(args.systems)
    if any(s.endswith(":pg") for s in systems) and not ensure_pg():
        systems = [s for s in systems if not s.endswith(":pg")]
    results: dict[str, dict[str, list[dict]]] = {s: {} for s in systems}
    for n in trials:
        for rep in range(args.reps):
            order = systems if rep % 2 == 0 else systems[::-1]  # ABAB: alternate the order
            for system in order:
                r = run(system, n)
                results[system].setdefault(str(n), []).append(r)
                print(f"  n={n} rep={rep} {system:<24} {r['ms']:8.2f} ms/trial", flush=True)
    profiles: dict[str, dict] = {}
    if not args.no_profile:
        for s in ("random", "re", "tpe"):
            system = f"ht:{s}:on:sqlite"
            if system in systems:
                profiles[system] = run(system, trials[0], profile=True)["profile"]
    print_table(results, trials)
    print_profile(profiles)
    out = {
        "args": vars(args),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
        "profile": profiles,
    }
    path = RESULTS / args.out
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

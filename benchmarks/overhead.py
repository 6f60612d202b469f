"""Loop overhead per trial: hashtune's full loop (ask, hash, cache, store, tell) against the
peers' own loops, side by side in one run, on a trivial objective.

Space: 4 decision points (two floats, two categoricals); objective: a sum of them (microseconds).
Systems (`--systems`, comma-separated prefixes):
  ht:{random,re,tpe}:{on,off}:{sqlite,pg}  hashtune Study.optimize, cache on/off, SQLite file or
                                           PostgreSQL (a fresh `overhead_bench_*` database), in-process
  optuna:{random,tpe}:{mem,sqlite,journal} Optuna study.optimize (RandomSampler / TPESampler)
  optuna:tpe-ht:mem                        the same with hashtune's TPE sampler settings
                                           (multivariate, constant liar) on Optuna's TPESampler
  optuna:tpe-inc:mem                       exactly the sampler hashtune's TPE searcher drives
                                           (IncrementalTPESampler, same settings): ht:tpe minus
                                           this is hashtune's own part of a TPE trial
  pyglove:re:mem                           PyGlove's own regularized evolution (pg.sample)
Both evolutions: population 50, tournament 10. Repetitions run ABAB (the order of systems is
reversed every other repetition); the table shows the median over repetitions of wall time of the
optimize call / trials. `--profile` adds, for hashtune random / RE / TPE (cache on, SQLite, at the
smallest trial count), the exclusive milliseconds per trial spent in the searcher, PyGlove (space
methods), the hash and the store, and the SQL statements and commits per trial (what SQLite
itself runs, its trace callback; SQLAlchemy's events on other backends).

Prints tables; writes benchmarks/results/overhead.json (`--out`).
Usage: ``.venv/bin/python benchmarks/overhead.py [--trials 1000,10000] [--reps 3] [--short | --quick]
[--systems ht:random,optuna] [--no-profile] [--json PATH]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import optuna
import pyglove as pg
from sqlalchemy import event
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import machine, parser, postgres_database, quiet_libraries, write_json  # noqa: E402
from harness.problems import toy_hyper, toy_objective, toy_problem  # noqa: E402
from harness.runners import optuna_sampler, scored_values, temporary_study  # noqa: E402

from hashtune import Study  # noqa: E402
from hashtune.search.optuna_searchers import TPESearcher  # noqa: E402

WORK = Path(tempfile.gettempdir()) / "loopw" / "overhead"
#: The store's concept objects whose public methods count as "store" time in `--profile`.
STORE_CONCEPTS = ("studies", "trials", "queries", "cache", "workers", "artifacts", "dashboard")
POP, TOURNAMENT = 50, 10
PG_URL: str | None = None  # set by main when PostgreSQL is reachable

HT = [
    f"ht:{s}:{c}:{b}"
    for s in ("random", "re", "tpe")
    for c in ("on", "off")
    for b in ("sqlite", "pg")
]
OPTUNA = [f"optuna:{s}:{b}" for s in ("random", "tpe") for b in ("mem", "sqlite", "journal")]
OPTUNA += ["optuna:tpe-ht:mem", "optuna:tpe-inc:mem"]
ALL = HT + OPTUNA + ["pyglove:re:mem"]
SEARCHERS = {"random": "random", "re": "regularized_evolution", "tpe": "tpe"}


def _url(backend: str) -> str | None:
    """The PostgreSQL database for `pg`; None (a temporary SQLite file) otherwise."""
    return PG_URL if backend == "pg" else None


def run_hashtune(searcher: str, cache: str, backend: str, n: int, profile: bool = False) -> dict:
    """One fresh Study of `n` trials; ms per trial over its optimize call (and a profile)."""
    args = {"population_size": POP, "tournament_size": TOURNAMENT} if searcher == "re" else None
    problem = toy_problem()
    with temporary_study(
        f"overhead-{uuid.uuid4().hex[:10]}", storage=_url(backend), space=problem.space,
        evaluator=problem.evaluator, searcher=SEARCHERS[searcher], searcher_args=args,
        cache={"enabled": cache == "on"}, seed=0,
    ) as study:  # fmt: skip
        prof = Profile(study) if profile else None
        t0 = time.perf_counter()
        study.optimize(n_trials=n, show_progress=False)
        wall = time.perf_counter() - t0
        report = None if prof is None else prof.report(n, wall)  # before reading the trials
        done = sum(v is not None for v in scored_values(study.trials()))
        out = {"ms": 1000 * wall / n, "trials": n, "done": done}
        if report is not None:
            out["profile"] = report
    return out


def run_hashtune_window(searcher: str, cache: str, backend: str, n: int, window: int) -> dict:
    """The last `window` of `n` trials: the first n - window - 1 by random search through the full
    loop, then the study reopened under `searcher` (its real resume: the searcher restored from
    the store) with one trial (`resume_s`), then `window` trials timed."""
    args = {"population_size": POP, "tournament_size": TOURNAMENT} if searcher == "re" else None
    problem = toy_problem()
    name = f"overhead-{uuid.uuid4().hex[:10]}"
    common = {"space": problem.space, "evaluator": problem.evaluator,
              "cache": {"enabled": cache == "on"}, "seed": 0}  # fmt: skip
    with temporary_study(name, storage=_url(backend), searcher="random", **common) as filler:
        filler.optimize(n_trials=n - window - 1, show_progress=False)  # +1: the reopen's trial
        filler.close()
        t0 = time.perf_counter()
        study = Study.create(
            name, storage=filler.store, searcher=SEARCHERS[searcher], searcher_args=args,
            load_if_exists=True, allow_config_change=True, **common,
        )  # fmt: skip
        study.optimize(n_trials=1, show_progress=False)
        resume = time.perf_counter() - t0
        t0 = time.perf_counter()
        study.optimize(n_trials=window, show_progress=False)
        wall = time.perf_counter() - t0
        done = sum(v is not None for v in scored_values(study.trials()))
        study.close()
    return {"ms": 1000 * wall / window, "trials": n, "window": window, "done": done,
            "resume_s": resume}  # fmt: skip


def run_optuna(sampler: str, backend: str, n: int, window: int | None = None) -> dict:
    """Optuna's own loop on the same space and objective."""
    storage: Any = None
    if backend == "sqlite":
        storage = f"sqlite:///{WORK}/optuna-{uuid.uuid4().hex[:8]}.db"
    elif backend == "journal":
        path = str(WORK / f"optuna-{uuid.uuid4().hex[:8]}.log")
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    problem = toy_problem()
    if sampler == "tpe-inc":  # exactly the sampler hashtune's TPE searcher drives
        made = TPESearcher(problem.space, seed=0).make_sampler(0)
    elif sampler == "tpe-ht":  # Optuna's TPESampler with the same settings
        made = optuna.samplers.TPESampler(seed=0, **TPESearcher.default_sampler_kwargs)
    else:
        made = optuna_sampler(sampler, 0)
    study = optuna.create_study(storage=storage, sampler=made, direction=str(problem.direction))

    def obj(trial: optuna.Trial) -> float:
        return toy_objective(problem.suggest(trial))

    timed = n
    if window is not None and window < n:  # the first n - window by random search, untimed
        study.sampler = optuna.samplers.RandomSampler(seed=0)
        study.optimize(obj, n_trials=n - window)
        study.sampler, timed = made, window
    t0 = time.perf_counter()
    study.optimize(obj, n_trials=timed)
    wall = time.perf_counter() - t0
    return {"ms": 1000 * wall / timed, "trials": n, "window": timed, "done": len(study.trials)}


def run_pyglove(n: int) -> dict:
    """PyGlove's own regularized evolution, in memory (pg.sample + feedback)."""
    algo = pg.evolution.regularized_evolution(
        population_size=POP, tournament_size=TOURNAMENT, seed=0
    )
    t0 = time.perf_counter()
    for i, (c, fb) in enumerate(pg.sample(toy_hyper(), algo)):
        fb(toy_objective(c))
        if i + 1 >= n:
            break
    wall = time.perf_counter() - t0
    return {"ms": 1000 * wall / n, "trials": n, "done": n}


def run(system: str, n: int, profile: bool = False, window: int | None = None) -> dict:
    """One run of `system` at `n` trials (with `window`: only the last `window` timed)."""
    kind, a, b, *rest = system.split(":")
    if kind == "ht":
        if window is not None and window < n:
            return run_hashtune_window(a, b, rest[0], n, window)
        return run_hashtune(a, b, rest[0], n, profile)
    if kind == "optuna":
        return run_optuna(a, b, n, window)
    return run_pyglove(n)


class Profile:
    """Exclusive time per bucket (searcher, PyGlove, hash, store) and SQL counts of one Study."""

    BUCKETS = ("searcher", "pyglove", "hash", "store")

    def __init__(self, study: Any):
        self.seconds = dict.fromkeys(self.BUCKETS, 0.0)
        self.stack: list[list[float]] = []
        self.statements = self.commits = self.sa_statements = self.sa_commits = 0
        st = study
        for name in ("ask", "tell", "observe", "set_pending"):
            self._wrap(st.searcher, name, "searcher")
        for name in ("materialize", "mutate", "random_dna", "dna_to_json", "dna_from_json",
                     "candidate_to_json", "flat_params", "dna_key"):  # fmt: skip
            self._wrap(st.space, name, "pyglove")
        self._wrap(st.cache, "key", "hash")  # the CachePolicy (hashing/cache_policy.py)
        self.wrapped = [f"{type(st.cache).__name__}.key"]
        for concept in STORE_CONCEPTS:  # the store is a composition of concept objects
            obj = getattr(st.store, concept)
            for name in dir(type(obj)):
                if not name.startswith("_") and callable(getattr(obj, name)):
                    self._wrap(obj, name, "store")
                    self.wrapped.append(f"store.{concept}.{name}")
        missing = [a for a in ("searcher", "space", "cache", "store") if not hasattr(st, a)]
        if missing:
            raise AttributeError(f"Study no longer has {missing}: fix Profile")
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "engine_connect", self._trace)
        event.listen(Engine, "commit", self._commit)

    def _statement(self, *_: Any) -> None:
        """Statements SQLAlchemy executes (on SQLite the driver's trace counts them instead)."""
        self.sa_statements += 1

    def _commit(self, *_: Any) -> None:
        self.sa_commits += 1

    def _trace(self, conn: Any) -> None:
        """Count what SQLite itself runs, also statements sent to the driver directly."""
        raw = conn.connection.dbapi_connection
        if hasattr(raw, "set_trace_callback"):
            raw.set_trace_callback(self._sqlite_statement)

    def _sqlite_statement(self, text: str) -> None:
        if text.startswith("COMMIT"):
            self.commits += 1
        elif not text.startswith(("ROLLBACK", "PRAGMA")):
            self.statements += 1

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
        event.remove(Engine, "engine_connect", self._trace)
        event.remove(Engine, "commit", self._commit)
        out: dict[str, Any] = {k: 1000 * v / n for k, v in self.seconds.items()}
        out["other"] = 1000 * wall / n - sum(out.values())
        traced = self.statements > 0  # SQLite's trace saw them; else SQLAlchemy's events
        out["statements"] = (self.statements if traced else self.sa_statements) / n
        out["commits"] = (self.commits if traced else self.sa_commits) / n
        out["wrapped"] = len(self.wrapped)
        return out


def select(patterns: str) -> list[str]:
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [s for s in ALL if any(s.startswith(p) for p in wanted)]


def print_table(
    results: dict[str, dict[str, list[dict]]], trials: list[int], window: int | None = None
) -> None:
    print("\nms per trial (median of repetitions; wall of the optimize call / trials)")
    if window is not None:
        print(f"only the last {window:,} trials of each count timed (pyglove: all of them)")
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


def print_resume(results: dict[str, dict[str, list[dict]]], trials: list[int]) -> None:
    """Seconds to reopen a hashtune study under its searcher and run its first trial."""
    rows = [(s, n, [r["resume_s"] for r in per_n.get(str(n), []) if "resume_s" in r])
            for s, per_n in results.items() for n in trials]  # fmt: skip
    rows = [(s, n, v) for s, n, v in rows if v]
    if not rows:
        return
    print("\nreopen + first trial, s (after n - window random trials; median)")
    for system, n, v in rows:
        print(f"{system:<28}{n:>10,}{statistics.median(v):>12.2f}")


def print_profile(profiles: dict[str, dict]) -> None:
    if not profiles:
        return
    print("\nhashtune trial profile (cache on, SQLite): exclusive ms per trial, SQL per trial")
    cols = (*Profile.BUCKETS, "other", "statements", "commits")
    print(f"{'system':<22}" + "".join(f"{c:>11}" for c in cols))
    for system, p in profiles.items():
        print(f"{system:<22}" + "".join(f"{p[c]:>11.2f}" for c in cols))


def main() -> None:
    global PG_URL
    ap = parser(__doc__, "overhead", seed=None)
    ap.add_argument("--trials", default="1000,10000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--systems", default="ht,optuna,pyglove")
    ap.add_argument("--short", action="store_true", help="200 trials, 1 repetition")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument(
        "--window", type=int, default=None,
        help="time only the last W trials of each count (the rest filled by random search "
        "through each system's own loop; hashtune then reopens the study: a real resume)",
    )  # fmt: skip
    args = ap.parse_args()
    if args.short:
        args.trials, args.reps = "200", 1
    if args.quick:  # seconds: 20 trials, one repetition, one system per library, no PostgreSQL
        args.trials, args.reps = "20", 1
        args.systems = "ht:random:on:sqlite,ht:re:off:sqlite,optuna:tpe:mem,pyglove"
    trials = [int(n) for n in args.trials.split(",")]
    quiet_libraries()
    WORK.mkdir(parents=True, exist_ok=True)
    systems = select(args.systems)
    pg_db = postgres_database("overhead_bench") if any(s.endswith(":pg") for s in systems) else None
    if pg_db is None:
        systems = [s for s in systems if not s.endswith(":pg")]
    else:
        PG_URL = pg_db[0]
    results: dict[str, dict[str, list[dict]]] = {s: {} for s in systems}
    try:
        for n in trials:
            for rep in range(args.reps):
                order = systems if rep % 2 == 0 else systems[::-1]  # ABAB: alternate the order
                for system in order:
                    r = run(system, n, window=args.window)
                    results[system].setdefault(str(n), []).append(r)
                    print(f"  n={n} rep={rep} {system:<24} {r['ms']:8.2f} ms/trial", flush=True)
        profiles: dict[str, dict] = {}
        if not args.no_profile:
            for s in ("random", "re", "tpe"):
                system = f"ht:{s}:on:sqlite"
                if system in systems:
                    profiles[system] = run(system, trials[0], profile=True)["profile"]
    finally:
        if pg_db is not None:
            pg_db[1]()
    print_table(results, trials, args.window)
    print_resume(results, trials)
    print_profile(profiles)
    m = machine()
    out = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cpus": m["cpus"], "python": m["python"]},
        "results": results,
        "profile": profiles,
    }
    print()
    write_json(out, args.json, indent=2)


if __name__ == "__main__":
    main()

"""Real studies for the dashboard tests: NB201 evolution (cache hits, lineage, audits) and a
two-objective study with intermediate values and pruned trials, run through `Study`."""

from __future__ import annotations

import math
import socket
import threading
import time

import pyglove as pg

from hashtune import FunctionEvaluator, Study
from hashtune.spaces.base import Space

NB201 = "nb201 <script>alert(1)</script>"  # a hostile name: pages must show it as text
MULTI = "two-objectives"


def nb201_study(url: str, trials: int = 40, name: str = NB201) -> Study:
    """Regularized evolution on NB201 cells scored from the shipped real table (which reports
    each evaluation's simulated GPU cost), audits on."""
    study = Study.create(
        name,
        space="nas_bench_201",
        evaluator="nas_bench_201_tabular",
        searcher="regularized_evolution",
        searcher_args={"population_size": 10, "tournament_size": 3},
        storage=url,
        cache={"audit_fraction": 0.5},
        seed=0,
        load_if_exists=True,
    )
    study.enqueue(_first_cell())
    if trials:
        study.optimize(n_trials=trials)
    return study


def _first_cell():
    from hashtune.spaces.nas_bench_201 import cell_from_string

    return cell_from_string("|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|")


def curve_score(candidate, context) -> tuple[float, float]:
    """Two objectives of (x, `<script>` param); reports 4 steps, pruned when x is 0."""
    x, w = float(candidate["x"]), float(candidate["<script>"])
    for step in range(4):
        context.report(step, x * (step + 1) + w)
    if x == 0:
        from hashtune.evaluators.base import TrialPruned

        raise TrialPruned("pruned for the test")
    return (x - 2.0) ** 2 + w, math.sqrt(x) + 0.1 * w


def multi_study(url: str, trials: int = 24) -> Study:
    """Random search on a small space with a parameter named `<script>`, two objectives."""
    space = Space(
        pg.Dict(x=pg.oneof([0, 1, 2, 3, 4]), **{"<script>": pg.oneof([0, 1, 2])}), name="xy"
    )
    study = Study.create(
        MULTI,
        space=space,
        evaluator=FunctionEvaluator(curve_score, objectives=("loss", "gain")),
        searcher="random",
        directions=["minimize", "maximize"],
        storage=url,
        seed=1,
    )
    study.optimize(n_trials=trials)
    return study


def three_objective_study(url: str, trials: int = 30) -> Study:
    """Random search with three objectives (its Pareto front is drawn in 3-D)."""
    space = Space(pg.Dict(a=pg.oneof([0, 1, 2, 3]), b=pg.oneof([0, 1, 2, 3])), name="abc")
    study = Study.create(
        "three-objectives",
        space=space,
        evaluator=FunctionEvaluator(
            lambda c: (c["a"], c["b"], 6 - c["a"] - c["b"] + (c["a"] * c["b"]) % 3),
            objectives=("a", "b", "c"),
        ),
        searcher="random",
        directions=["minimize", "minimize", "minimize"],
        storage=url,
        seed=2,
    )
    study.optimize(n_trials=trials)
    return study


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The dashboard app on uvicorn in a thread, on a free port (stopped by `stop`)."""

    def __init__(self, url: str, port: int | None = None, prime: bool = True):
        import uvicorn

        from hashtune.dashboard import create_app

        self.port = port or free_port()
        self.app = create_app(url, prime=prime)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("dashboard server did not start")
            time.sleep(0.05)

    def wait_warm(self, timeout: float = 120.0) -> None:
        """Until the app's background imports are done (a started server, nothing memoised)."""
        if not self.app.state.warmed.wait(timeout):
            raise RuntimeError("dashboard imports did not finish")

    def wait_primed(self, timeout: float = 300.0) -> float:
        """Until the start-up priming of the views is done; seconds waited."""
        t = time.perf_counter()
        if not self.app.state.primed.wait(timeout):
            raise RuntimeError("dashboard priming did not finish")
        return time.perf_counter() - t

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

"""The dashboard web app: pages (Jinja2, autoescaped), the JSON API, Plotly from its package.

Read-only by construction: the store is only queried, and every method but GET/HEAD answers 405.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import plotly
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hashtune.dashboard import candidates, views
from hashtune.dashboard.api import router
from hashtune.dashboard.memo import Memo
from hashtune.store import Store
from hashtune.store.engine import safe_url
from hashtune.vocabulary import TrialState

HERE = Path(__file__).resolve().parent
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
#: plotly.js's own "basic" partial bundle (scatter, bar; npm plotly.js-basic-dist-min, MIT), the
#: same plotly.js version as the plotly package's: a quarter of the full bundle to fetch and compile.
PLOTLY_BASIC_JS = HERE / "static" / "vendor" / "plotly-basic.min.js"
BASIC, FULL = "/plotly-basic.min.js", "/plotly.min.js"
READ_METHODS = ("GET", "HEAD")
log = logging.getLogger(__name__)


def create_app(storage: str | Store, *, prime: bool = True) -> FastAPI:
    """The dashboard over `storage` (a URL or an open Store); `prime`: compute the recent
    studies' views in the background at start-up (`app.state.primed` is set when done)."""
    store = storage if isinstance(storage, Store) else Store(storage)
    app = FastAPI(title="hashtune dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.memo = Memo()
    templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescape on for .html

    @app.middleware("http")
    async def read_only(request: Request, call_next):
        if request.method not in READ_METHODS:
            return PlainTextResponse(
                "the dashboard is read-only", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        return await call_next(request)

    app.include_router(router, prefix="/api")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get(FULL, include_in_schema=False)
    def plotly_js() -> Response:
        return _script(PLOTLY_JS)

    @app.get(BASIC, include_in_schema=False)
    def plotly_basic_js() -> Response:
        return _script(PLOTLY_BASIC_JS)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    def page(request: Request, name: str, plotly_src: str = BASIC, **context) -> HTMLResponse:
        context = {"states": list(TrialState), "plotly_src": plotly_src} | context
        return templates.TemplateResponse(request, name, context)

    @app.get("/", response_class=HTMLResponse)
    def studies_page(request: Request) -> HTMLResponse:
        return page(request, "studies.html", url=safe_url(store.url))

    @app.get("/studies/{study_id}", response_class=HTMLResponse)
    def study_page(request: Request, study_id: int) -> HTMLResponse:
        study = _study(store, study_id)
        three_d = (
            len(study.directions) == 3
        )  # its 3-D Pareto front (scatter3d) needs the full bundle
        return page(request, "study.html", FULL if three_d else BASIC, study=study)

    @app.get("/studies/{study_id}/hashing", response_class=HTMLResponse)
    def hashing_page(request: Request, study_id: int) -> HTMLResponse:
        return page(request, "hashing.html", study=_study(store, study_id))

    @app.get("/trials/{trial_id}", response_class=HTMLResponse)
    def trial_page(request: Request, trial_id: int) -> HTMLResponse:
        from hashtune.store import TrialNotFoundError

        try:
            trial = store.trials.get(trial_id)
        except TrialNotFoundError as e:
            raise HTTPException(404, str(e)) from e
        return page(request, "trial.html", trial=trial, study=_study(store, trial.study_id))

    app.state.warmed = threading.Event()  # set once the background imports are done
    app.state.primed = threading.Event()  # ... and the recent studies' views are memoised
    threading.Thread(
        target=_start_up, args=(app, prime), daemon=True, name="dashboard-warm"
    ).start()
    return app


def _script(path: Path) -> Response:
    """A Plotly bundle, cached a day without revalidation: a reopened page reuses its compiled code."""
    return FileResponse(
        path,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _study(store: Store, study_id: int):
    record = store.studies.by_id(study_id)
    if record is None:
        raise HTTPException(404, f"no study with id {study_id}")
    return record


def _start_up(app: FastAPI, prime: bool) -> None:
    """Import the spaces (and sklearn), then prime the memo: a first visit is served from memory."""
    try:
        import sklearn.ensemble  # noqa: F401

        candidates.warm()
    finally:
        app.state.warmed.set()
    try:
        if prime:
            views.prime(app.state.store, app.state.memo)
    except Exception:  # a view that fails here fails again, visibly, when a page asks for it
        log.exception("priming the dashboard's views failed")
    finally:
        app.state.primed.set()


def serve(storage: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the dashboard with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(storage), host=host, port=port, log_level="warning")

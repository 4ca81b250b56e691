"""The FastAPI app: the page, its scripts (plotly.js from the plotly package: no CDN), and the charts as JSON.

Endpoints:
  GET /                      the dashboard page
  GET /api/charts            {"generated_at", "charts": {name: figure}} for every chart
  GET /api/charts/{name}     one chart's figure ({"data", "layout"}, as plotly.js takes it)
  GET /api/freshness         {"generated_at", "rows": [...]}: lake loads and the newest real-time data
  GET /healthz               {"status": "ok"}
  GET /assets/plotly.min.js, /assets/dashboard.js
  GET /favicon.ico           the page's icon (an SVG), so a browser's own request for it succeeds
Handlers are plain functions, so FastAPI runs their blocking reads in its thread pool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from services.dashboard import page, queries
from services.dashboard.panels import BY_NAME, PANELS
from services.platform.settings import Settings

SCRIPT = Path(__file__).resolve().parent / "dashboard.js"  # package data (pyproject: "*.js")
NO_CACHE = {"Cache-Control": "no-store"}
# Three bars rising: the page's icon, served where every browser asks for one unprompted.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1f4e79"/>'
    '<rect x="3" y="9" width="2" height="4" fill="#fff"/><rect x="7" y="6" width="2" height="7" fill="#fff"/>'
    '<rect x="11" y="3" width="2" height="10" fill="#fff"/></svg>'
)


def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the plotly Python package (the version plotly.py was built for)."""
    path = Path(str(files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(f"plotly.js is missing from the plotly package ({path})")
    return path


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _json(content: dict[str, Any]) -> JSONResponse:
    """Already JSON-ready (figures come from plotly's own encoder): skip FastAPI's re-encoding."""
    return JSONResponse(content, headers=NO_CACHE)


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="Pipeline sandbox dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    plotly_path = plotly_js()
    # dbt's documentation site, once a flow (or `sandbox docs`) has generated it.
    app.mount("/dbt-docs", StaticFiles(directory=settings.home / "dbt" / "target", html=True, check_dir=False))

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page.render(settings), headers=NO_CACHE)

    @app.get("/assets/plotly.min.js")
    def plotly_bundle() -> FileResponse:
        return FileResponse(plotly_path, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/assets/dashboard.js")
    def dashboard_js() -> FileResponse:
        return FileResponse(SCRIPT, media_type="text/javascript", headers=NO_CACHE)

    @app.get("/api/charts")
    def all_charts() -> JSONResponse:
        catalog = queries.open_catalog(settings)
        charts = {panel.name: panel.build(settings, catalog) for panel in PANELS}
        return _json({"generated_at": _now(), "charts": charts})

    @app.get("/api/charts/{name}")
    def one_chart(name: str) -> JSONResponse:
        panel = BY_NAME.get(name)
        if panel is None:
            raise HTTPException(404, f"no chart {name!r}; charts: {', '.join(BY_NAME)}")
        return _json(panel.build(settings, None))

    @app.get("/api/freshness")
    def freshness() -> JSONResponse:
        rows = queries.freshness(settings).rows
        return _json(
            {"generated_at": _now(), "rows": [{key: queries.isoformat(v) for key, v in row.items()} for row in rows]}
        )

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

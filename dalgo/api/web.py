"""The dashboard's static files (the build of `web/`, in `web/dist/`) served at `/` by the API.

The hashed files under `/assets/` are served as they are and cached for good; any other GET
outside `/api` and the API's docs answers a file of the build's top folder when one has that
name, else `index.html`, so the dashboard's own routes (`/invitations/accept?code=...`,
`/reset-password?code=...`, `/orgs/<org>/runs/<id>`: the links in the platform's mails) load the
app, which then draws the page. The catch-all is a GET route registered after every API route,
so a wrong method on an API path still answers 405 and an unknown API path a JSON 404.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

WEB_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"
"""Where `npm run build` (`make web`) puts the dashboard."""

NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Dalgo</title></head>
<body><h1>Dalgo</h1><p>The dashboard is not built on this server: run <code>make web</code>
(or <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>) and restart.
The API is under <a href="/docs">/docs</a>.</p></body></html>"""

_NOT_THE_APP = frozenset({"api", "assets", "docs", "redoc", "openapi.json"})
_REVALIDATE = {"Cache-Control": "no-cache"}


class _ImmutableFiles(StaticFiles):
    """The build's hashed assets: a changed file gets a new name, so they are cached for good."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def mount_dashboard(app: FastAPI, dist: Path = WEB_DIST) -> None:
    """Serve the built dashboard at `/`; call it after every API route is included. Without a
    build, the app's pages answer 503 with a sentence saying how to make one."""
    built = (dist / "index.html").is_file()
    if built and (dist / "assets").is_dir():
        app.mount("/assets", _ImmutableFiles(directory=dist / "assets"), name="dashboard-assets")
    top_files = {p.name for p in dist.iterdir() if p.is_file()} if built else set()

    @app.get("/{path:path}", include_in_schema=False)
    async def dashboard(path: str) -> Response:
        """A file of the build's top folder, or the app's page for any of its own addresses."""
        if path.split("/", 1)[0] in _NOT_THE_APP:
            raise HTTPException(status_code=404)
        if not built:
            return HTMLResponse(NOT_BUILT, status_code=503)
        name = path if path in top_files else "index.html"
        return FileResponse(dist / name, headers=_REVALIDATE)

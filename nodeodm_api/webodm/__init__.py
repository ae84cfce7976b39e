"""WebODM's Task API under `/api/`, and a map page at `/` and `/map`, on the node's server.

    webodm = WebODM(data_dir)            # opened and closed by the app's lifespan
    app = Starlette(routes=[*webodm_routes(), ...])
    app.state.webodm = webodm
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from . import auth, imports, nodes, page, projects, tasks, tiles, uploads
from .common import Endpoint, api
from .service import Processor, WebODM

__all__ = ["Processor", "WebODM", "webodm_routes"]

_TASK = "/api/projects/{project_id}/tasks/{task_id}"
_ALL = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def webodm_routes() -> list[BaseRoute]:
    def route(path: str, endpoint: Endpoint) -> Route:
        # Every method reaches the endpoint, which answers DRF's 405 itself.
        return Route(path, endpoint, methods=_ALL)

    return [
        route("/api/token-auth/", auth.token_auth),
        route("/api/processingnodes/", nodes.collection),
        route("/api/processingnodes/options/", nodes.options),
        route("/api/processingnodes/{node_id}/", nodes.detail),
        route("/api/projects/", projects.collection),
        route("/api/projects/{project_id}/", projects.detail),
        route("/api/projects/{project_id}/tasks/", api({"GET": tasks.list_tasks, "POST": uploads.create})),
        route("/api/projects/{project_id}/tasks/import", imports.import_task),
        route(f"{_TASK}/", tasks.detail),
        route(f"{_TASK}/upload/", uploads.upload),
        route(f"{_TASK}/commit/", uploads.commit),
        route(f"{_TASK}/cancel/", tasks.cancel),
        route(f"{_TASK}/restart/", tasks.restart),
        route(f"{_TASK}/remove/", tasks.remove),
        route(f"{_TASK}/output/", tasks.output),
        route(f"{_TASK}/download/{{asset}}", tasks.download),
        route(f"{_TASK}/assets/{{path:path}}", tasks.asset),
        route(f"{_TASK}/{{kind}}/tiles.json", tiles.tilejson),
        route(f"{_TASK}/{{kind}}/bounds", tiles.bounds),
        route(f"{_TASK}/{{kind}}/metadata", tiles.metadata),
        route(f"{_TASK}/{{kind}}/tiles/{{z:int}}/{{x:int}}/{{y}}", tiles.tile),
        Route("/", page.map_page, methods=["GET", "HEAD"]),
        Route("/map", page.map_page, methods=["GET", "HEAD"]),
        Mount(page.STATIC_URL, app=page.static_files, name="webodm-static"),
    ]

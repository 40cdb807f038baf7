"""A loopback stand-in for a Supabase project's HTTP API, for the tests: the parts of Auth
(GoTrue, ``/auth/v1``), REST (PostgREST, ``/rest/v1``) and Storage (``/storage/v1``) that
the app's Supabase adapter uses, over real HTTP, with the data in a real PostgreSQL that
has the project's migrations and Row Level Security applied. What Supabase would refuse,
this refuses, because the same policies decide.

    with SupabaseStandin(database_url) as supabase:
        supabase.url, supabase.project.publishable_key, supabase.project.secret_key
"""
from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .auth_api import AuthApi
from .project import Project
from .rest_api import RestApi
from .storage_api import StorageApi


class SupabaseStandin:
    def __init__(self, database_url: str) -> None:
        self.project = Project(database_url)
        self.auth = AuthApi(self.project)
        self.apis = {"/auth/v1": self.auth, "/rest/v1": RestApi(self.project),
                     "/storage/v1": StorageApi(self.project)}

    def __call__(self, environ, start_response):
        request = Request(environ)
        for prefix, api in self.apis.items():
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return api(environ, start_response)
        return Response("not found", status=404)(environ, start_response)

    def __enter__(self) -> SupabaseStandin:
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.project.site_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._thread.join()


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args) -> None:
        pass  # a line per request would bury the tests' own output

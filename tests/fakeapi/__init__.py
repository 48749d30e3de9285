"""An in-process stand-in for the GitHub and Databricks REST APIs, used only to COMPOSE cassettes.

No real workspace or GitHub org can be reached from here, so our cassettes are composed: the
real client libraries (PyGithub, databricks-sdk) run against this fake, which answers from a
small stateful model written from the public API references, and every exchange is written to
the test's cassette in vcrpy's format. A normal test run never touches this module's handlers:
it replays the cassette with vcrpy (``record_mode=none``, network blocked).

* ``pytest --compose`` (see ``tests/conftest.py``): rebuild the cassettes from this fake.
* ``pytest --record-mode=rewrite`` with real credentials: record them from a real sandbox.

The fake sits where vcrpy sits, below urllib3's retry loop (``HTTPConnectionPool._make_request``),
so a composed 429/503 exercises the clients' own retries exactly as a replay will.

GitHub is served at the API root of ``world.github_host`` (:mod:`mlops_setup.ghhost`):
``https://api.github.com`` by default; a GitHub Enterprise Server host (``ghe.example.com``)
gets the same handlers under ``https://HOST/api/v3``, a GHE.com tenant under
``https://api.TENANT.ghe.com``. The handlers build bodies with github.com's URLs
(``tests/github_samples.py``); for another host the answer's URLs are rewritten to that host's,
as such a server writes them (API root, web, git, uploads and avatars), so PyGithub's check that
every URL belongs to its base URL holds and the cassette says what that server would say.

Handlers live in the modules of this package by API area (``github_repos``, ``databricks_iam``,
...). Each registers routes with :func:`route` and keeps its state in ``world.gh`` (GitHub) or
``world.db`` (Databricks), plain dicts described in that module's docstring. Every composed
body must pass ``tests/conformance.py`` (GitHub's OpenAPI schema, the SDK's dataclasses).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB_HOSTS = ("api.github.com",)
GRAPH_HOSTS = ("graph.microsoft.com",)
# Request headers worth keeping in a cassette; the rest (User-Agent with the machine's versions,
# auth) would only make cassettes differ between machines.
KEPT_HEADERS = ("accept", "content-type")
NOW = "2026-03-02T09:00:00Z"
NOW_EPOCH = 1772442000  # NOW as seconds since the epoch


@dataclass
class Request:
    method: str
    uri: str
    host: str
    path: str
    query: dict[str, str]
    body: bytes | None
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    """The fake's state: ``gh`` for GitHub, ``db`` for Databricks, ``now`` for timestamps."""

    gh: dict[str, Any] = field(default_factory=dict)
    db: dict[str, Any] = field(default_factory=dict)
    graph: dict[str, Any] = field(default_factory=dict)  # Microsoft Graph (Entra ID)
    now: str = NOW
    # Which GitHub the fake serves (github.host): github.com, a GHES host, a GHE.com tenant.
    github_host: str = "github.com"
    # (method, path regex) -> list of canned replies served first, in order (faults, delays).
    queued: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    # Server-side git changes made so far (see mlops_setup.replay.server_git); the FakeAPI
    # sets ``requests_seen`` so each effect records which interaction caused it.
    effects: list[dict[str, Any]] = field(default_factory=list)
    requests_seen: int = 0

    def server_git(self, op: str, **args: Any) -> dict[str, Any]:
        """Change the bare repo standing in for GitHub's copy (``gh["git_dir"]``), and note it
        so that replays make the same change after the same interaction."""
        from mlops_setup.replay import server_git

        result = server_git(str(self.gh["git_dir"]), op, args)
        self.effects.append({"after": self.requests_seen, "op": op, "args": args})
        return result

    def queue(self, method: str, path_regex: str, *replies: Reply) -> None:
        """Serve ``replies`` (in order) to the next matching requests, before the model does."""
        self.queued.setdefault((method, path_regex), []).extend(replies)


Handler = Callable[[World, Request], Reply]
ROUTES: list[tuple[str, str, re.Pattern[str], Handler]] = []


def route(method: str, api: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method`` on ``pattern`` (a path regex) of ``api``."""

    def register(handler: Handler) -> Handler:
        ROUTES.append((method, api, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


def _load_handlers() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def github_error(status: int, message: str, **extra: Any) -> Reply:
    doc = "https://docs.github.com/rest"
    return Reply(status, {"message": message, "documentation_url": doc, **extra})


def databricks_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error_code": code, "message": message})


def graph_error(status: int, code: str, message: str) -> Reply:
    """Microsoft Graph's error shape (``error.code``, ``error.message``, ``innerError``)."""
    inner = {"date": NOW.rstrip("Z"), "request-id": "0f1e2d3c-0000-4000-8000-000000000000"}
    return Reply(status, {"error": {"code": code, "message": message, "innerError": inner}})


def scim_error(status: int, detail: str) -> Reply:
    return Reply(
        status,
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "detail": detail,
            "status": str(status),
        },
    )


def _on_host(reply: Reply, host: str) -> Reply:
    """``reply`` as GitHub at ``host`` writes it: github.com's URLs turned into that host's
    (a copy; the world's state keeps its own)."""
    from mlops_setup import ghhost

    web = ghhost.web_url(host)
    swaps = (
        ("https://api.github.com", ghhost.api_url(host)),
        ("https://uploads.github.com", ghhost.uploads_url(host)),
        ("https://avatars.githubusercontent.com/", f"{web}/avatars/"),
        ("https://github.com", web),
        ("git@github.com:", f"git@{ghhost.normalize(host)}:"),
        ("git://github.com/", f"git://{ghhost.normalize(host)}/"),
    )

    def swap(text: str) -> str:
        for old, new in swaps:
            text = text.replace(old, new)
        return text

    body = reply.body
    if body is not None:
        body = json.loads(swap(json.dumps(body)))
    headers = {k: swap(v) for k, v in reply.headers.items()}
    return Reply(reply.status, body, headers)


def _canonical_repo(world: World, params: dict[str, str]) -> None:
    """GitHub matches ``/repos/{owner}/{repo}`` case-insensitively and answers with the repo's
    own spelling (``full_name``): a path naming a known repo in other case is served as it."""
    if "owner" not in params or "repo" not in params:
        return
    wanted = f"{params['owner']}/{params['repo']}".lower()
    for name in world.gh.get("repos") or {}:
        if name.lower() == wanted:
            params["owner"], params["repo"] = name.split("/", 1)
            return


class FakeAPI:
    """Answers requests from the model and keeps the exchanges for the cassette."""

    def __init__(self, world: World | None = None) -> None:
        _load_handlers()
        self.world = world or World()
        self.interactions: list[tuple[dict, dict]] = []

    def handle(self, method: str, uri: str, body: Any, headers: dict[str, str]) -> Reply:
        parts = urlsplit(uri)
        raw = body.encode() if isinstance(body, str) else body
        if hasattr(raw, "read"):
            raw = raw.read()
        req = Request(
            method=method,
            uri=uri,
            host=parts.hostname or "",
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            body=raw or None,
            headers=dict(headers or {}),
        )
        api = "github" if self._github_path(req) else "databricks"
        if req.host in GRAPH_HOSTS:
            api = "graph"
        reply = self._answer(api, method, req)
        if api == "github" and self.world.github_host != "github.com":
            return _on_host(reply, self.world.github_host)
        return reply

    def _github_path(self, req: Request) -> bool:
        """Is ``req`` for the GitHub API this world serves? Then ``req.path`` becomes the API
        path (``/repos/...``), without the root's own path (``/api/v3`` on a server)."""
        from mlops_setup import ghhost

        root = urlsplit(ghhost.api_url(self.world.github_host))
        if req.host != root.hostname:
            return req.host in GITHUB_HOSTS and self.world.github_host == "github.com"
        if root.path and not (req.path == root.path or req.path.startswith(root.path + "/")):
            return False
        req.path = req.path[len(root.path) :] or "/"
        return True

    def _answer(self, api: str, method: str, req: Request) -> Reply:
        for (q_method, q_regex), replies in self.world.queued.items():
            if q_method == method and replies and re.fullmatch(q_regex, req.path):
                return replies.pop(0)
        for r_method, r_api, pattern, handler in ROUTES:
            if r_method != method or r_api != api:
                continue
            match = pattern.match(req.path)
            if match:
                req.params = match.groupdict()
                _canonical_repo(self.world, req.params)
                return handler(self.world, req)
        if api == "github":
            return github_error(404, "Not Found")
        if api == "graph":
            return graph_error(404, "Request_ResourceNotFound", f"No route {method} {req.path}")
        return databricks_error(
            404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {req.path}'"
        )

    # ------------------------------------------------------------------ urllib3-level hook
    def make_request(
        self,
        pool: Any,
        conn: Any,
        method: str,
        url: str,
        body: Any = None,
        headers: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Replacement for ``HTTPConnectionPool._make_request``: answer from the model."""
        from urllib3.response import HTTPResponse

        default_port = {"https": 443, "http": 80}[pool.scheme]
        netloc = pool.host if pool.port in (None, default_port) else f"{pool.host}:{pool.port}"
        uri = f"{pool.scheme}://{netloc}{url}"
        if hasattr(body, "read"):
            body = body.read()
        self.world.requests_seen = len(self.interactions) + 1
        reply = self.handle(method, uri, body, dict(headers or {}))
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        out_headers = {"Content-Type": "application/json; charset=utf-8"} if payload else {}
        out_headers.update(reply.headers)
        self.interactions.append(
            (
                {"method": method, "uri": uri, "body": body, "headers": dict(headers or {})},
                {
                    "status": {"code": reply.status, "message": HTTPStatus(reply.status).phrase},
                    "headers": {k: [v] for k, v in out_headers.items()},
                    "body": {"string": payload.decode()},
                },
            )
        )
        return HTTPResponse(
            body=io.BytesIO(payload),
            headers=out_headers,
            status=reply.status,
            reason=HTTPStatus(reply.status).phrase,
            preload_content=kwargs.get("preload_content", True),
            decode_content=kwargs.get("decode_content", True),
            request_method=method,
            request_url=uri,
            enforce_content_length=True,
        )

    @contextlib.contextmanager
    def serving(self) -> Iterator[FakeAPI]:
        """Answer every HTTP request of this process from the fake while inside the block."""
        import urllib3.connectionpool

        pool_class = urllib3.connectionpool.HTTPConnectionPool
        original = pool_class._make_request
        api = self

        def make_request(pool, conn, method, url, body=None, headers=None, **kwargs):
            return api.make_request(pool, conn, method, url, body, headers, **kwargs)

        pool_class._make_request = make_request
        try:
            yield self
        finally:
            pool_class._make_request = original

    def save(self, path: str) -> None:
        """Write the exchanges as a vcrpy cassette, scrubbed exactly as a real recording is."""
        from pathlib import Path

        from vcr.request import Request as VcrRequest
        from vcr.serialize import serialize
        from vcr.serializers import yamlserializer

        from mlops_setup import replay

        requests, responses = [], []
        for req, resp in self.interactions:
            body = req["body"]
            if isinstance(body, bytes):
                body = body.decode()
            headers = {k: v for k, v in req["headers"].items() if k.lower() in KEPT_HEADERS}
            vreq = VcrRequest(req["method"], req["uri"], replay.scrub_text(body), headers)
            requests.append(vreq)
            stored = json.loads(json.dumps(resp))
            stored["body"]["string"] = replay.scrub_text(stored["body"]["string"])
            responses.append(stored)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        text = serialize({"requests": requests, "responses": responses}, yamlserializer)
        Path(path).write_text(text, encoding="utf-8")
        side = Path(path.removesuffix(".yaml") + replay.EFFECTS_SUFFIX)
        if self.world.effects:
            import yaml

            side.write_text(yaml.safe_dump(self.world.effects, sort_keys=False), encoding="utf-8")
        else:
            side.unlink(missing_ok=True)

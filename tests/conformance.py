"""Conformance checks for composed vcrpy cassettes.

No real GitHub or Databricks server can be reached from here, so our cassettes are composed by
hand from the public API references and the client libraries' own request code. This module is
what keeps them honest. Every interaction in a cassette is mapped to the API operation it
exercises and checked against that operation's official contract:

GitHub (host ``api.github.com`` or a GHE.com tenant's ``api.TENANT.ghe.com``, or any path under
``/api/v3`` for GitHub Enterprise Server)
    The route table is built from githubkit's generated REST client for API version
    2022-11-28 (``githubkit_schemas.v2022_11_28.rest``): each method's docstring names the
    operation (``GET /repos/{owner}/{repo}``), and its body names the request-body model
    (``type_validate_python(Model, json)``), the success ``response_model=`` and the
    ``error_models={...}`` per status code. JSON bodies are validated with pydantic in strict
    mode (so ``"private": "yes"`` is not silently read as ``True``), and keys the schema does
    not know are reported too (a composed cassette has no excuse for them). 4xx/5xx bodies
    validate against the declared error model, else ``BasicError``. Query parameters must be
    ones the operation declares.

Databricks (every other host)
    The route table is built from databricks-sdk's generated service modules
    (``databricks/sdk/service/*.py``): each API method's ``self._api.do("GET", f"/api/...")``
    call, the dataclass its result goes through (``X.from_dict(res)``, or the items of a paged
    list), the keys it puts in ``body[...]`` and ``query[...]``. A response body must
    round-trip through the SDK's own dataclass: ``X.from_dict(body).as_dict()`` keeps every
    key, recursively; on top, every key must be one ``from_dict`` reads, scalar values must
    have the annotated type and enum values must be members. Request bodies are checked the
    same way against the method's parameters. Errors must have the Databricks error shape
    (``error_code`` + ``message``; ``error_code`` a string, or the integer HTTP status as the
    API sends it for an invalid token), or the SCIM error shape on SCIM endpoints.

Both route tables are built by reading the generated source as text (no import, no ``ast``:
a few hundred milliseconds) and cached for the process. Nothing here touches the network.

Placeholder policy: the recording config replaces secrets with :data:`SCRUBBED`
(``"<scrubbed>"``), and a sealed-box ``encrypted_value`` with :data:`SEALED` (a fixed, valid
base64 sealed box), so every recorded body validates as it is: no placeholder is excused from
a schema's pattern. They are the only values :func:`scan_for_credentials` accepts for
credential-carrying fields and headers.

Public API: :func:`check_cassette`, :func:`check_interaction`, :func:`scan_for_credentials`,
:func:`github_routes`, :func:`databricks_routes`, :func:`match_github`,
:func:`match_databricks`, :func:`validate_github_json`, :func:`check_databricks_json`,
:data:`SCRUBBED`.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import gzip
import importlib
import importlib.util
import inspect
import itertools
import json
import marshal
import re
import typing
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "SCRUBBED",
    "DatabricksRoute",
    "GitHubRoute",
    "check_cassette",
    "check_databricks_json",
    "check_interaction",
    "databricks_routes",
    "github_routes",
    "match_databricks",
    "match_github",
    "scan_for_credentials",
    "validate_github_json",
]

from mlops_setup.replay import PLACEHOLDER as SCRUBBED  # one placeholder, shared with the recorder
from mlops_setup.replay import SEALED_PLACEHOLDER as SEALED  # encrypted_value's

"""The one placeholder the recording config writes in place of a secret value."""

_MISSING = object()


# --------------------------------------------------------------------------------------------
# Cassettes and interactions
# --------------------------------------------------------------------------------------------


def check_cassette(path: str | Path) -> list[str]:
    """Return every conformance problem in the vcrpy cassette at ``path`` (empty = conforms)."""
    import yaml

    path = Path(path)
    # libyaml's safe loader when PyYAML has it: the pure-Python one spent ~80% of this check's
    # time scanning the cassettes' long quoted bodies
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def parse(text: str) -> object:
        return yaml.load(text, Loader=loader)  # noqa: S506 (safe)

    try:
        text = path.read_text(encoding="utf-8")
        # the same parse of the same text, kept between runs (tests/parsecache.py)
        data = _parse_cache().load(text, parse, f"conformance-{loader.__name__}")
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [f"{path.name}: cannot read cassette: {exc}"]
    if not isinstance(data, dict):
        return [f"{path.name}: not a vcrpy cassette (top level is not a mapping)"]
    problems: list[str] = []
    if data.get("version") != 1:
        problems.append(f"{path.name}: cassette version is {data.get('version')!r}, expected 1")
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        return [*problems, f"{path.name}: 'interactions' is not a list"]
    for index, interaction in enumerate(interactions):
        if not isinstance(interaction, dict) or not {"request", "response"} <= interaction.keys():
            problems.append(f"interaction {index}: needs 'request' and 'response'")
            continue
        request, response = interaction["request"], interaction["response"]
        label = f"interaction {index} {request.get('method')} {request.get('uri')}"
        problems.extend(f"{label}: {p}" for p in _check_repeated(request, response))
    return problems


def _parse_cache():
    try:  # tests/ as a package or as a plain directory on sys.path
        from tests import parsecache
    except ImportError:  # pragma: no cover - depends on how pytest imports this module
        import parsecache
    return parsecache.cache()


_CHECKED: dict[bytes | str, tuple[str, ...]] = {}


def _check_repeated(request: Mapping, response: Mapping) -> tuple[str, ...]:
    """:func:`check_interaction`, once per distinct exchange in a process: the cassettes repeat
    the same exchanges (5,143 interactions, 734 distinct, when this was written). The key is
    the plain data's :mod:`marshal` serialization (~3x cheaper than its ``repr``): the same
    bytes decode to the same data of the same types, so equal keys are equal exchanges (equal
    data may serialize differently, which costs a second check, never a wrong answer). Data
    marshal cannot hold is keyed by its ``repr``, as before."""
    try:
        key: bytes | str = marshal.dumps((request, response))
    except ValueError:
        key = repr((request, response))
    if key not in _CHECKED:
        _CHECKED[key] = tuple(check_interaction(request, response))
    return _CHECKED[key]


def check_interaction(request: Mapping, response: Mapping) -> list[str]:
    """Check one vcrpy-serialized request/response pair against the API it talks to."""
    method = str(request.get("method", "")).upper()
    uri = str(request.get("uri", ""))
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    path = parts.path or "/"
    status = response.get("status", {})
    code = status.get("code") if isinstance(status, Mapping) else None
    if not method or not parts.scheme or not host:
        return [f"request needs a method and an absolute uri (got {method!r} {uri!r})"]
    if not isinstance(code, int):
        return [f"response status code missing or not an int: {status!r}"]
    if _is_git_smart_http(path, parts.query):
        return [f"git smart-HTTP request {method} {path} not expected (git runs on local repos)"]
    if path == "/api/v3" or path.startswith("/api/v3/"):  # GitHub Enterprise Server
        api_path = path[len("/api/v3") :] or "/"
        return _check_github(method, api_path, parts.query, request, response, code)
    if host == "api.github.com" or (host.startswith("api.") and host.endswith(".ghe.com")):
        return _check_github(method, path, parts.query, request, response, code)
    if host in {"github.com", "www.github.com", "uploads.github.com"}:
        return [f"unexpected GitHub web request {method} {path}"]
    if host == "graph.microsoft.com":
        return _check_graph(method, path, parts.query, request, response, code)
    return _check_databricks(method, path, parts.query, request, response, code)


def _check_graph(
    method: str, path: str, query: str, request: Mapping, response: Mapping, code: int
) -> list[str]:
    """Microsoft Graph: against the hand-written schema of :mod:`tests.graph_schema`."""
    from urllib.parse import parse_qs

    from tests import graph_schema

    where = f"{method} {path}"
    req_text, resp_text = _request_text(request), _response_text(response)
    req_json, problems = (None, []) if _is_empty(req_text) else _parse_json(req_text, "request")
    resp_json, more = (None, []) if _is_empty(resp_text) else _parse_json(resp_text, "response")
    found = graph_schema.check(method, path, parse_qs(query), req_json, code, resp_json)
    return [f"{where}: {p}" for p in [*problems, *more, *found]]


def _is_git_smart_http(path: str, query: str) -> bool:
    return (
        path.endswith(("/info/refs", "/git-upload-pack", "/git-receive-pack"))
        or "service=git-" in query
    )


def _request_text(request: Mapping) -> str | None:
    body = request.get("body")
    if isinstance(body, Mapping):  # some serializers nest it like the response
        body = body.get("string")
    return _decode(body, _headers(request).get("content-encoding"))


def _response_text(response: Mapping) -> str | None:
    body = response.get("body")
    if isinstance(body, Mapping):
        body = body.get("string")
    return _decode(body, _headers(response).get("content-encoding"))


def _decode(body: object, encoding: str | None) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        if encoding in {"gzip", "deflate"}:
            try:
                body = gzip.decompress(body) if encoding == "gzip" else zlib.decompress(body)
            except (OSError, zlib.error):
                return "<undecodable compressed body>"
        return body.decode("utf-8", errors="replace")
    return str(body)


def _headers(message: Mapping) -> dict[str, str]:
    """Lower-cased header name -> first value (vcrpy stores lists of values)."""
    out: dict[str, str] = {}
    for name, values in (message.get("headers") or {}).items():
        value = (values[0] if values else "") if isinstance(values, list) else values
        out[str(name).lower()] = str(value)
    return out


def _parse_json(text: str, what: str) -> tuple[object, list[str]]:
    try:
        return json.loads(text), []
    except ValueError as exc:
        return _MISSING, [f"{what} is not JSON ({exc}): {_short(text)}"]


def _short(value: object, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_empty(text: str | None) -> bool:
    return text is None or not text.strip()


# --------------------------------------------------------------------------------------------
# GitHub
# --------------------------------------------------------------------------------------------

_GH_PACKAGE = "githubkit_schemas.v2022_11_28"
# Success bodies the OpenAPI description documents but githubkit's client does not wire up
# (it keeps one response model per operation): the 200 of a dispatch with return_run_details.
_GH_RESPONSE_OVERRIDES = {
    ("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches"): (
        "WorkflowDispatchResponse"
    ),
}
# Path parameters that may legitimately carry slashes ("heads/main", "docs/a.md", "a...b").
_GH_SLASHY_PARAMS = frozenset({"ref", "path", "branch", "basehead"})


# (literal text before the first parameter, literal text after the last, the number of "/"
# in the literal text, whether a parameter may hold "/")
_Shape = tuple[str, str, int, bool]


@dataclass(frozen=True)
class GitHubRoute:
    """One GitHub REST operation, as githubkit's generated client declares it."""

    method: str
    template: str  # "/repos/{owner}/{repo}/actions/secrets/{secret_name}"
    operation: str  # "actions/create-or-update-repo-secret"
    function: str  # "actions.create_or_update_repo_secret"
    response_model: str | None  # type expression over githubkit models, e.g. "list[Label]"
    error_models: tuple[tuple[str, str], ...]  # (("404", "BasicError"), ...)
    body_model: str | None
    query_params: frozenset[str]
    regex: str = dataclasses.field(compare=False, repr=False)  # compiled by ``pattern``
    weight: tuple[int, int] = dataclasses.field(compare=False, repr=False)
    path_shape: _Shape = dataclasses.field(compare=False, repr=False)  # see _may_match

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.regex)


_GH_METHOD_RE = re.compile(
    r'\n    def (?P<func>\w+)\((?P<sig>.*?)"""(?P<op>[\w./-]+)\n\n\s+'
    r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD) (?P<path>/\S*)\n",
    re.S,
)


@functools.lru_cache(maxsize=1)
def github_routes() -> tuple[GitHubRoute, ...]:
    """Every GitHub REST operation of API 2022-11-28, read from githubkit's generated client."""
    rest_dir = _package_dir(_GH_PACKAGE) / "rest"
    routes: dict[tuple[str, str], GitHubRoute] = {}
    for source_file in sorted(rest_dir.glob("*.py")):
        if source_file.name.startswith("_"):
            continue
        src = source_file.read_text(encoding="utf-8")
        starts = [m.start() for m in re.finditer(r"\n    (?:async )?def \w+\(", src)]
        starts.append(len(src))
        for begin, end in itertools.pairwise(starts):
            chunk = src[begin:end]
            match = _GH_METHOD_RE.match(chunk)
            if match is None:  # async twins and @overload stubs
                continue
            method, template = match["method"], match["path"]
            if (method, template) in routes:
                continue
            routes[method, template] = GitHubRoute(
                method=method,
                template=template,
                operation=match["op"],
                function=f"{source_file.stem}.{match['func']}",
                response_model=_kwarg_expr(chunk, "response_model="),
                error_models=_error_models(chunk),
                body_model=_kwarg_expr(chunk, "type_validate_python("),
                query_params=_query_params(chunk),
                regex=_template_regex(template, _GH_SLASHY_PARAMS),
                weight=_template_weight(template),
                path_shape=_literal_shape(template, lambda p: p[1:-1] in _GH_SLASHY_PARAMS),
            )
    return tuple(routes.values())


def _package_dir(dotted: str) -> Path:
    """Where a package's source lives, found without importing it (databricks.sdk takes ~1 s)."""
    top, *rest = dotted.split(".")
    spec = importlib.util.find_spec(top)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location).joinpath(*rest)
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"{dotted} is not installed")


def _balanced(text: str, start: int) -> str:
    """The expression starting at ``text[start]`` up to the first top-level ``,`` or ``)``."""
    depth = 0
    for index in range(start, len(text)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return text[start:index].strip()
            depth -= 1
        elif char == "," and depth == 0:
            return text[start:index].strip()
    return text[start:].strip()


def _kwarg_expr(chunk: str, marker: str) -> str | None:
    index = chunk.find(marker)
    if index < 0:
        return None
    return " ".join(_balanced(chunk, index + len(marker)).split())


def _error_models(chunk: str) -> tuple[tuple[str, str], ...]:
    text = _kwarg_expr(chunk, "error_models=")
    if not text or not text.startswith("{"):
        return ()
    inner = text[1:-1]
    out = []
    position = 0
    while position < len(inner):
        match = re.compile(r'\s*"(\w+)":\s*').match(inner, position)
        if match is None:
            break
        expr = _balanced(inner, match.end())
        out.append((match[1], " ".join(expr.split())))
        position = match.end() + len(expr)
        while position < len(inner) and inner[position] in ", \n":
            position += 1
    return tuple(out)


def _query_params(chunk: str) -> frozenset[str]:
    match = re.search(r"\n\s+params = \{(.*?)\n\s+\}", chunk, re.S)
    if match is None:
        return frozenset()
    return frozenset(re.findall(r'"([^"]+)":', match[1]))


def _template_regex(template: str, slashy: Iterable[str] = ()) -> str:
    slashy = frozenset(slashy)
    out = []
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            out.append(".+" if name in slashy else "[^/]+")
        else:
            out.append(re.escape(piece))
    return "".join(out)


@functools.cache
def _compiled(regex: str) -> re.Pattern[str]:
    """A route's pattern, compiled when a path first gets as far as trying it: compiling all
    ~2,600 up front was ~0.3 s of CPU a process, and a run tries a few hundred."""
    return re.compile(regex)


def _literal_shape(template: str, multi_segment: typing.Callable[[str], bool]) -> _Shape:
    pieces = re.split(r"(\{[^}]+\})", template)
    literals = pieces[0::2]
    slashes = sum(literal.count("/") for literal in literals)
    return literals[0], literals[-1], slashes, any(map(multi_segment, pieces[1::2]))


def _may_match(shape: _Shape, path: str) -> bool:
    """False when a route of this shape cannot match ``path``: its pattern is the literal text
    escaped and ``[^/]+`` (or ``.+``) per parameter, so a match starts and ends with the
    literal ends and holds exactly the literal "/" (at least, with a ``.+``). Only the routes
    this leaves (a handful of ~1,200) are compiled and tried."""
    prefix, suffix, slashes, multi = shape
    if not (path.startswith(prefix) and path.endswith(suffix)):
        return False
    count = path.count("/")
    return count >= slashes if multi else count == slashes


def _template_weight(template: str) -> tuple[int, int]:
    """Prefer templates with more literal segments, then more literal characters."""
    segments = [s for s in template.split("/") if s]
    literal = [s for s in segments if "{" not in s]
    return len(literal), sum(len(s) for s in literal)


def match_github(method: str, path: str) -> GitHubRoute | None:
    """The GitHub operation for ``method`` + API ``path`` (no host, no /api/v3, no query)."""
    return _match_github(method.upper(), path)


@functools.lru_cache(maxsize=512)
def _match_github(method: str, path: str) -> GitHubRoute | None:
    candidates = _matching(_github_by_method(), method, path)
    return max(candidates, key=lambda r: r.weight, default=None)


@functools.lru_cache(maxsize=1)
def _github_by_method() -> _RouteIndex:
    return _route_index(github_routes())


# method -> number of "/" in a route's literal text (None: a parameter may hold "/") ->
# (position in the route table, route)
_RouteIndex = dict[str, dict[int | None, list[tuple[int, typing.Any]]]]


def _route_index(routes: Iterable[GitHubRoute | DatabricksRoute]) -> _RouteIndex:
    table: _RouteIndex = {}
    for position, route in enumerate(routes):
        _, _, slashes, multi = route.path_shape
        by_slashes = table.setdefault(route.method, {})
        by_slashes.setdefault(None if multi else slashes, []).append((position, route))
    return table


def _matching(table: _RouteIndex, method: str, path: str) -> list:
    """The routes of ``method`` whose pattern matches ``path``, in route-table order (the
    callers' ties go to the first). Only routes with as many "/" as the path, or a parameter
    that may hold "/", are looked at; of those, only the ones :func:`_may_match` leaves are
    compiled and tried."""
    by_slashes = table.get(method)
    if not by_slashes:
        return []
    pairs = by_slashes.get(path.count("/"), []) + by_slashes.get(None, [])
    pairs.sort(key=lambda pair: pair[0])
    return [r for _, r in pairs if _may_match(r.path_shape, path) and r.pattern.fullmatch(path)]


class _ModelNamespace(dict):
    """Names in githubkit type expressions, resolved lazily against the models package."""

    def __missing__(self, key: str) -> object:
        models = importlib.import_module(f"{_GH_PACKAGE}.models")
        try:
            value = getattr(models, key)
        except AttributeError:
            raise KeyError(key) from None
        self[key] = value
        return value


@functools.cache
def _github_adapter(expression: str):
    """A pydantic TypeAdapter for a githubkit type expression like ``list[Label]``."""
    import datetime

    from pydantic import TypeAdapter

    namespace = _ModelNamespace(
        list=list,
        dict=dict,
        str=str,
        int=int,
        float=float,
        bool=bool,
        Any=typing.Any,
        Union=typing.Union,
        Literal=typing.Literal,
        _dt=datetime,
    )
    # The expression comes from githubkit's own generated source, never from a cassette.
    type_ = eval(expression, {"__builtins__": {}}, namespace)  # noqa: S307
    return TypeAdapter(type_)


def validate_github_json(expression: str, text: str, *, where: str = "body") -> list[str]:
    """Validate JSON ``text`` against githubkit type ``expression``; report unknown keys too."""
    from pydantic import ValidationError

    document, problems = _parse_json(text, where)
    if problems:
        return problems
    adapter = _github_adapter(expression)
    try:
        value = adapter.validate_json(text, strict=True)
    except ValidationError as exc:
        problems = [
            f"{where} does not match {expression}: {_loc(error['loc'])}: {error['msg']}"
            + ("" if error["type"] == "missing" else f" (got {_short(error.get('input'), 60)})")
            for error in exc.errors(include_url=False)
            if not _unset_branch(error)
        ]
        if problems:
            return problems
        try:  # only the UNSET branches complained: build the model for the key check
            value = adapter.validate_python(document)
        except ValidationError:
            return []
    return [f"{where}: {p}" for p in _github_unknown_keys(value, document, "$")]


def _loc(loc: Iterable[object]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _unset_branch(error: Mapping) -> bool:
    """githubkit's optional fields are ``Union[Literal[UNSET], T, None]``: the UNSET branch's
    complaint only repeats what the ``T`` branch says."""
    return any(str(part).startswith("literal[<UNSET>") for part in error.get("loc", ()))


def _github_unknown_keys(value: object, document: object, where: str) -> list[str]:
    from pydantic import BaseModel

    problems: list[str] = []
    if isinstance(value, BaseModel) and isinstance(document, dict):
        model = type(value)
        fields, allow_extra = _model_keys(model)
        for key, item in document.items():
            name = fields.get(key)
            if name is None:
                if not allow_extra:
                    problems.append(f"{where}.{key}: key not in schema {model.__name__}")
                continue
            if isinstance(item, dict | list):  # a scalar holds no keys
                problems.extend(_github_unknown_keys(getattr(value, name), item, f"{where}.{key}"))
    elif isinstance(value, list) and isinstance(document, list):
        for index, (v, d) in enumerate(zip(value, document, strict=False)):
            if isinstance(d, dict | list):
                problems.extend(_github_unknown_keys(v, d, f"{where}[{index}]"))
    elif isinstance(value, dict) and isinstance(document, dict):
        for key, item in document.items():
            if key in value and isinstance(item, dict | list):
                problems.extend(_github_unknown_keys(value[key], item, f"{where}.{key}"))
    return problems


@functools.cache
def _model_keys(model: type) -> tuple[dict[str, str], bool]:
    """A githubkit model's JSON keys (aliases and field names) -> field name, and whether it
    allows keys it does not declare: once a model, not once a validated object."""
    fields = {(f.alias or n): n for n, f in model.model_fields.items()}
    fields.update({n: n for n in model.model_fields})
    return fields, model.model_config.get("extra") == "allow"


def _check_github(
    method: str, path: str, query: str, request: Mapping, response: Mapping, code: int
) -> list[str]:
    route = match_github(method, path)
    if route is None:
        return [f"unmapped GitHub operation {method} {path}"]
    name = f"GitHub {route.operation} ({method} {route.template})"
    problems: list[str] = []

    unknown_query = sorted({k for k, _ in parse_qsl(query)} - route.query_params)
    if unknown_query:
        problems.append(f"{name}: query parameters not in the operation: {unknown_query}")

    request_text = _request_text(request)
    if not _is_empty(request_text):
        if route.body_model:
            problems += [
                f"{name}: {p}"
                for p in validate_github_json(route.body_model, request_text, where="request body")
            ]
        elif request_text.strip() != "{}":
            problems.append(f"{name}: operation takes no request body, got {_short(request_text)}")
    elif route.body_model and method in {"POST", "PUT", "PATCH"}:
        missing = validate_github_json(route.body_model, "{}", where="missing request body")
        problems += [f"{name}: {p}" for p in missing]

    text = _response_text(response)
    if 300 <= code < 400:
        return problems  # redirects (log downloads, renamed repos) and 304 carry no model
    if code >= 400:
        declared = dict(route.error_models)
        if _is_empty(text):
            if str(code) in declared:
                problems.append(f"{name}: status {code} needs a {declared[str(code)]} body")
            return problems
        model = declared.get(str(code), "BasicError")
        problems += [
            f"{name}: {p}" for p in validate_github_json(model, text, where=f"{code} response body")
        ]
        return problems
    response_model = route.response_model
    if response_model is None and code != 204:
        response_model = _GH_RESPONSE_OVERRIDES.get((method, route.template))
    if response_model is None:
        if not _is_empty(text):
            problems.append(f"{name}: operation declares no response body, got {_short(text)}")
        return problems
    if _is_empty(text):
        if code != 204 and response_model != "EmptyObject":
            problems.append(f"{name}: status {code} with empty body, expected {response_model}")
        return problems
    problems += [
        f"{name}: {p}"
        for p in validate_github_json(response_model, text, where=f"{code} response body")
    ]
    return problems


# --------------------------------------------------------------------------------------------
# Databricks
# --------------------------------------------------------------------------------------------

_DB_PACKAGE = "databricks.sdk.service"
# Endpoints the SDK itself calls while resolving its config: any status, any body.
_DB_UNCHECKED = (
    re.compile(r"/\.well-known/databricks-config"),
    re.compile(r"/oidc(/accounts/[^/]+)?/\.well-known/oauth-authorization-server"),
)
_SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
_DB_LIST_ENVELOPE = frozenset(
    {
        "next_page_token",
        "prev_page_token",
        "has_more",
        "totalResults",
        "itemsPerPage",
        "startIndex",
        "schemas",
        "total_count",
    }
)


# Resource-name APIs (`/api/2.1/{name}` with name = "knowledge-assistants/1/examples/2": Domains,
# Sandbox, Knowledge Assistants, Supervisor Agents, budget spend) would match any path at all and
# hide unmapped calls. Not used by this project: left out of the table.
_AIP_CATCH_ALL = re.compile(r"/api/[^/]+/\{")


@dataclass(frozen=True)
class DatabricksRoute:
    """One databricks-sdk API method and the HTTP call it makes."""

    method: str
    template: str  # "/api/2.0/accounts/{account_id}/scim/v2/ServicePrincipals/{id}"
    module: str  # "iam"
    function: str  # "AccountServicePrincipalsV2API.get"
    # How the SDK reads the response body:
    #   "object": response_class.from_dict(body)       "items": body[list_key] items
    #   "array": a top-level JSON array of response_class  "none": ignored (expect {} or empty)
    #   "any": returned as-is (a dict of strings...)     "raw": a download, not JSON
    shape: str
    response_class: str | None
    list_key: str | None
    body_keys: tuple[tuple[str, str], ...]  # (json key, parameter name): body["k"] = param
    body_param: str | None  # the whole body is this parameter (`body = p.as_dict()`, body=p)
    query_keys: frozenset[str]
    params: tuple[tuple[str, str], ...]  # (parameter name, annotation)
    regex: str = dataclasses.field(compare=False, repr=False)  # compiled by ``pattern``
    weight: tuple[int, int] = dataclasses.field(compare=False, repr=False)
    path_shape: _Shape = dataclasses.field(compare=False, repr=False)  # see _may_match

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compiled(self.regex)

    @property
    def scim(self) -> bool:
        return "/scim/v2/" in self.template or self.template.endswith("/scim/v2")


_DB_DO_RE = re.compile(
    r'(?:(?P<var>\w+) = )?self\._api\.do\(\s*"(?P<method>[A-Z]+)",\s*(?P<f>f?)"(?P<path>[^"]+)"'
    r"(?P<rest>[^)]*)\)"
)
_DB_DO_CALL = "self._api.do("


def _db_do_calls(chunk: str) -> list[re.Match[str]]:
    """``list(_DB_DO_RE.finditer(chunk))``, the same matches, found ~10x faster: the regex
    starts with an optional ``var = `` and so was tried at every position of the 2 MB of SDK
    source; here each ``self._api.do(`` is found as text and the regex anchored where its
    match begins (the ``var`` just before it, if any)."""
    calls: list[re.Match[str]] = []
    position = chunk.find(_DB_DO_CALL)
    while position >= 0:
        begin = position
        if chunk[begin - 3 : begin] == " = ":
            start = begin - 3
            while start > 0 and (chunk[start - 1].isalnum() or chunk[start - 1] == "_"):
                start -= 1
            if start < begin - 3:
                begin = start
        match = None if calls and begin < calls[-1].end() else _DB_DO_RE.match(chunk, begin)
        if match is not None:
            calls.append(match)
        position = chunk.find(_DB_DO_CALL, position + 1)
    return calls


@functools.lru_cache(maxsize=1)
def databricks_routes() -> tuple[DatabricksRoute, ...]:
    """Every HTTP call of every databricks-sdk service API method, read from the SDK source."""
    service_dir = _package_dir(_DB_PACKAGE)
    routes: list[DatabricksRoute] = []
    for source_file in sorted(service_dir.glob("*.py")):
        if source_file.name.startswith("_"):
            continue
        src = source_file.read_text(encoding="utf-8")
        if "self._api.do(" not in src:
            continue
        classes = [(m.start(), m[1]) for m in re.finditer(r"\nclass (\w+)\b", src)]
        class_starts = [start for start, _ in classes]
        for match in re.finditer(r"\n    def (\w+)\(", src):
            end = src.find("\n    def ", match.end())
            chunk = src[match.start() : end if end > 0 else len(src)]
            if "self._api.do(" not in chunk:
                continue
            owner_index = bisect.bisect_left(class_starts, match.start()) - 1
            owner = classes[owner_index][1] if owner_index >= 0 else "?"
            routes.extend(_db_method_routes(source_file.stem, f"{owner}.{match[1]}", chunk))
    return tuple(routes)


def _db_method_routes(module: str, function: str, chunk: str) -> list[DatabricksRoute]:
    params = _signature_params(chunk)
    body_keys = tuple(
        (key, _first_identifier(expr))
        for key, expr in re.findall(r'\n\s+body\["([^"]+)"\] = (.+)', chunk)
    )
    whole_body = re.search(r"\n\s+body = (\w+)\.as_dict\(\)", chunk)
    query_keys = frozenset(re.findall(r'query\["([^"]+)"\]', chunk))
    calls = _db_do_calls(chunk)
    out = []
    for index, call in enumerate(calls):
        tail = chunk[call.end() : calls[index + 1].start() if index + 1 < len(calls) else None]
        shape, response_class, list_key = _db_response_shape(call, tail)
        body_arg = re.search(r"\bbody=(\w+)", call["rest"])
        body_param = whole_body[1] if whole_body else None
        if body_arg and body_arg[1] != "body":
            body_param = body_arg[1]
        template = call["path"]
        if _AIP_CATCH_ALL.match(template):
            continue
        regex = _db_template_regex(template)
        path_shape = _literal_shape(template, _db_multi_segment)  # the SDK's, not rewritten
        if call["f"]:
            template = re.sub(r"\{self\._api\.account_id\}", "{account_id}", template)
            template = re.sub(r"\{\w+\((\w+)\)\}", r"{\1}", template)
        out.append(
            DatabricksRoute(
                method=call["method"],
                template=template,
                module=module,
                function=function,
                shape=shape,
                response_class=response_class,
                list_key=list_key,
                body_keys=body_keys,
                body_param=body_param,
                query_keys=query_keys,
                params=params,
                regex=regex,
                weight=_template_weight(re.sub(r"\{[^}]+\}", "{}", template)),
                path_shape=path_shape,
            )
        )
    return out


def _db_response_shape(call: re.Match[str], tail: str) -> tuple[str, str | None, str | None]:
    var = call["var"]
    if "raw=True" in call["rest"]:
        return "raw", None, None
    if not var:
        return "none", None, None
    item = re.search(
        rf'for v in {var}\["(\w+)"\]:(?:(?!\n            \S).)*?yield (\w+)\.from_dict\(v\)',
        tail,
        re.S,
    )
    if item:
        return "items", item[2], item[1]
    array = re.search(rf"(\w+)\.from_dict\(v\) for v in {var}\b", tail)
    if array:
        return "array", array[1], None
    whole = re.search(rf"(\w+)\.from_dict\({var}\)", tail)
    if whole:
        return "object", whole[1], None
    if re.search(rf"\breturn {var}\b", tail):
        return "any", None, None
    return "none", None, None


def _first_identifier(expr: str) -> str:
    """``display_name`` / ``meta.as_dict()`` / ``[v.as_dict() for v in members]`` -> param."""
    loop = re.search(r"\bfor \w+ in (\w+)", expr)
    if loop:
        return loop[1]
    match = re.match(r"\W*(\w+)", expr)
    return match[1] if match else expr


def _signature_params(chunk: str) -> tuple[tuple[str, str], ...]:
    start = chunk.index("(") + 1
    depth, index = 0, start
    while index < len(chunk):
        char = chunk[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        index += 1
    out = []
    for part in _split_top_level(chunk[start:index]):
        name, _, annotation = part.partition(":")
        annotation = annotation.split("=")[0].strip() if "=" in annotation else annotation.strip()
        name = name.strip()
        if name and name not in {"self", "*"} and annotation:
            out.append((name, annotation))
    return tuple(out)


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _db_multi_segment(piece: str) -> bool:
    return "_escape_multi_segment_path_parameter" in piece or "path" in piece


def _db_template_regex(template: str) -> str:
    out = []
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            out.append(".+" if _db_multi_segment(piece) else "[^/]+")
        else:
            out.append(re.escape(piece))
    return "".join(out)


def match_databricks(method: str, path: str) -> list[DatabricksRoute]:
    """The SDK routes for ``method`` + ``path``, best first (several APIs may share a path)."""
    return list(_match_databricks(method.upper(), path))


@functools.lru_cache(maxsize=512)
def _match_databricks(method: str, path: str) -> tuple[DatabricksRoute, ...]:
    candidates = _matching(_databricks_by_method(), method, path)
    if not candidates:
        return ()
    best = max(r.weight for r in candidates)
    return tuple(r for r in candidates if r.weight == best)


@functools.lru_cache(maxsize=1)
def _databricks_by_method() -> _RouteIndex:
    return _route_index(databricks_routes())


def _db_class(module: str, name: str) -> type | None:
    mod = importlib.import_module(f"{_DB_PACKAGE}.{module}")
    cls = getattr(mod, name, None)
    return cls if isinstance(cls, type) else None


@functools.cache
def _db_schema(cls: type) -> dict[str, tuple[str, str, str | None]]:
    """JSON key -> (field name, reader helper, class argument) from ``cls.from_dict``'s source."""
    source = inspect.getsource(cls.from_dict)
    schema = {}
    for field, helper, key, arg in re.findall(
        r'(\w+)=(d\.get|_\w+)\(\s*(?:d,\s*)?"([^"]+)"(?:,\s*([\w.]+))?', source
    ):
        schema[key] = (field, helper, arg if helper != "d.get" else None)
    return schema


@functools.cache
def _db_annotations(cls: type) -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def check_databricks_json(cls: type, document: object, where: str = "$") -> list[str]:
    """Check a JSON value against an SDK dataclass: known keys, types, enum members, and the
    SDK's own round trip ``cls.from_dict(document).as_dict()`` keeping every key."""
    if not isinstance(document, dict):
        return [f"{where}: expected an object for {cls.__name__}, got {_short(document)}"]
    problems = _db_walk(cls, document, where)
    try:
        round_trip = cls.from_dict(document).as_dict()
    except Exception as exc:  # noqa: BLE001 - any failure of the SDK's parser is the finding
        return [*problems, f"{where}: {cls.__name__}.from_dict failed: {exc!r}"]
    reported = {p.split(":", 1)[0] for p in problems}
    for lost in _lost_keys(cls, document, round_trip, where):
        if not any(lost == r or lost.startswith((r + ".", r + "[")) for r in reported):
            problems.append(f"{lost}: lost in {cls.__name__}.from_dict(...).as_dict()")
    return problems


def _resolve(module: object, dotted: str) -> object:
    """``ClusterSpec`` or ``compute.ClusterSpec`` (another service module) from ``module``."""
    found: object = module
    for part in dotted.split("."):
        found = getattr(found, part, None)
    return found


def _db_walk(cls: type, document: dict, where: str) -> list[str]:
    import enum

    schema = _db_schema(cls)
    annotations = _db_annotations(cls)
    module = importlib.import_module(cls.__module__)
    problems = []
    for key, value in document.items():
        here = f"{where}.{key}"
        if key not in schema:
            problems.append(f"{here}: unknown key for {cls.__name__}")
            continue
        field, helper, arg = schema[key]
        if value is None:
            continue
        target = _resolve(module, arg) if arg else None
        if helper == "_from_dict" and target is not None:
            problems += _db_object(target, value, here)
        elif helper == "_repeated_dict" and target is not None:
            if not isinstance(value, list):
                problems.append(f"{here}: expected a list of {target.__name__}")
                continue
            for index, item in enumerate(value):
                problems += _db_object(target, item, f"{here}[{index}]")
        elif helper in {"_enum", "_repeated_enum"} and isinstance(target, type):
            items = value if helper == "_repeated_enum" else [value]
            if helper == "_repeated_enum" and not isinstance(value, list):
                problems.append(f"{here}: expected a list of {target.__name__} values")
                continue
            allowed = {m.value for m in target} if issubclass(target, enum.Enum) else set()
            for item in items:
                if not isinstance(item, str | int | float | bool | None) or item not in allowed:
                    problems.append(
                        f"{here}: {item!r} is not a {target.__name__} ({sorted(allowed)[:8]})"
                    )
        elif helper in {"_int64", "_repeated_int64"}:
            items = value if helper == "_repeated_int64" and isinstance(value, list) else [value]
            for item in items:
                if not _is_int64(item):
                    problems.append(f"{here}: expected an int64, got {_short(item)}")
        elif helper in {"_timestamp", "_duration", "_fieldmask"}:
            if not isinstance(value, str):
                problems.append(f"{here}: expected a {helper[1:]} string, got {_short(value)}")
        elif helper == "d.get":
            mismatch = _annotation_mismatch(annotations.get(field, "Any"), value)
            if mismatch:
                problems.append(f"{here}: {mismatch}")
    return problems


def _db_object(cls: type, document: object, where: str) -> list[str]:
    """Like :func:`check_databricks_json` without the round trip (the caller does that)."""
    if not isinstance(document, dict):
        return [f"{where}: expected an object for {cls.__name__}, got {_short(document)}"]
    return _db_walk(cls, document, where)


def _is_int64(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.fullmatch(r"-?\d+", value) is not None


_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def _annotation_mismatch(annotation: str, value: object) -> str | None:
    """A message if JSON ``value`` cannot be a Python value of SDK ``annotation``."""
    annotation = annotation.strip()
    match = re.fullmatch(r"Optional\[(.*)\]", annotation)
    if match:
        annotation = match[1].strip()
    if annotation in _SCALARS:
        if isinstance(value, bool) and annotation != "bool":
            return f"expected {annotation}, got {_short(value)}"
        if not isinstance(value, _SCALARS[annotation]):
            return f"expected {annotation}, got {_short(value)}"
        return None
    match = re.fullmatch(r"List\[(.*)\]", annotation)
    if match:
        if not isinstance(value, list):
            return f"expected a list, got {_short(value)}"
        for item in value:
            mismatch = _annotation_mismatch(match[1], item)
            if mismatch:
                return f"list item: {mismatch}"
        return None
    match = re.fullmatch(r"Dict\[str,\s*(.*)\]", annotation)
    if match:
        if not isinstance(value, dict):
            return f"expected an object, got {_short(value)}"
        for item in value.values():
            mismatch = _annotation_mismatch(match[1], item)
            if mismatch:
                return f"object value: {mismatch}"
    return None


def _lost_keys(cls: type | None, document: object, round_trip: object, where: str) -> list[str]:
    """Keys of ``document`` missing from ``round_trip``, recursively (lists element-wise)."""
    lost: list[str] = []
    if isinstance(document, dict):
        if not isinstance(round_trip, dict):
            return [where] if document else []
        schema = _db_schema(cls) if cls is not None else {}
        module = importlib.import_module(cls.__module__) if cls is not None else None
        for key, value in document.items():
            here = f"{where}.{key}"
            if key not in round_trip:
                # as_dict() drops empty lists/objects and None: not a loss for a known key.
                if key in schema and value in (None, [], {}, ""):
                    continue
                lost.append(here)
                continue
            nested = None
            if key in schema and schema[key][2] and module is not None:
                candidate = _resolve(module, schema[key][2])
                nested = candidate if dataclasses.is_dataclass(candidate) else None
            lost += _lost_keys(nested, value, round_trip[key], here)
    elif isinstance(document, list) and isinstance(round_trip, list):
        if len(round_trip) < len(document):
            lost.append(f"{where}[{len(round_trip)}]")
        for index, (d, r) in enumerate(zip(document, round_trip, strict=False)):
            lost += _lost_keys(cls, d, r, f"{where}[{index}]")
    return lost


def _check_databricks(
    method: str, path: str, query: str, request: Mapping, response: Mapping, code: int
) -> list[str]:
    if any(p.fullmatch(path) for p in _DB_UNCHECKED):
        return []
    routes = match_databricks(method, path)
    if not routes:
        return [f"unmapped Databricks operation {method} {path}"]
    results = [_check_databricks_route(r, query, request, response, code) for r in routes]
    if any(not problems for problems in results):
        return []
    return min(results, key=len)


def _check_databricks_route(
    route: DatabricksRoute, query: str, request: Mapping, response: Mapping, code: int
) -> list[str]:
    name = f"Databricks {route.module}.{route.function} ({route.method} {route.template})"
    problems: list[str] = []
    unknown_query = sorted({k for k, _ in parse_qsl(query)} - route.query_keys)
    if unknown_query:
        problems.append(f"{name}: query parameters the SDK never sends: {unknown_query}")

    request_text = _request_text(request)
    if not _is_empty(request_text):
        body, errors = _parse_json(request_text, "request body")
        problems += [f"{name}: {e}" for e in errors]
        if not errors:
            problems += [f"{name}: {p}" for p in _check_db_request(route, body)]

    text = _response_text(response)
    headers = _headers(response)
    if code >= 400:
        problems += [f"{name}: {p}" for p in _check_db_error(route, text, code)]
        return problems
    org_id = headers.get("x-databricks-org-id")
    if (
        route.template == "/api/2.0/preview/scim/v2/Me"
        and org_id is not None
        and not org_id.isdigit()
    ):
        problems.append(f"{name}: X-Databricks-Org-Id header is not a workspace id")
    if route.shape == "raw" or _is_empty(text) or code == 204:
        return problems
    body, errors = _parse_json(text, f"{code} response body")
    if errors:
        return problems + [f"{name}: {e}" for e in errors]
    if route.shape == "any":
        return problems
    if route.shape == "none":
        if body != {}:
            problems.append(f"{name}: the SDK reads no response body, got {_short(text)}")
        return problems
    cls = _db_class(route.module, route.response_class or "")
    if cls is None:
        return [*problems, f"{name}: SDK class {route.response_class} not found"]
    if route.shape == "object":
        found = check_databricks_json(cls, body)
    elif route.shape == "array":
        found = (
            [p for i, item in enumerate(body) for p in check_databricks_json(cls, item, f"$[{i}]")]
            if isinstance(body, list)
            else [f"$: expected a JSON array of {cls.__name__}, got {_short(text)}"]
        )
    else:
        found = _check_db_list(route, cls, body)
    return problems + [f"{name}: {p}" for p in found]


def _check_db_list(route: DatabricksRoute, item_cls: type, body: object) -> list[str]:
    if not isinstance(body, dict):
        return [f"$: expected an object, got {_short(body)}"]
    envelope = _db_list_envelope(route.module, route.list_key, item_cls.__name__)
    if envelope is not None:
        return check_databricks_json(envelope, body)
    problems = []
    for key in body:
        if key not in _DB_LIST_ENVELOPE and key != route.list_key:
            problems.append(f"$.{key}: unknown key for a list of {item_cls.__name__}")
    items = body.get(route.list_key) or []
    if not isinstance(items, list):
        return [*problems, f"$.{route.list_key}: expected a list"]
    for index, item in enumerate(items):
        problems += check_databricks_json(item_cls, item, f"$.{route.list_key}[{index}]")
    return problems


@functools.cache
def _db_list_envelope(module: str, key: str, item: str) -> type | None:
    """The SDK's ``List...Response`` dataclass whose ``key`` holds a list of ``item``."""
    mod = importlib.import_module(f"{_DB_PACKAGE}.{module}")
    needle = re.compile(rf'_repeated_dict\(d, "{re.escape(key)}", {re.escape(item)}\)')
    for name, cls in sorted(vars(mod).items()):
        if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
            continue
        if not name.startswith("List") and not name.endswith("Response"):
            continue
        if needle.search(inspect.getsource(cls.from_dict)):
            return cls
    return None


def _check_db_request(route: DatabricksRoute, body: object) -> list[str]:
    params = dict(route.params)
    if route.body_param:
        annotation = params.get(route.body_param, "Any")
        return _check_db_param_value(route.module, annotation, body, "request $")
    if not isinstance(body, dict):
        return [f"request body: expected an object, got {_short(body)}"]
    if not route.body_keys:
        return [] if body == {} else ["request body: the SDK sends no body for this call"]
    known = dict(route.body_keys)
    problems = []
    for key, value in body.items():
        here = f"request $.{key}"
        if key not in known:
            problems.append(f"{here}: not a body key of {route.function} ({sorted(known)})")
            continue
        annotation = params.get(known[key], "Any")
        problems += _check_db_param_value(route.module, annotation, value, here)
    return problems


def _check_db_param_value(module: str, annotation: str, value: object, where: str) -> list[str]:
    inner = annotation.strip()
    match = re.fullmatch(r"Optional\[(.*)\]", inner)
    if match:
        inner = match[1].strip()
    if value is None:
        return []
    match = re.fullmatch(r"List\[(\w+)\]", inner)
    if match and _annotation_class(module, match[1]) is not None:
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [
            problem
            for index, item in enumerate(value)
            for problem in _check_db_param_value(module, match[1], item, f"{where}[{index}]")
        ]
    cls = _annotation_class(module, inner)
    if cls is not None and dataclasses.is_dataclass(cls):
        return check_databricks_json(cls, value, where)
    if cls is not None:  # an Enum
        allowed = {m.value for m in cls}
        return [] if value in allowed else [f"{where}: {value!r} is not a {cls.__name__}"]
    mismatch = _annotation_mismatch(inner, value)
    return [f"{where}: {mismatch}"] if mismatch else []


def _annotation_class(module: str, annotation: str) -> type | None:
    name = annotation.strip()
    match = re.fullmatch(r"Optional\[(\w+)\]", name)
    if match:
        name = match[1]
    if not re.fullmatch(r"[A-Z]\w*", name):
        return None
    return _db_class(module, name)


def _check_db_error(route: DatabricksRoute, text: str | None, code: int) -> list[str]:
    if _is_empty(text):
        return [f"status {code} needs a Databricks error body"]
    body, errors = _parse_json(text, f"{code} response body")
    if errors:
        return errors
    if not isinstance(body, dict):
        return [f"{code} response body is not an error object: {_short(text)}"]
    if route.scim and "schemas" in body:
        problems = []
        if _SCIM_ERROR_SCHEMA not in (body.get("schemas") or []):
            problems.append(f"SCIM error needs schemas [{_SCIM_ERROR_SCHEMA!r}]")
        if not isinstance(body.get("detail"), str):
            problems.append("SCIM error needs a string 'detail'")
        if str(body.get("status")) != str(code):
            problems.append(f"SCIM error 'status' {body.get('status')!r} != {code}")
        extra = set(body) - {"schemas", "detail", "status", "scimType"}
        if extra:
            problems.append(f"SCIM error has unknown keys {sorted(extra)}")
        return problems
    problems = []
    error_code = body.get("error_code")
    # Databricks answers an invalid or expired token with the HTTP status as an integer
    # error_code ({"error_code": 403, "message": "Invalid access token."}); the SDK reads it by
    # status. Only that integer is accepted; every other error_code must be a string.
    status_as_code = type(error_code) is int and error_code == code
    if not isinstance(error_code, str) and not status_as_code:
        wanted = f"a string 'error_code' (or the integer {code})"
        problems.append(f"{code} error body needs {wanted}: {_short(text)}")
    if not isinstance(body.get("message"), str):
        problems.append(f"{code} error body needs a string 'message': {_short(text)}")
    extra = set(body) - {"error_code", "message", "details"}
    if extra:
        problems.append(f"{code} error body has unknown keys {sorted(extra)}")
    return problems


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------

_AWS_KEY_RE = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
_CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Databricks PAT", re.compile(r"dapi[0-9a-f]{32}")),
    ("Databricks OAuth secret", re.compile(r"dose[0-9a-f]{32}")),
    ("GitHub classic PAT", re.compile(r"ghp_[A-Za-z0-9]{36}")),
    ("GitHub OAuth/app/user token", re.compile(r"gh[osur]_[A-Za-z0-9]{36}")),
    ("GitHub fine-grained PAT", re.compile(r"github_pat_[A-Za-z0-9_]{40,}")),
    ("JWT", re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.")),
    ("AWS access key", _AWS_KEY_RE),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
# "Bearer <credential>": at least 16 token characters with a digit, so prose does not match.
_BEARER_RE = re.compile(r"\bBearer\s+(?=[^\s\"']*\d)([A-Za-z0-9._~+/=-]{16,})")
# Authorization header in YAML (block list or inline), JSON or HTTP text.
_AUTH_HEADER_RE = re.compile(
    r"""(?im)^[ \t-]*["']?(?:proxy-)?authorization["']?[ \t]*:[ \t]*"""
    r"""(?:\n[ \t]*-[ \t]*|\[[ \t]*)?["']?([^\n"'\],]*)"""
)
_AUTH_JSON_RE = re.compile(
    r"""(?i)\\?["'](?:proxy-)?authorization\\?["']\s*:\s*\\?["']([^"'\\]*)"""
)
_SECRET_FIELD_NAMES = (
    "token_value",
    "access_token",
    "refresh_token",
    "id_token",
    "secret",
    "client_secret",
    "encrypted_value",
    "password",
)
_SECRET_FIELD_RE = re.compile(
    r"""\\?["'](""" + "|".join(_SECRET_FIELD_NAMES) + r""")\\?["']\s*:\s*\\?["']([^"'\\]*)"""
)
_SECRET_YAML_RE = re.compile(
    r"""(?m)^[ \t-]*(token_value|access_token|refresh_token|client_secret|encrypted_value|"""
    r"""password|secret)\s*:[ \t]*["']?([^\n"']*)"""
)


def scan_for_credentials(text: str) -> list[str]:
    """Things in ``text`` that look like credentials. Values are shown redacted.

    Flags token formats (Databricks ``dapi``/``dose``, GitHub ``ghp_``/``gho_``/``ghs_``/``ghu_``/
    ``ghr_``/``github_pat_``, JWTs, AWS keys, private keys), ``Bearer``/``token`` credentials and
    ``Authorization`` header values that are not :data:`SCRUBBED`, and unscrubbed values of
    secret-carrying fields (``token_value``, ``access_token``, ``secret``, ``encrypted_value``...).
    """
    findings: list[str] = []

    def report(kind: str, start: int, value: str) -> None:
        line = text.count("\n", 0, start) + 1
        findings.append(f"line {line}: {kind}: {_redact(value)}")

    for kind, pattern in _CREDENTIAL_PATTERNS:
        for match in _finditer(pattern, text):
            report(kind, match.start(), match[0])
    for match in _finditer(_BEARER_RE, text):
        report("authorization credential", match.start(), match[0])
    for pattern in (_AUTH_HEADER_RE, _AUTH_JSON_RE):
        for match in _finditer(pattern, text):
            value = match[1].strip()
            if value and SCRUBBED not in value.split() and not _BEARER_RE.search(value):
                report("unscrubbed Authorization header", match.start(), value)
    for pattern in (_SECRET_FIELD_RE, _SECRET_YAML_RE):
        for match in _finditer(pattern, text):
            value = match[2].strip()
            if value and value not in {SCRUBBED, SEALED, "null", "~", "{", "[]", "{}"}:
                report(f"unscrubbed {match[1]}", match.start(), value)
    return sorted(set(findings), key=lambda f: int(f.split(":")[0].split()[1]))


def _finditer(pattern: re.Pattern[str], text: str) -> Iterable[re.Match[str]]:
    """``pattern.finditer(text)``: the same matches, found by trying the regex only where one
    can start. Each pattern below holds a word every match has at a known place (a position, or
    the line of a ``^`` pattern); ``str.find`` locates those words at memory speed, while the
    patterns that begin with an optional character or ``\\b`` were tried at every position of
    ~20 MB of cassettes (~1.2 s of CPU a run). Candidate starts are tried in order, skipping
    those inside the previous match, as ``finditer`` does; the ones that cannot start a match
    fail. A pattern with no such word here, or a case-insensitive one on non-ASCII text (where
    case folding could match other characters), is searched the plain way."""
    anchors = _ANCHORS.get(pattern)
    if anchors is None or (pattern.flags & re.IGNORECASE and not text.isascii()):
        yield from pattern.finditer(text)
        return
    words, offsets = anchors
    haystack = text.lower() if pattern.flags & re.IGNORECASE else text
    starts: set[int] = set()
    for word in words:
        index = haystack.find(word)
        while index >= 0:
            if offsets is None:  # a ^ pattern: the start of the word's line
                starts.add(text.rfind("\n", 0, index) + 1)
            else:
                starts.update(index - o for o in offsets if index >= o)
            index = haystack.find(word, index + 1)
    end = 0
    for start in sorted(starts):
        if start < end:
            continue
        match = pattern.match(text, start)
        if match is not None:
            end = match.end()
            yield match


# pattern -> (words every match holds, how far before the word a match starts: None = at the
# start of the word's line). Only patterns without a literal start of their own; the others
# (dapi, ghp_, eyJ, -----BEGIN) are searched fast by the regex engine itself.
_ANCHORS: dict[re.Pattern[str], tuple[tuple[str, ...], tuple[int, ...] | None]] = {
    _AWS_KEY_RE: (("AKIA", "ASIA"), (0,)),
    _BEARER_RE: (("Bearer",), (0,)),
    _AUTH_HEADER_RE: (("authorization",), None),
    # \\? ["'] (proxy-)? authorization
    _AUTH_JSON_RE: (("authorization",), (1, 2, 7, 8)),
    _SECRET_FIELD_RE: (_SECRET_FIELD_NAMES, (1, 2)),  # \\? ["'] name
    _SECRET_YAML_RE: (_SECRET_FIELD_NAMES, None),
}


def _redact(value: str) -> str:
    return value[:6] + "..." if len(value) > 8 else "***"

"""Cassette settings shared by the tests and the offline demo.

One place decides how a recorded API call is matched and scrubbed, so a cassette the tests
accept is one the demo can play:

* matched on method, full URI and body; JSON bodies compare as data, and the sealed-box
  ``encrypted_value`` of a GitHub secret (random on every call) compares as a placeholder;
* Authorization headers and cookies never recorded; ``token_value``, ``secret``,
  ``access_token``, ``client_secret``, Graph's ``secretText`` replaced in bodies by
  :data:`PLACEHOLDER`, and the sealed ``encrypted_value`` of a GitHub secret by
  :data:`SEALED_PLACEHOLDER`: a fixed, valid base64 sealed box (32-byte ephemeral key, 16-byte
  MAC, a short text), so a recorded request still matches GitHub's schema for it
  (``encrypted_value`` must be base64).
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

PLACEHOLDER = "<scrubbed>"
# a sealed box's shape: 32-byte ephemeral key + 16-byte MAC + a short text, in base64
SEALED_PLACEHOLDER = base64.b64encode(bytes(48) + b"scrubbed by mlops-setup").decode()
SEALED_FIELDS = frozenset({"encrypted_value"})
SECRET_FIELDS = frozenset(
    {
        "token_value",
        "secret",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "encrypted_value",
        "password",
        "secretText",  # Microsoft Graph's addPassword answer
    }
)
SCRUBBED_HEADERS = (
    "authorization",
    "cookie",
    "set-cookie",
    "x-databricks-azure-sp-management-token",
)
MATCH_ON = ("request",)  # see request_matcher: method, URI parts, then the body


def scrub(data: Any) -> Any:
    """``data`` with every secret-bearing field replaced by the placeholder."""
    if isinstance(data, dict):
        return {
            k: (_placeholder(k) if k in SECRET_FIELDS and isinstance(v, str) else scrub(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [scrub(v) for v in data]
    return data


def _placeholder(field: str) -> str:
    return SEALED_PLACEHOLDER if field in SEALED_FIELDS else PLACEHOLDER


def scrub_text(body: str | bytes | None) -> str | bytes | None:
    """Scrub a body given as text: JSON, or a form (``a=1&client_secret=...``, as OAuth token
    requests send); anything else is returned unchanged."""
    if not body:
        return body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        cleaned = json.dumps(scrub(json.loads(text)), separators=(",", ":"))  # compact, always
    except ValueError:
        cleaned = _scrub_form(text)
        if cleaned == text:
            return body
    return cleaned.encode() if isinstance(body, bytes) else cleaned


def _scrub_form(text: str) -> str:
    from urllib.parse import parse_qsl, urlencode

    if "=" not in text or "\n" in text:
        return text
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs or not any(k in SECRET_FIELDS for k, _ in pairs):
        return text
    return urlencode([(k, PLACEHOLDER if k in SECRET_FIELDS else v) for k, v in pairs])


@functools.lru_cache(maxsize=4096)
def _body_key(body: bytes | str | None) -> str | bytes | None:
    """A canonical form of a body: scrubbed JSON with sorted keys, else the body itself."""
    if body in (None, b"", ""):
        return None
    try:
        return json.dumps(scrub(json.loads(body)), sort_keys=True)
    except (ValueError, UnicodeDecodeError, TypeError):
        return body


def request_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: same method, scheme, host, port, path and query, and the same body (see
    :func:`json_body_matcher`). One matcher instead of seven: vcrpy evaluates every matcher on
    every (new, recorded) pair, and stopping at the first difference is most of the replay's
    cost saved."""
    if r1.method != r2.method or r1.path != r2.path or r1.host != r2.host:
        raise AssertionError(f"{r1.method} {r1.uri} != {r2.method} {r2.uri}")
    if (r1.scheme, r1.port, r1.query) != (r2.scheme, r2.port, r2.query):
        raise AssertionError(f"{r1.uri} != {r2.uri}")
    json_body_matcher(r1, r2)


def json_body_matcher(r1: Any, r2: Any) -> None:
    """vcrpy matcher: bodies equal as (scrubbed) JSON data, or byte for byte.

    vcrpy compares every recorded request with every new one and runs all matchers on each
    pair, so the canonical form is cached: the demo replays ~100 requests against ~100
    recorded ones."""
    if r1.body == r2.body:
        return
    a, b = _body_key(r1.body), _body_key(r2.body)
    if a != b:
        raise AssertionError(f"bodies differ: {a!r} != {b!r}")


def _route(request: Any) -> tuple:
    """What :func:`request_matcher` compares before the body, as a hashable key."""
    query = tuple(request.query)
    return (request.method, request.path, request.host, request.scheme, request.port, query)


def index_cassette(cassette: Any) -> bool:
    """Let a cassette that only plays back find a request's recorded answers through an index
    on :func:`_route` instead of trying every recorded request.

    vcrpy (9.4) looks a request up twice (``can_play_response_for``, then ``play_response``),
    and each look-up runs the matchers against every interaction of the cassette: for a
    cassette of a whole setup (~100 interactions) that was ~40 matcher calls per request and a
    tenth of a test's time. The index only picks the candidates whose method, path, host,
    scheme, port and query are equal, which :func:`request_matcher` requires anyway; each
    candidate still goes through vcrpy's own ``requests_match`` with the cassette's matchers, in
    the cassette's order, so what is played is unchanged.

    Only installed when the cassette cannot grow (record mode ``none``) and matches with
    :func:`request_matcher` alone; returns whether it was installed.
    """
    from vcr.matchers import requests_match

    if getattr(cassette, "record_mode", None) != "none" or not hasattr(cassette, "_responses"):
        return False
    if list(getattr(cassette, "_match_on", ())) != [request_matcher]:
        return False
    by_route: dict[tuple, list[int]] = {}
    for index, (stored, _) in enumerate(cassette.data):
        by_route.setdefault(_route(stored), []).append(index)

    # vcrpy filters one request three times on its way to playback (can_play_response_for,
    # then its `in`, then play_response), each time a deep copy of the request, its headers
    # filtered, and its body's scrub. For the look-ups, only what request_matcher compares
    # counts: the method, the URI and the scrubbed body, never a header. So the look-ups use
    # a copy with only the body scrubbed (see _match_filter), and the last request's copy is
    # kept and handed out again while the request is unchanged (the copy filters to itself:
    # a scrubbed body scrubs to the same text). cassette._before_record_request, what vcrpy
    # would record through (append), stays vcrpy's whole filter.
    filter_request = _match_filter(cassette._before_record_request)
    last: list[Any] = [None, None, None]  # the request, its state then, its filtered copy

    def _state(request: Any) -> tuple:
        headers = getattr(request, "headers", None)
        items = tuple((k, repr(v)) for k, v in headers.items()) if headers else ()
        return (request.method, request.uri, request.body, items)

    def match_filter(request: Any) -> Any:
        if request is not None and request is last[2]:
            return request
        if request is not None and request is last[0] and _state(request) == last[1]:
            return last[2]
        filtered = filter_request(request)
        if request is None or filtered is None:
            last[:] = [None, None, None]
        else:
            last[:] = [request, _state(request), filtered]
        return filtered

    def responses(request: Any) -> Any:  # vcr.cassette.Cassette._responses, indexed
        request = match_filter(request)
        if request is None:
            return
        for index in by_route.get(_route(request), ()):
            stored, response = cassette.data[index]
            if requests_match(request, stored, cassette._match_on):
                yield index, response

    def can_play_response_for(request: Any) -> Any:  # vcrpy's, through match_filter
        request = match_filter(request)
        return (
            request
            and request in cassette
            and cassette.record_mode != "all"
            and (cassette.rewound or cassette.allow_playback_repeats)
        )

    cassette._responses = responses
    cassette.can_play_response_for = can_play_response_for
    return True


def _match_filter(vcr_filter: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """What vcrpy's request filter (``vcr_filter``, a cassette's ``_before_record_request``)
    does to what :func:`request_matcher` compares: a shallow copy of the request, its body
    through :func:`_before_record_request`; the headers are left as they are (only recording
    drops them). When the filter holds anything but header filters and
    :func:`_before_record_request` (another VCR configuration, another vcrpy), ``vcr_filter``
    itself."""
    import copy

    from vcr import filters

    cells = dict(zip(vcr_filter.__code__.co_freevars, vcr_filter.__closure__ or (), strict=False))
    try:
        functions = list(cells["filter_functions"].cell_contents)
    except (KeyError, ValueError, TypeError):
        return vcr_filter
    body_filters = [
        f
        for f in functions
        if not (isinstance(f, functools.partial) and f.func is filters.replace_headers)
    ]
    if body_filters != [_before_record_request]:
        return vcr_filter

    def match_filter(request: Any) -> Any:
        return None if request is None else _before_record_request(copy.copy(request))

    return match_filter


def _before_record_request(request: Any) -> Any:
    request.body = scrub_text(request.body)
    return request


def _before_record_response(response: dict) -> dict:
    body = response.get("body", {})
    if "string" in body:
        body["string"] = scrub_text(body["string"])
    for name in list(response.get("headers", {})):
        if name.lower() in SCRUBBED_HEADERS:
            del response["headers"][name]
    return response


def vcr_kwargs() -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR`` / pytest-recording's ``vcr_config``."""
    return {
        "filter_headers": list(SCRUBBED_HEADERS),
        "before_record_request": _before_record_request,
        "before_record_response": _before_record_response,
        "decode_compressed_response": True,
        "match_on": list(MATCH_ON),
        "allow_playback_repeats": False,
    }


def make_vcr(cassette_dir: str) -> Any:
    """A VCR that only plays back (the demo)."""
    import vcr

    kwargs = vcr_kwargs()
    kwargs.pop("allow_playback_repeats")  # a use_cassette() option; False is its default
    player = vcr.VCR(cassette_library_dir=cassette_dir, record_mode="none", **kwargs)
    player.register_matcher("request", request_matcher)
    return player


# --------------------------------------------------------------------------- server-side git
#
# Some API calls change the repository on GitHub's side: merging a pull request, creating a
# branch through the refs API, a workflow pushing a branch. In tests and in the demo a local
# bare repository stands in for GitHub's copy, so those changes must happen there too, in
# replay as when the cassette was composed. They are kept beside the cassette
# (``<cassette>.git.yaml``: after which interaction, which operation, its arguments) and
# replayed by :class:`GitEffects`. Dates and authors are fixed, so the SHAs come out the same
# as the ones the cassette's responses name.


def init_upstream(path: Path | str) -> None:
    """An empty bare repository at ``path``, standing in for GitHub's copy (the demo, the
    tests). It keeps what it receives as the pack it came in (``receive.unpackLimit 1``):
    by default git explodes a push of fewer than 100 objects into loose files, one file and
    often one folder each, which made each of the demo's two pushes cost ~0.15 s of CPU
    (a kept pack: ~0.02 s). Nor does a push start ``git gc --auto`` in it (``receive.autogc``),
    which finds nothing to do in a repository this small. What the tool sees of the remote is
    the same either way."""
    import subprocess

    path = Path(path)
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)],
        check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
    )
    with (path / "config").open("a", encoding="utf-8") as config:
        config.write("[receive]\n\tunpackLimit = 1\n\tautogc = false\n")


EFFECTS_SUFFIX = ".git.yaml"
SERVER_GIT_ENV = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_AUTHOR_DATE": "2026-03-02T09:30:00+00:00",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_DATE": "2026-03-02T09:30:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def _server_git(
    git_dir: str, *args: str, stdin: str | bytes | None = None, env: dict | None = None
) -> str:
    """``git --git-dir GIT_DIR ARGS`` as GitHub's side, its output stripped; ``stdin`` as text,
    or as bytes given as they are (a fast-import stream counts bytes)."""
    import os
    import subprocess

    binary = isinstance(stdin, bytes)
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args],
        input=stdin,
        capture_output=True,
        text=not binary,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, **SERVER_GIT_ENV, **(env or {})},
        check=False,
    )
    out, err = done.stdout, done.stderr
    if binary:
        out, err = out.decode(), err.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"server-side git {' '.join(args[:2])} failed: {err.strip()}")
    return out.strip()


def server_git(git_dir: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Apply one server-side change to the bare repository; return what GitHub would report.

    Operations:

    * ``update_ref`` {ref, sha}: create or move ``refs/heads/<ref>``.
    * ``delete_ref`` {ref}.
    * ``commit_files`` {branch, parent, files: {path: text}, message}: a commit on top of the
      ``parent`` branch with those files added or replaced, stored as ``branch``. -> {sha}
    * ``merge`` {base, head, message, method}: merge ``head`` into ``base`` (``merge``: a merge
      commit; ``squash``/``rebase``: one commit with the merged tree). -> {sha}

    Each is as few git processes as it can be (a suite replays ~200 of them): a ref change is
    one ``update-ref``; a commit of files is one ``git fast-import`` (blobs, trees, the commit
    and the branch); a merge is ``merge-tree --write-tree`` and a ``fast-import`` of the commit
    with that tree. The objects are the ones ``hash-object``, ``update-index``, ``write-tree``
    and ``commit-tree -m`` would write (same SHAs: tests/test_replay.py checks it).
    """
    if op == "update_ref":
        _server_git(git_dir, "update-ref", f"refs/heads/{args['ref']}", args["sha"])
        return {}
    if op == "delete_ref":
        _server_git(git_dir, "update-ref", "-d", f"refs/heads/{args['ref']}")
        return {}
    if op == "commit_files":
        changes = b"".join(
            b"M 100644 inline %s\ndata %d\n%s\n" % (_fast_import_path(path), len(data), data)
            for path, data in ((p, t.encode()) for p, t in sorted(args["files"].items()))
        )
        sha = _fast_import_commit(
            git_dir, args["branch"], args["message"], [f"refs/heads/{args['parent']}"], changes
        )
        return {"sha": sha}
    if op == "merge":
        base = f"refs/heads/{args['base']}"
        tree = _server_git(git_dir, "merge-tree", "--write-tree", base, args["head"])
        tree = tree.splitlines()[0]
        parents = [base, args["head"]] if args.get("method", "merge") == "merge" else [base]
        # the root directory set to the merged tree: the commit's tree is that very tree
        changes = b'M 040000 %s ""\n' % tree.encode()
        return {
            "sha": _fast_import_commit(git_dir, args["base"], args["message"], parents, changes)
        }
    raise ValueError(f"unknown server-side git operation {op!r}")


def _fast_import_ident(role: str) -> bytes:
    """``Name <email> <epoch> <+hhmm>`` for ``role`` (AUTHOR, COMMITTER) of SERVER_GIT_ENV, as
    ``commit-tree`` writes it from the same variables."""
    import datetime as dt

    when = dt.datetime.fromisoformat(SERVER_GIT_ENV[f"GIT_{role}_DATE"])
    name, email = SERVER_GIT_ENV[f"GIT_{role}_NAME"], SERVER_GIT_ENV[f"GIT_{role}_EMAIL"]
    return f"{name} <{email}> {int(when.timestamp())} {when.strftime('%z')}".encode()


def _fast_import_path(path: str) -> bytes:
    """A path as fast-import reads it: C-quoted when it starts with a quote or holds a line end
    or a backslash (nothing else needs it)."""
    if path.startswith('"') or "\n" in path or "\\" in path:
        quoted = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{quoted}"'.encode()
    return path.encode()


FAST_IMPORT = ("fast-import", "--quiet", "--force", "--done")
KEEP_FAST_IMPORT_PACK = {  # git -c fastimport.unpackLimit=0
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "fastimport.unpackLimit",
    "GIT_CONFIG_VALUE_0": "0",
}


def _fast_import_commit(
    git_dir: str, branch: str, message: str, parents: list[str], changes: bytes
) -> str:
    """One commit on ``refs/heads/<branch>`` by one ``git fast-import``: its first parent (and
    the tree it starts from) ``parents[0]``, merged ``parents[1:]`` (any commit-ish names),
    ``changes`` its file commands; the branch is set to it whatever it was (``--force``, as
    ``update-ref``). Returns the new commit's SHA.

    The message is ``commit-tree -m``'s: the text, a line end added when it has none (an
    empty one stays empty). Without
    ``fastimport.unpackLimit=0``, fast-import would start ``git unpack-objects`` to turn its
    few objects into loose files; the pack is kept instead (as the stand-in upstream keeps the
    packs pushed to it, see :func:`init_upstream`)."""
    note = message.encode()
    if note and not note.endswith(b"\n"):
        note += b"\n"
    # "^0": a name, never fast-import's own branch of that name (committing to base from base)
    ancestry = b"from %s^0\n" % parents[0].encode()
    ancestry += b"".join(b"merge %s^0\n" % parent.encode() for parent in parents[1:])
    stream = b"".join(
        [
            b"commit refs/heads/%s\nmark :1\n" % branch.encode(),
            b"author %s\ncommitter %s\n"
            % (_fast_import_ident("AUTHOR"), _fast_import_ident("COMMITTER")),
            b"data %d\n%s" % (len(note), note),
            ancestry,
            changes,
            b"get-mark :1\n",
        ]
    )
    return _server_git(git_dir, *FAST_IMPORT, stdin=stream + b"done\n", env=KEEP_FAST_IMPORT_PACK)


class GitEffects:
    """Replays a cassette's server-side git changes after the interactions that caused them."""

    def __init__(self, git_dir: str | Callable[[], str], effects: list[dict[str, Any]]) -> None:
        # A callable is asked when the first effect runs: tests name the bare repo late.
        self.git_dir = git_dir
        self.pending = sorted(effects, key=lambda e: e["after"])
        self.played = 0

    @classmethod
    def load(cls, cassette_path: str, git_dir: str | Callable[[], str]) -> GitEffects | None:
        from pathlib import Path

        import yaml

        side = Path(str(cassette_path).removesuffix(".yaml") + EFFECTS_SUFFIX)
        if not side.exists():
            return None
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when PyYAML has it
        return cls(git_dir, yaml.load(side.read_text(), Loader=loader) or [])  # noqa: S506 (safe)

    def attach(self, cassette: Any) -> None:
        """Wrap ``cassette.play_response`` so each effect runs right after its interaction."""
        original = cassette.play_response

        def play_response(request: Any) -> Any:
            response = original(request)
            self.played += 1
            while self.pending and self.pending[0]["after"] <= self.played:
                effect = self.pending.pop(0)
                git_dir = self.git_dir() if callable(self.git_dir) else self.git_dir
                server_git(git_dir, effect["op"], effect["args"])
            return response

        cassette.play_response = play_response

"""Server-side git effects: what GitHub does to the repo, made reproducibly on the bare repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mlops_setup.replay import GitEffects, server_git


def bare_with_master(tmp_path, name="up.git"):
    git_dir = tmp_path / name
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(git_dir)], check=True
    )
    server_git(str(git_dir), "update_ref", {"ref": "main", "sha": _root_commit(git_dir)})
    return git_dir


def _root_commit(git_dir):
    from mlops_setup.replay import _server_git

    tree = _server_git(str(git_dir), "mktree", stdin="")
    return _server_git(str(git_dir), "commit-tree", tree, "-m", "root")


def test_commit_and_merge_are_reproducible(tmp_path):
    shas = []
    for name in ("a.git", "b.git"):
        git_dir = bare_with_master(tmp_path, name)
        head = server_git(
            str(git_dir),
            "commit_files",
            {
                "branch": "feature",
                "parent": "main",
                "files": {"x/y.yml": "on: push\n"},
                "message": "add y",
            },
        )["sha"]
        merged = server_git(
            str(git_dir),
            "merge",
            {"base": "main", "head": "feature", "message": "Merge", "method": "merge"},
        )["sha"]
        shas.append((head, merged))
        files = subprocess.run(
            ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert files.split() == ["x/y.yml"]
    assert shas[0] == shas[1]


def _plumbing_server_git(git_dir, op, args):
    """server_git as it was written before fast-import, one plumbing command a step (rev-parse,
    read-tree, hash-object and update-index a file, write-tree, commit-tree, update-ref): the
    reference the one-process version must match SHA for SHA, since recorded cassettes name
    the SHAs these commands made."""
    import tempfile

    from mlops_setup.replay import _server_git

    if op in ("update_ref", "delete_ref"):
        return server_git(git_dir, op, args)  # one update-ref either way
    if op == "commit_files":
        parent = _server_git(git_dir, "rev-parse", f"refs/heads/{args['parent']}")
        with tempfile.TemporaryDirectory() as tmp:
            index = {"GIT_INDEX_FILE": f"{tmp}/index"}
            _server_git(git_dir, "read-tree", parent, env=index)
            for path, text in sorted(args["files"].items()):
                blob = _server_git(git_dir, "hash-object", "-w", "--stdin", stdin=text)
                info = f"100644,{blob},{path}"
                _server_git(git_dir, "update-index", "--add", "--cacheinfo", info, env=index)
            tree = _server_git(git_dir, "write-tree", env=index)
        sha = _server_git(git_dir, "commit-tree", tree, "-p", parent, "-m", args["message"])
        _server_git(git_dir, "update-ref", f"refs/heads/{args['branch']}", sha)
        return {"sha": sha}
    assert op == "merge"
    base = _server_git(git_dir, "rev-parse", f"refs/heads/{args['base']}")
    head = _server_git(git_dir, "rev-parse", args["head"])
    tree = _server_git(git_dir, "merge-tree", "--write-tree", base, head).splitlines()[0]
    parents = ["-p", base, "-p", head] if args.get("method", "merge") == "merge" else ["-p", base]
    sha = _server_git(git_dir, "commit-tree", tree, *parents, "-m", args["message"])
    _server_git(git_dir, "update-ref", f"refs/heads/{args['base']}", sha)
    return {"sha": sha}


def test_each_effect_makes_the_commits_and_refs_the_plumbing_steps_made(tmp_path):
    """Every kind of effect, by server_git and by the plumbing steps it replaces, on two repos
    from the same start: the same answers (SHAs) after each, the same refs at the end. Covers a
    file replaced and files added in new folders, a branch made from another and one moved off
    its own line (forced), texts and messages in UTF-8, with and without a final line end, a
    path with spaces and one fast-import must quote, a merge of a branch name and of a SHA, the
    squash and rebase methods, a ref moved and deleted."""
    from mlops_setup.replay import _server_git

    steps = [
        (
            "commit_files",
            {
                "branch": "main",
                "parent": "main",
                "message": "one file",
                "files": {"README.md": "# été\n"},
            },
        ),
        (
            "commit_files",
            {
                "branch": "feature",
                "parent": "main",
                "message": "Add CI\n\nWith a body, ending in a line end.\n",
                "files": {
                    "README.md": "# replaced",
                    ".github/workflows/a b.yml": "on: push\n",
                    "x/y/z.txt": "no final line end",
                    '"quoted\\name.txt': "q\n",
                },
            },
        ),
        (
            "commit_files",
            {
                "branch": "other",
                "parent": "main",
                "message": "other side",
                "files": {"docs/other.md": "other\n"},
            },
        ),
        (
            "merge",
            {
                "base": "main",
                "head": "feature",
                "message": "Merge pull request #1 from acme/feature\n\nAdd CI",
                "method": "merge",
            },
        ),
        (
            "commit_files",
            {
                "branch": "feature",
                "parent": "other",
                "message": "moved (forced)",
                "files": {"docs/forced.md": "again\n"},
            },
        ),
        (
            "merge",
            {"base": "main", "head": "@feature", "message": "Squashed (#2)", "method": "squash"},
        ),
        (
            "merge",
            {
                "base": "other",
                "head": "refs/heads/main",
                "message": "rebased (#3)",
                "method": "rebase",
            },
        ),
        ("update_ref", {"ref": "release", "sha": "@other"}),
        ("delete_ref", {"ref": "feature"}),
    ]
    fast, plumbing = bare_with_master(tmp_path, "fast.git"), bare_with_master(tmp_path, "p.git")
    for op, args in steps:
        answers = []
        for git_dir, apply in ((fast, server_git), (plumbing, _plumbing_server_git)):
            resolved = {  # "@name": that branch's SHA, as a cassette's effect names it
                k: _server_git(str(git_dir), "rev-parse", f"refs/heads/{v[1:]}")
                if isinstance(v, str) and v.startswith("@")
                else v
                for k, v in args.items()
            }
            answers.append(apply(str(git_dir), op, resolved))
        assert answers[0] == answers[1], (op, args)
    refs = [
        _server_git(str(d), "for-each-ref", "--format=%(refname) %(objectname)")
        for d in (fast, plumbing)
    ]
    assert refs[0] == refs[1]
    assert [line.split()[0] for line in refs[0].splitlines()] == [
        "refs/heads/main",
        "refs/heads/other",
        "refs/heads/release",
    ]
    tree = _server_git(str(fast), "ls-tree", "-r", "--name-only", "-z", "main").split("\0")
    assert '"quoted\\name.txt' in tree and ".github/workflows/a b.yml" in tree


def test_effects_run_after_their_interaction(tmp_path):
    git_dir = bare_with_master(tmp_path)
    main = subprocess.run(
        ["git", "--git-dir", str(git_dir), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    effects = GitEffects(
        str(git_dir), [{"after": 2, "op": "update_ref", "args": {"ref": "release", "sha": main}}]
    )

    class Cassette:
        def play_response(self, request):
            return request

    cassette = Cassette()
    effects.attach(cassette)
    cassette.play_response("first")
    assert not (git_dir / "refs" / "heads" / "release").exists()
    cassette.play_response("second")
    assert (git_dir / "refs" / "heads" / "release").read_text().strip() == main


def test_scrub_covers_json_and_form_bodies():
    from mlops_setup.replay import PLACEHOLDER, scrub_text

    assert scrub_text('{"token_value":"x1","token_info":{"comment":"c"}}') == (
        '{"token_value":"' + PLACEHOLDER + '","token_info":{"comment":"c"}}'
    )
    assert "RT123" not in scrub_text('{"refresh_token":"RT123","id_token":"IT"}')
    form = scrub_text(b"grant_type=client_credentials&client_secret=S3CR3T&scope=all-apis")
    assert b"S3CR3T" not in form and b"grant_type=client_credentials" in form
    assert scrub_text("plain text = not a form\nline two") == "plain text = not a form\nline two"
    assert scrub_text(b"\x00\x01") == b"\x00\x01"


FORM_URI = "https://accounts.cloud.databricks.com/oidc/accounts/a/v1/token"


def test_the_cassette_index_finds_what_vcrpy_finds():
    """replay.index_cassette is only a faster look-up: for every recorded request, and for
    near misses of it (another body, query, method, host), the indexed cassette yields the same
    (index, response) pairs in the same order as vcrpy's scan of every interaction."""
    from pathlib import Path

    from vcr.cassette import Cassette
    from vcr.request import Request

    from mlops_setup.replay import index_cassette, make_vcr

    cassettes = Path(__file__).parent / "cassettes"
    # every route asked more than once (a plan run twice), and the same routes with other
    # bodies (tokens created, secrets written, tokens revoked)
    chosen = [
        cassettes / "test_setup/test_plan_on_a_fresh_world_reads_only.yaml",
        cassettes / "test_ci_secrets/test_rotate_writes_new_tokens_before_revoking_the_old.yaml",
    ]
    for path in chosen:
        with make_vcr(str(path.parent)).use_cassette(path.name) as cassette:
            asked = []
            for stored, _ in cassette.data:
                asked.append(stored)
                asked.append(Request(stored.method, stored.uri, b'{"other": 1}', stored.headers))
                asked.append(Request(stored.method, stored.uri + "?x=1", stored.body, {}))
                asked.append(Request("PATCH", stored.uri, stored.body, {}))
                other_host = stored.uri.replace("://", "://other.", 1)
                asked.append(Request(stored.method, other_host, stored.body, {}))
                # what only recording filters: secret headers (never compared)
                secret = {"Authorization": "Bearer dapi-secret", "Cookie": "s=1"}
                asked.append(Request(stored.method, stored.uri, stored.body, secret))
            # bodies the filter changes before they are compared: a secret in a form and in
            # JSON (scrubbed to the placeholder the recorded ones hold), and not a secret
            asked.append(Request("POST", FORM_URI, b"client_secret=S3CR3T&grant_type=x", {}))
            asked.append(Request("POST", FORM_URI, b'{"client_secret": "S3CR3T"}', {}))
            asked.append(Request("POST", FORM_URI, b"grant_type=x", {}))
            scanned = [list(Cassette._responses(cassette, r)) for r in asked]
            playable = [bool(Cassette.can_play_response_for(cassette, r)) for r in asked]
            assert index_cassette(cassette), f"{path.name}: the index was not installed"
            indexed = [list(cassette._responses(r)) for r in asked]
            assert indexed == scanned, path.name
            assert [bool(cassette.can_play_response_for(r)) for r in asked] == playable
            assert sum(map(len, indexed)) >= len(cassette.data)  # every request found itself


# ------------------------------------------------------------- the replay's per-request costs


def test_the_environ_proxies_shortcut_answers_as_requests_does(monkeypatch):
    """tests/conftest.py's shortcut for requests' proxy look-up is installed in this run, takes
    the short way only in an environment that names no proxy, and gives requests' own answer
    (or error) for every environment and URL tried here."""
    import os

    import requests.sessions

    shortcut = requests.sessions.get_environ_proxies
    original = getattr(shortcut, "original", None)
    assert original is not None, "the shortcut is not installed: replayed requests scan os.environ"
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    urls = [
        "https://api.github.com/repos/acme/r",
        "https://dbc-1234abcd-5678.cloud.databricks.com:443/api/2.0/preview/scim/v2/Me",
        "http://127.0.0.1:8080/api/v3/user",
        "file:///tmp/x",
    ]
    envs = [
        {},
        {"HTTPS_PROXY": "http://proxy.corp.example:3128"},
        {"https_proxy": "http://lower.example:3128", "HTTPS_PROXY": "http://upper.example:1"},
        {"HTTPS_PROXY": "http://proxy.corp.example:3128", "NO_PROXY": "api.github.com"},
        {"ALL_PROXY": "socks5://s.example:1080", "no_proxy": ".databricks.com"},
        {"NO_PROXY": "*"},
        {"HTTP_PROXY": "http://cgi.example:1", "REQUEST_METHOD": "GET"},
        {"Weird_Proxy": "http://w.example:2"},
    ]
    for env in envs:
        with monkeypatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            for url in urls:
                for no_proxy in (None, "github.com,127.0.0.1"):
                    assert shortcut(url, no_proxy) == original(url, no_proxy), (env, url, no_proxy)
    # a malformed URL fails the same way on both paths
    with pytest.raises(ValueError):
        original("https://[::1/x")
    with pytest.raises(ValueError):
        shortcut("https://[::1/x")
    # and a session sees a proxy the operator exported, through the shortcut
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    settings = requests.Session().merge_environment_settings(
        "https://api.github.com/user", {}, None, None, None
    )
    assert settings["proxies"]["https"] == "http://proxy.corp.example:3128"


def test_the_environ_proxies_shortcut_skips_the_scan_without_proxies(monkeypatch):
    """With no proxy variable the shortcut answers without requests' code (the saving), and
    with one it always asks requests' code."""
    import os

    import requests.sessions

    shortcut = requests.sessions.get_environ_proxies
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    asked = []
    original = shortcut.original

    def spy(url, no_proxy=None):
        asked.append(url)
        return original(url, no_proxy)

    # the closure reads the original through its cell: replace the cell's content for the test
    cell = next(
        c
        for name, c in zip(shortcut.__code__.co_freevars, shortcut.__closure__, strict=True)
        if name == "original"
    )
    monkeypatch.setattr(cell, "cell_contents", spy)
    assert shortcut("https://api.github.com/user") == {}
    assert asked == []
    monkeypatch.setenv("https_proxy", "http://proxy.corp.example:3128")
    assert shortcut("https://api.github.com/user") == {"https": "http://proxy.corp.example:3128"}
    assert asked == ["https://api.github.com/user"]
    assert shortcut("https://api.github.com/user", "example.com")["https"]
    assert len(asked) == 2


def test_absent_http_libraries_fail_to_import_at_once():
    """The libraries vcrpy tries to patch and this environment lacks are marked absent (the
    same ImportError, without a search of sys.path); the installed ones are untouched."""
    import importlib
    import sys

    from tests.conftest import VCR_PATCH_TARGETS

    for name in VCR_PATCH_TARGETS:
        if sys.modules.get(name, "unset") is None:
            with pytest.raises(ImportError):
                importlib.import_module(name)
        else:
            assert importlib.import_module(name) is not None, name
    marked = [n for n in VCR_PATCH_TARGETS if sys.modules.get(n, "unset") is None]
    assert marked, "nothing marked absent: every library vcrpy patches is installed?"
    assert "httpx" not in marked  # installed (GitHubKit's client): vcrpy patches it


# ------------------------------------------------------------------ parsed cassettes, cached

CASSETTES = Path(__file__).parent / "cassettes"
A_CASSETTE = CASSETTES / "test_setup" / "test_plan_on_a_fresh_world_reads_only.yaml"


def test_a_cached_parse_is_the_parse_of_that_very_text(tmp_path):
    """The cache gives back what vcrpy's own parse gives for the same text, without parsing
    again; a text changed by one character is parsed afresh, never served an older parse."""
    from vcr.serializers import yamlserializer

    from tests.parsecache import ParseCache

    text = A_CASSETTE.read_text(encoding="utf-8")
    parsed: list[str] = []

    def parse(t):
        parsed.append(t)
        return yamlserializer.deserialize(t)

    cache = ParseCache(tmp_path)
    first = cache.load(text, parse, "vcr-yaml")
    again = ParseCache(tmp_path).load(text, parse, "vcr-yaml")  # another process, same folder
    assert again == first == yamlserializer.deserialize(text)
    assert len(parsed) == 1
    assert [type(i["request"]["body"]) for i in again["interactions"]] == [
        type(i["request"]["body"]) for i in first["interactions"]
    ]
    uri = first["interactions"][0]["request"]["uri"]
    changed = text.replace(uri, uri + "?page=2", 1)
    assert changed != text
    fresh = cache.load(changed, parse, "vcr-yaml")
    assert fresh["interactions"][0]["request"]["uri"] == uri + "?page=2"
    assert len(parsed) == 2
    # another parser's result is another entry
    cache.load(text, lambda t: {"other": True}, "other-kind")
    assert cache.load(text, parse, "vcr-yaml") == first


def test_the_parse_cache_survives_bad_entries_and_bad_text(tmp_path):
    import yaml

    from tests.parsecache import ParseCache

    cache = ParseCache(tmp_path)
    text = "interactions: []\nversion: 1\n"
    path = cache.path_for(text, "k")
    path.write_bytes(b"\x00not marshal")  # a torn or foreign entry: parsed again, rewritten
    assert cache.load(text, yaml.safe_load, "k") == {"interactions": [], "version": 1}
    assert cache.load(text, lambda t: 1 / 0, "k") == {"interactions": [], "version": 1}
    with pytest.raises(yaml.YAMLError):  # a text that does not parse still fails, every time
        cache.load("a: [", yaml.safe_load, "k")
    assert cache.path_for("a: [", "k").exists() is False
    from io import BytesIO

    assert isinstance(cache.load("x", lambda t: BytesIO(b"b"), "k"), BytesIO)  # not storable
    assert not cache.path_for("x", "k").exists()
    assert ParseCache(None).load(text, yaml.safe_load, "k") == {"interactions": [], "version": 1}


def test_the_parse_cache_is_private_and_pruned(tmp_path, monkeypatch):
    import os
    import tempfile
    import time

    from tests.parsecache import KEEP_DAYS, ParseCache

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cache = ParseCache.in_temp_dir()
    assert cache.folder is not None
    assert cache.folder.stat().st_mode & 0o077 == 0
    cache.load("a: 1", lambda t: {"a": 1}, "k")
    cache.load("b: 1", lambda t: {"b": 1}, "k")
    old = cache.path_for("a: 1", "k")
    long_ago = time.time() - (KEEP_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    assert cache.prune() == 1
    assert not old.exists() and cache.path_for("b: 1", "k").exists()
    # a folder others may write to is not used
    cache.folder.chmod(0o777)
    assert ParseCache.in_temp_dir().folder is None


def test_replay_parses_cassettes_through_the_cache():
    """The VCR the tests replay with reads YAML through tests/parsecache.py and writes it as
    vcrpy does (the cassette's text format is unchanged)."""
    import vcr
    from vcr.serializers import yamlserializer

    from tests.conftest import pytest_recording_configure
    from tests.parsecache import CACHED_YAML_SERIALIZER, cache

    player = vcr.VCR()
    pytest_recording_configure(None, player)
    assert player.serializers["yaml"] is CACHED_YAML_SERIALIZER
    data = CACHED_YAML_SERIALIZER.deserialize(A_CASSETTE.read_text(encoding="utf-8"))
    assert CACHED_YAML_SERIALIZER.serialize(data) == yamlserializer.serialize(data)
    assert cache().path_for(A_CASSETTE.read_text(encoding="utf-8"), "vcr-yaml").exists()


def test_the_parse_cache_on_disk_keeps_only_committed_cassette_texts(tmp_path, monkeypatch):
    """What the process's cache writes to disk is the parse of a cassette text committed in
    tests/cassettes, nothing else: a cassette a test writes (a recording, a conformance
    sample) is parsed as before and leaves nothing in the temporary directory."""
    import tempfile

    from tests import conformance, parsecache

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(parsecache, "_CACHE", None)  # this process's cache, made afresh
    folder = tmp_path / "tmp" / f"{parsecache.FOLDER_NAME}-{__import__('os').getuid()}"
    committed = A_CASSETTE.read_text(encoding="utf-8")
    written = tmp_path / "written.yaml"
    written.write_text(committed.replace("acme", "someone-else"), encoding="utf-8")
    assert parsecache.CACHED_YAML_SERIALIZER.deserialize(written.read_text(encoding="utf-8"))
    assert conformance.check_cassette(written) == []
    assert parsecache.cache().folder == folder
    assert sorted(folder.iterdir()) == []
    parsecache.CACHED_YAML_SERIALIZER.deserialize(committed)
    assert conformance.check_cassette(A_CASSETTE) == []
    assert len(list(folder.iterdir())) == 2  # the vcrpy parse and the conformance parse


def _cassette_file(folder, pairs):
    """A cassette at ``folder/c.yaml`` holding ``pairs`` of (vcr Request, response dict)."""
    from vcr.serialize import serialize
    from vcr.serializers import yamlserializer

    text = serialize(
        {"requests": [q for q, _ in pairs], "responses": [r for _, r in pairs]}, yamlserializer
    )
    (folder / "c.yaml").write_text(text, encoding="utf-8")
    return "c.yaml"


def _answer(body: str) -> dict:
    return {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"]},
        "body": {"string": body},
    }


def test_replay_compares_scrubbed_bodies_and_records_no_secret(tmp_path):
    """In replay the look-ups skip the header filters (never compared) but still scrub bodies:
    a request with a secret in its form or JSON body finds the recorded, scrubbed one, as
    vcrpy's whole filter finds it; and what a cassette would record still goes through the
    whole filter: no Authorization or Cookie header, no secret in a body."""
    import json
    from urllib.parse import urlencode

    from vcr.request import Request

    from mlops_setup.replay import PLACEHOLDER, index_cassette, make_vcr

    form = urlencode([("client_secret", PLACEHOLDER), ("grant_type", "client_credentials")])
    name = _cassette_file(
        tmp_path,
        [
            (Request("POST", FORM_URI, form, {}), _answer('{"access_token":"x"}')),
            (
                Request("POST", FORM_URI, json.dumps({"client_secret": PLACEHOLDER}), {}),
                _answer("{}"),
            ),
        ],
    )
    secret = {"Authorization": "Bearer dapi-secret", "Cookie": "s=1"}
    asked = [
        Request("POST", FORM_URI, b"client_secret=S3CR3T&grant_type=client_credentials", secret),
        Request("POST", FORM_URI, b'{"client_secret": "S3CR3T"}', secret),
    ]
    with make_vcr(str(tmp_path)).use_cassette(name) as cassette:
        assert index_cassette(cassette)
        assert [i for r in asked for i, _ in cassette._responses(r)] == [0, 1]
        assert all(cassette.can_play_response_for(r) for r in asked)
        # recording, were it to happen, filters as vcrpy does
        cassette.append(asked[0], _answer("{}") | {"headers": {"Set-Cookie": ["s=2"]}})
        recorded, response = cassette.data[-1]
        assert "authorization" not in {k.lower() for k in recorded.headers}
        assert "cookie" not in {k.lower() for k in recorded.headers}
        assert b"S3CR3T" not in recorded.body
        assert recorded.body == form.encode()  # the placeholder, form-encoded
        assert "Set-Cookie" not in response["headers"]
        cassette.data.pop()  # record mode none: nothing is written; keep the cassette as it was
        cassette.dirty = False
    # a request the cassette does not hold is refused as before
    with make_vcr(str(tmp_path)).use_cassette(name) as cassette:
        assert index_cassette(cassette)
        other = Request("POST", FORM_URI, b"client_secret=S3CR3T&grant_type=password", secret)
        assert not cassette.can_play_response_for(other)


def test_the_match_filter_falls_back_to_vcrpys_for_other_filters(tmp_path):
    """A VCR with a filter the look-ups cannot leave out (query parameters) keeps vcrpy's whole
    filter for them."""
    import vcr

    from mlops_setup.replay import _match_filter, make_vcr

    plain = make_vcr(str(tmp_path))
    with plain.use_cassette(str(tmp_path / "p.yaml"), record_mode="none") as cassette:
        assert _match_filter(cassette._before_record_request) is not cassette._before_record_request
    other = vcr.VCR(
        filter_query_parameters=["token"], before_record_request=lambda r: r, match_on=["method"]
    )
    with other.use_cassette(str(tmp_path / "q.yaml"), record_mode="none") as cassette:
        assert _match_filter(cassette._before_record_request) is cassette._before_record_request


def test_the_fakes_cat_file_reads_what_rev_parse_ls_tree_and_show_read(tmp_path):
    """tests/fakeapi reads the stand-in upstream through one ``git cat-file --batch``
    (github_repos.CatFile) where it ran rev-parse, ls-tree and a show a file: same SHAs, same
    texts (universal newlines, stripped), the same misses."""
    from tests.fakeapi import World
    from tests.fakeapi.github_repos import CatFile, git

    git_dir = bare_with_master(tmp_path)
    world = World(gh={"git_dir": str(git_dir)})
    files = {
        ".github/workflows/a.yml": "name: A\r\non: push\r\n\n",
        ".github/workflows/b.yaml": "  name: B\n",
        ".github/workflows/c.txt": "not a workflow\n",
        ".github/workflows/nested/d.yml": "name: D\n",
        "README.md": "# r\n",
    }
    args = {"branch": "main", "parent": "main", "files": files, "message": "m"}
    head = server_git(str(git_dir), "commit_files", args)["sha"]
    wanted = {
        path: git(world, "show", f"refs/heads/main:{path}", check=True)
        for path in git(
            world, "ls-tree", "--name-only", "refs/heads/main", ".github/workflows/"
        ).splitlines()
        if path.endswith((".yml", ".yaml"))
    }
    assert list(wanted) == [".github/workflows/a.yml", ".github/workflows/b.yaml"]
    with CatFile(world) as objects:
        assert objects.folder("refs/heads/main", ".github/workflows/", (".yml", ".yaml")) == wanted
        assert objects.folder(head, ".github/workflows", (".yml", ".yaml")) == wanted
        assert objects.folder("refs/heads/nope", ".github/workflows", (".yml",)) == {}
        assert objects.folder(head, "missing", (".yml",)) == {}
        assert objects.commit("refs/heads/nope", "refs/nope", "main") == head
        assert objects.commit("refs/heads/nope", head[:12]) == head
        assert objects.commit("nope", "README.md", "has space") is None
        blob = objects.get(f"{head}:README.md")
        assert blob == (git(world, "rev-parse", f"{head}:README.md"), "blob", b"# r\n")
        assert objects.get(f"{head}:no such file") is None
        assert objects.get("") is None and objects.get("main\nmain") is None

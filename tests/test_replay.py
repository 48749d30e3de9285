"""Server-side git effects: what GitHub does to the repo, made reproducibly on the bare repo."""

from __future__ import annotations

import subprocess

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
            scanned = [list(Cassette._responses(cassette, r)) for r in asked]
            assert index_cassette(cassette), f"{path.name}: the index was not installed"
            indexed = [list(cassette._responses(r)) for r in asked]
            assert indexed == scanned, path.name
            assert sum(map(len, indexed)) >= len(cassette.data)  # every request found itself

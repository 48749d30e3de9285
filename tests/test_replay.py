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

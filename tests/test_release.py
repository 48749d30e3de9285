"""Guide section "Create release branch": release.branch (``invoke release``)."""

from __future__ import annotations

import pytest

from tests.conftest import mutating
from tests.test_repo import change_lines

REFS = "https://api.github.com/repos/acme/my-mlops-project/git/refs"


def _repo_pushed(cli) -> None:
    result = cli("repo")
    assert result.code == 0, result.err


def _commit_on_master(project, name: str = "CHANGELOG.md", text: str = "v2\n") -> str:
    (project.root / name).write_text(text)
    project.git("add", name)
    project.git("commit", "--quiet", "-m", f"Change {name}")
    project.git("push", "--quiet", "upstream", "main")
    return project.upstream_git("rev-parse", "main")


@pytest.mark.vcr
def test_fresh_run_creates_release_from_master(cli, project, world, http):
    _repo_pushed(cli)
    main = project.upstream_git("rev-parse", "main")
    result = cli("release")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        f"create branch release on acme/my-mlops-project (from main at {main[:7]})"
    ]
    assert "a push to release deploys the bundle to prod" in result.out
    assert mutating(http()) == ["POST https://api.github.com/orgs/acme/repos", f"POST {REFS}"]
    assert project.upstream_git("rev-parse", "release") == main


@pytest.mark.vcr
def test_rerun_changes_nothing(cli, project, world, http):
    _repo_pushed(cli)
    assert cli("release").code == 0
    sent = len(mutating(http()))
    main = project.upstream_git("rev-parse", "main")
    again = cli("release")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert f"ok  branch release is at main ({main[:7]})" in again.out
    assert "release.branch: no changes" in again.out
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    _repo_pushed(cli)
    sent = len(mutating(http()))
    plan = cli("release", "--dry-run")
    assert plan.code == 0, plan.err
    assert len(mutating(http())) == sent
    assert project.upstream_git("branch", "--list", "release") == ""
    assert "release.branch: 1 to add, 0 to change, 0 to destroy" in plan.out
    applied = cli("release")
    assert change_lines(plan.out) == change_lines(applied.out) != []


@pytest.mark.vcr
def test_release_behind_is_reported_not_moved(cli, project, world, http):
    _repo_pushed(cli)
    assert cli("release").code == 0
    old = project.upstream_git("rev-parse", "release")
    new = _commit_on_master(project)
    sent = len(mutating(http()))
    result = cli("release")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert (
        f"!   branch release is 1 commit behind main: prod runs older code "
        f"({old[:7]} < {new[:7]})" in result.out
    )
    assert "`invoke release --update`" in result.out
    assert len(mutating(http())) == sent
    assert project.upstream_git("rev-parse", "release") == old


@pytest.mark.vcr
def test_update_fast_forwards_release(cli, project, world, http):
    _repo_pushed(cli)
    assert cli("release").code == 0
    old = project.upstream_git("rev-parse", "release")
    _commit_on_master(project, "a.txt", "a\n")
    new = _commit_on_master(project, "b.txt", "b\n")
    sent = len(mutating(http()))
    plan = cli("release", "--update", "--dry-run")
    assert plan.code == 0, plan.err
    assert len(mutating(http())) == sent
    applied = cli("release", "--update")
    assert applied.code == 0, applied.err
    expected = f"fast-forward branch release to main ({old[:7]}..{new[:7]}, 2 commits)"
    assert change_lines(plan.out) == change_lines(applied.out) == [expected]
    assert mutating(http())[sent:] == [f"PATCH {REFS}/heads/release"]
    assert project.upstream_git("rev-parse", "release") == new
    assert change_lines(cli("release", "--update").out) == []  # done: nothing more


@pytest.mark.vcr
def test_diverged_release_is_never_forced(cli, project, world, http, tmp_path):
    _repo_pushed(cli)
    assert cli("release").code == 0
    hotfix = tmp_path / "hotfix"
    project.git("clone", "--quiet", "--branch", "release", str(project.upstream), str(hotfix))
    (hotfix / "HOTFIX.md").write_text("fixed in prod\n")
    project.git("add", "HOTFIX.md", cwd=hotfix)
    project.git("commit", "--quiet", "-m", "Hotfix", cwd=hotfix)
    project.git("push", "--quiet", "origin", "release", cwd=hotfix)
    release = project.upstream_git("rev-parse", "release")
    _commit_on_master(project)
    sent = len(mutating(http()))
    result = cli("release", "--update")
    assert result.code == 1
    assert (
        "error: branches release and main have diverged: release has 1 commit main "
        "lacks, main has 1 commit release lacks; a fast-forward is impossible"
    ) in result.err
    assert "we never force-push" in result.err
    assert len(mutating(http())) == sent
    assert project.upstream_git("rev-parse", "release") == release
    report = cli("release")  # without --update: reported, exit 0
    assert report.code == 0
    assert "have diverged" in report.out


@pytest.mark.vcr
def test_release_needs_master_on_github(cli, project, world, http):
    assert cli("repo.create").code == 0
    result = cli("release")
    assert result.code == 1
    assert "acme/my-mlops-project has no branch main on GitHub" in result.err
    assert "run `invoke repo`" in result.err
    assert mutating(http()) == ["POST https://api.github.com/orgs/acme/repos"]


@pytest.mark.vcr
def test_token_without_push_right_is_explained(cli, project, world, http):
    _repo_pushed(cli)
    world.gh["refs_forbidden"] = {"acme/my-mlops-project"}
    result = cli("release")
    assert result.code == 1
    assert (
        "error: GitHub refused to create branch release on acme/my-mlops-project (403): "
        "Resource not accessible by personal access token"
    ) in result.err
    assert "Contents read and write" in result.err
    assert project.upstream_git("branch", "--list", "release") == ""

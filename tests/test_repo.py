"""Guide section "Create a hosted Git repo": repo.create, repo.init, repo.push."""

from __future__ import annotations

import pytest

from mlops_setup.changes import SetupError
from tests.conftest import FAKE_VALUES, change_lines, mutating
from tests.fakeapi import github_repos

DOC_PATHS = [
    ".gitignore",
    "README.md",
    "docs/images/mlops-stack-deploy.png",
    "docs/images/mlops-stack-summary.png",
    "docs/ml-pull-request.md",
    "docs/mlops-setup.md",
    "my_mlops_project/resources/README.md",
]


@pytest.mark.vcr
def test_fresh_setup_creates_repo_and_pushes_docs(cli, project, world, http):
    result = cli("repo")
    assert result.code == 0, result.err
    assert change_lines(result.out) == [
        "create GitHub repo acme/my-mlops-project (private, in organisation)",
        "init git repository in my-mlops-project (branch main)",
        "add remote upstream -> upstream.git",
        "exclude /.mlops-setup/ from git (the tool's local journal, in .git/info/exclude)",
        "commit README.md, docs, .gitignore, my_mlops_project/resources/README.md "
        "(first commit on main)",
        "push main to upstream (upstream.git)",
    ]
    assert mutating(http()) == ["POST https://api.github.com/orgs/acme/repos"]
    # exactly the doc paths are on main upstream, nothing else of the project
    files = project.upstream_git("ls-tree", "-r", "--name-only", "main").splitlines()
    assert files == DOC_PATHS
    git_config = (project.root / ".git" / "config").read_text()
    assert not any(v in git_config for v in FAKE_VALUES)
    assert "extraheader" not in git_config.lower()


@pytest.mark.vcr
def test_rerun_changes_nothing(cli, project, world, http):
    first = cli("repo")
    assert first.code == 0, first.err
    sent_before = len(mutating(http()))
    head = project.upstream_git("rev-parse", "main")
    second = cli("repo")
    assert second.code == 0, second.err
    assert change_lines(second.out) == []
    assert "repo.push: no changes" in second.out
    assert len(mutating(http())) == sent_before  # no mutating request on the re-run
    assert project.upstream_git("rev-parse", "main") == head
    assert project.git("rev-list", "--count", "HEAD") == "1"


@pytest.mark.vcr
def test_dry_run_lists_exactly_what_apply_does(cli, project, world, http):
    plan = cli("repo.create", "--dry-run")
    assert plan.code == 0, plan.err
    assert mutating(http()) == []
    assert not (project.root / ".git").exists()
    applied = cli("repo.create")
    assert change_lines(plan.out) == change_lines(applied.out) != []
    assert "1 to add, 0 to change, 0 to destroy" in plan.out


@pytest.mark.vcr
def test_existing_repo_is_left_alone(cli, project, world, http):
    github_repos.add_repo(world, "acme/my-mlops-project", private=False)
    result = cli("repo.create")
    assert result.code == 0, result.err
    assert "ok  GitHub repo acme/my-mlops-project exists (public)" in result.out
    assert "is public but the config asks for private; left as it is" in result.out
    assert mutating(http()) == []


@pytest.mark.vcr
def test_permission_denied_is_explained(cli, project, world, http):
    world.gh["create_denied"] = {"acme"}
    result = cli("repo.create")
    assert result.code == 1
    assert "GitHub refused to create acme/my-mlops-project (403)" in result.err
    assert "ask an owner of acme for the right to create repositories" in result.err
    assert "Traceback" not in result.err


def test_init_refuses_to_repoint_a_remote(cli, project):
    project.git("init", "--quiet", "--initial-branch=main")
    project.git("remote", "add", "upstream", "https://github.com/someone/else.git")
    result = cli("repo.init")
    assert result.code == 1
    assert "remote upstream points at https://github.com/someone/else.git" in result.err
    assert project.git("remote", "get-url", "upstream") == "https://github.com/someone/else.git"


def test_init_refuses_a_credential_in_the_remote_url(cli, project):
    project.git("init", "--quiet", "--initial-branch=main")
    project.git("remote", "add", "upstream", "https://x:secretvalue@github.com/acme/r.git")
    result = cli("repo.init")
    assert result.code == 1
    assert "credential inside its URL" in result.err
    assert "secretvalue" not in result.err + result.out


def _init_and_commit(cli, project):
    assert cli("repo.init").code == 0
    assert cli("repo.push").code == 0


def test_push_is_never_forced(cli, project, tmp_path):
    _init_and_commit(cli, project)
    project.commit_upstream("CHANGELOG.md", "someone else's commit\n", "other")
    upstream_head = project.upstream_git("rev-parse", "main")
    (project.root / "README.md").write_text("changed locally\n")
    result = cli("repo.push")
    assert result.code == 1
    assert "a push would not be a fast-forward" in result.err
    assert "never force-push" in result.err
    assert project.upstream_git("rev-parse", "main") == upstream_head


def test_unrelated_history_is_reported(cli, project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    project.git("init", "--quiet", "--initial-branch=main", cwd=other)
    (other / "x").write_text("x\n")
    project.git("add", "x", cwd=other)
    project.git("commit", "--quiet", "-m", "unrelated", cwd=other)
    project.git("push", "--quiet", str(project.upstream), "main", cwd=other)
    assert cli("repo.init").code == 0
    result = cli("repo.push")
    assert result.code == 1
    assert "the GitHub repo was not empty" in result.err
    assert not (project.root / ".git" / "refs" / "heads" / "main").exists()  # nothing committed


def test_push_commits_only_the_doc_paths(cli, project):
    _init_and_commit(cli, project)
    tracked = project.git("ls-files").splitlines()
    assert tracked == DOC_PATHS
    assert "my_mlops_project/databricks.yml" not in tracked
    (project.root / "docs" / "mlops-setup.md").write_text("edited\n")
    result = cli("repo.push")
    assert change_lines(result.out) == [
        "commit README.md, docs, .gitignore, my_mlops_project/resources/README.md "
        "(changes to on main)",
        "push main to upstream (upstream.git)",
    ]


def test_token_reaches_git_only_through_the_environment(project, runtime):
    from mlops_setup.session import load_session

    session = load_session()
    https = session.settings.model_copy(
        update={
            "github": session.settings.github.model_copy(
                update={"git_url": "https://github.com/acme/my-mlops-project.git"}
            )
        }
    )
    session.clients.settings = https
    env = session.clients.git_env()
    # scoped to the repo's URL: git sends it nowhere else
    assert env["GIT_CONFIG_KEY_0"] == (
        "http.https://github.com/acme/my-mlops-project.git.extraHeader"
    )
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert FAKE_VALUES[0] not in env["GIT_CONFIG_VALUE_0"]  # base64, never the raw token
    assert env["GIT_CONFIG_COUNT"] == "1"
    # the operator's own settings passed the same way are kept; ours is numbered after them
    theirs = {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "a.b", "GIT_CONFIG_KEY_1": "c.d"}
    after = session.clients.git_env(theirs)
    assert after["GIT_CONFIG_COUNT"] == "3" and "GIT_CONFIG_KEY_0" not in after
    assert after["GIT_CONFIG_KEY_2"] == env["GIT_CONFIG_KEY_0"]
    assert after["GIT_CONFIG_VALUE_2"] == env["GIT_CONFIG_VALUE_0"]
    with pytest.raises(SetupError, match="GIT_CONFIG_COUNT is 'two'"):
        session.clients.git_env({"GIT_CONFIG_COUNT": "two"})


def test_remote_operations_refuse_a_remote_that_is_not_the_configured_repo(cli, project):
    """The token goes with every fetch and push: never to a URL slipped into .git/config."""
    _init_and_commit(cli, project)
    project.git("remote", "set-url", "upstream", "http://127.0.0.1:9/elsewhere.git")
    (project.root / "README.md").write_text("changed\n")
    result = cli("repo.push")
    assert result.code == 1
    assert "remote upstream is not" in result.err
    assert "nothing was sent to it" in result.err


def test_rerun_when_github_is_ahead_changes_nothing(cli, project, tmp_path):
    """After later steps merge PRs on GitHub, a re-run of repo.push has nothing to do."""
    _init_and_commit(cli, project)
    project.commit_upstream("CHANGELOG.md", "merged on GitHub\n", "merged PR")
    upstream_head = project.upstream_git("rev-parse", "main")
    result = cli("repo.push")
    assert result.code == 0, result.err
    assert change_lines(result.out) == []
    assert "GitHub is ahead" in result.out
    assert project.upstream_git("rev-parse", "main") == upstream_head


def test_the_remote_url_is_read_once_until_a_command_may_change_it(tmp_path, monkeypatch):
    """gitops.Git asks git for a remote's URL once per session (a setup checks it before every
    fetch and push), and again after a command that may change it."""
    import subprocess
    from types import SimpleNamespace

    from mlops_setup.gitops import Git

    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)

    class Session(SimpleNamespace):
        def cached(self, key, load):
            if key not in self.cache:
                self.cache[key] = load()
            return self.cache[key]

    session = Session(
        settings=SimpleNamespace(project=SimpleNamespace(dir=tmp_path)), env={}, cache={}
    )
    git = Git(session)
    asked = []
    real = Git._run
    monkeypatch.setattr(
        Git, "_run", lambda self, args, remote: asked.append(args) or real(self, args, remote)
    )
    assert git.remote_url("upstream") is None
    assert git.remote_url("upstream") is None
    git.run("remote", "add", "upstream", "https://github.com/acme/x.git")
    assert git.remote_url("upstream") == "https://github.com/acme/x.git"
    assert git.remote_url("upstream") == "https://github.com/acme/x.git"
    git.run("remote", "set-url", "upstream", "https://github.com/acme/y.git")
    assert git.remote_url("upstream") == "https://github.com/acme/y.git"
    assert [a for a in asked if a[:2] == ("remote", "get-url")] == [
        ("remote", "get-url", "upstream")
    ] * 3


def _git_for(path, monkeypatch):
    """A gitops.Git on ``path`` (a bare session) and the list of git commands it runs."""
    from types import SimpleNamespace

    from mlops_setup.gitops import Git

    class Session(SimpleNamespace):
        def cached(self, key, load):
            if key not in self.cache:
                self.cache[key] = load()
            return self.cache[key]

    session = Session(settings=SimpleNamespace(project=SimpleNamespace(dir=path)), env={}, cache={})
    asked = []
    real = Git._run
    monkeypatch.setattr(
        Git, "_run", lambda self, args, remote: asked.append(args) or real(self, args, remote)
    )
    return (lambda: Git(session)), asked


def _plain(path, *args):
    import subprocess

    done = subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _commit(path, message):
    import subprocess

    subprocess.run(
        ["git", "commit", "--quiet", "--allow-empty", "-m", message], cwd=path, check=True
    )


def _answers(git, path):
    """What gitops.Git says, and what git says asked one question per process; HEAD's branch
    and commit also as ``Git.status`` reads them, which must agree."""
    refs = ["HEAD", "refs/heads/main", "refs/heads/feature/x", "refs/remotes/upstream/main"]
    ours = (git.current_branch(), *[git.rev(r) for r in refs])
    theirs = (
        _plain(path, "symbolic-ref", "--quiet", "--short", "HEAD"),
        *[_plain(path, "rev-parse", "--verify", "--quiet", f"{r}^{{commit}}") for r in refs],
    )
    with_status = type(git)(git.session)
    assert with_status.status() == []  # a clean tree
    assert (with_status.current_branch(), with_status.rev("HEAD")) == theirs[:2]
    return ours, theirs


def test_refs_are_read_once_per_step_and_agree_with_git(tmp_path, monkeypatch):
    """gitops.Git reads the branches, the remote-tracking refs and HEAD's branch with one
    ``for-each-ref`` (a step asked rev-parse and symbolic-ref once per ref); its answers are
    git's own in every state HEAD can be in: before the first commit, on a branch, on a branch
    with a slash, detached."""
    import subprocess

    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(tmp_path)], check=True)
    new_git, asked = _git_for(tmp_path, monkeypatch)
    ours, theirs = _answers(new_git(), tmp_path)
    assert ours == theirs == ("main", None, None, None, None)  # unborn main
    _commit(tmp_path, "first")
    first = _plain(tmp_path, "rev-parse", "HEAD")
    subprocess.run(
        ["git", "update-ref", "refs/remotes/upstream/main", first], cwd=tmp_path, check=True
    )
    subprocess.run(["git", "checkout", "--quiet", "-b", "feature/x"], cwd=tmp_path, check=True)
    _commit(tmp_path, "second")
    second = _plain(tmp_path, "rev-parse", "HEAD")
    asked.clear()
    git = new_git()
    ours, theirs = _answers(git, tmp_path)
    assert ours == theirs == ("feature/x", second, first, second, first)
    assert [a[0] for a in asked] == ["for-each-ref", "status"]  # one for all five answers
    subprocess.run(["git", "checkout", "--quiet", "--detach", "main"], cwd=tmp_path, check=True)
    ours, theirs = _answers(new_git(), tmp_path)
    assert ours == theirs == (None, first, first, second, first)


def test_refs_are_read_again_after_a_command_that_may_move_one(tmp_path, monkeypatch):
    """What the snapshot of the refs remembers is never stale: a command run through the same
    Git that may move a ref (commit, checkout, fetch, ...) drops it, and a branch someone else
    moved between two steps is seen by the next step's Git."""
    import subprocess

    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(tmp_path)], check=True)
    _commit(tmp_path, "first")
    new_git, asked = _git_for(tmp_path, monkeypatch)
    git = new_git()
    before = git.rev("HEAD")
    assert git.rev("refs/heads/main") == before
    git.run("commit", "--quiet", "--allow-empty", "-m", "second")  # through this Git
    after = git.rev("HEAD")
    assert after != before and after == _plain(tmp_path, "rev-parse", "HEAD")
    git.run("checkout", "--quiet", "-b", "other")
    assert git.current_branch() == "other"
    assert [a[0] for a in asked if a[0] != "commit" and a[0] != "checkout"] == ["for-each-ref"] * 3
    # between two steps, someone moves main and switches branch behind the tool's back
    subprocess.run(["git", "checkout", "--quiet", "main"], cwd=tmp_path, check=True)
    _commit(tmp_path, "a colleague's commit")
    moved = _plain(tmp_path, "rev-parse", "main")
    next_step = new_git()
    assert (next_step.current_branch(), next_step.rev("refs/heads/main")) == ("main", moved)
    assert moved != after
    # HEAD as status read it is dropped the same way
    next_step.status()
    was = next_step.rev("HEAD")
    next_step.run("commit", "--quiet", "--allow-empty", "-m", "third")
    assert next_step.rev("HEAD") == _plain(tmp_path, "rev-parse", "HEAD") != was


def test_status_lists_the_changes_of_the_paths_asked(tmp_path, monkeypatch):
    """Git.status: the changed and untracked files of the paths asked, one entry each (repo.push
    commits when its paths have any)."""
    import subprocess

    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(tmp_path)], check=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("a\n")
    (tmp_path / "other.txt").write_text("b\n")
    new_git, _ = _git_for(tmp_path, monkeypatch)
    assert new_git().status("docs") == ["? docs/a.md"]
    assert len(new_git().status()) == 2
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    _commit(tmp_path, "first")
    assert new_git().status("docs") == []
    (tmp_path / "docs" / "a.md").write_text("changed\n")
    assert [e.split(" ")[-1] for e in new_git().status("docs")] == ["docs/a.md"]


def test_a_colleagues_commit_is_the_one_a_clone_would_push(cli, project):
    """The fixture's commit_upstream writes into the bare repo directly (git fast-import): the
    commit is the one a colleague's clone, add, commit and push would have made, SHA for SHA."""
    import shutil

    _init_and_commit(cli, project)
    other = project.workdir / "colleague"
    project.git("clone", "--quiet", str(project.upstream), str(other), cwd=project.workdir)
    made = project.commit_upstream("docs/NOTES.md", "a PR merged on GitHub\n", "merged PR")
    (other / "docs" / "NOTES.md").write_text("a PR merged on GitHub\n")
    project.git("add", "docs/NOTES.md", cwd=other)
    project.git("commit", "--quiet", "-m", "merged PR", cwd=other)
    assert project.git("rev-parse", "HEAD", cwd=other) == made
    assert project.upstream_git("rev-parse", "main") == made
    assert project.upstream_git("show", "main:docs/NOTES.md") == "a PR merged on GitHub"
    shutil.rmtree(other)

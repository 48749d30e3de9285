"""mlops_setup.clients: where the GitHub token comes from.

``github_token(env)`` looks in ``GITHUB_TOKEN``, then ``GH_TOKEN``, then asks ``gh auth token``,
and otherwise stops with a :class:`SetupError` saying how to log in. ``gh`` here is a script in a
temporary folder that alone makes up ``PATH``: no real ``gh``, no network.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mlops_setup.changes import SetupError
from mlops_setup.clients import AUTH_PAGE, github_token

FROM_ENV = "token-from-github-token"
FROM_GH_ENV = "token-from-gh-token"
FROM_GH_CLI = "token-from-gh-cli"


class FakeGh:
    """A ``gh`` on PATH that records its arguments and answers like ``gh auth token``."""

    def __init__(self, folder: Path) -> None:
        self.bin = folder / "bin"
        self.bin.mkdir()
        self.log = folder / "gh-calls"

    def install(self, *, out: str = FROM_GH_CLI, code: int = 0, shebang: str = "#!/bin/sh") -> None:
        script = self.bin / "gh"
        script.write_text(
            f"{shebang}\n"
            f"printf '%s\\n' \"$*\" >> '{self.log}'\n"
            f"printf '%s\\n' '{out}'\n"
            f"exit {code}\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGh:
    fake = FakeGh(tmp_path)
    monkeypatch.setenv("PATH", str(fake.bin))  # only our gh, or none, can be found
    return fake


def test_github_token_comes_first(gh):
    gh.install()
    env = {"GITHUB_TOKEN": FROM_ENV, "GH_TOKEN": FROM_GH_ENV}
    assert github_token(env) == FROM_ENV
    assert gh.calls == []  # gh is not asked when a variable holds a token


def test_gh_token_when_github_token_is_unset_or_empty(gh):
    gh.install()
    assert github_token({"GH_TOKEN": FROM_GH_ENV}) == FROM_GH_ENV
    assert github_token({"GITHUB_TOKEN": "", "GH_TOKEN": FROM_GH_ENV}) == FROM_GH_ENV
    assert gh.calls == []


def test_gh_auth_token_when_no_variable_is_set(gh):
    gh.install()
    assert github_token({"GITHUB_TOKEN": "", "GH_TOKEN": ""}) == FROM_GH_CLI  # newline stripped
    assert gh.calls == ["auth token"]


def test_the_environment_given_is_the_one_read(gh, monkeypatch):
    """``env`` (the session's environment), not the process's, is where the variables are."""
    gh.install()
    monkeypatch.setenv("GITHUB_TOKEN", FROM_ENV)
    assert github_token({}) == FROM_GH_CLI


def assert_no_credentials(caught: pytest.ExceptionInfo[SetupError]) -> None:
    error = caught.value
    assert error.message == (
        "no GitHub credentials: GITHUB_TOKEN and GH_TOKEN are unset and `gh auth token` gave none"
    )
    assert error.fix == (
        "export GITHUB_TOKEN=<a token with repo and workflow scopes>, or run `gh auth login`"
    )
    assert error.page == AUTH_PAGE


def test_no_gh_on_path_is_a_clear_error(gh):
    with pytest.raises(SetupError) as caught:
        github_token({})
    assert_no_credentials(caught)


def test_gh_not_logged_in_is_a_clear_error(gh):
    gh.install(
        out="You are not logged into any GitHub hosts. To log in, run: gh auth login", code=1
    )
    with pytest.raises(SetupError) as caught:
        github_token({})
    assert_no_credentials(caught)
    assert gh.calls == ["auth token"]


def test_gh_printing_nothing_is_a_clear_error(gh):
    gh.install(out="")
    with pytest.raises(SetupError) as caught:
        github_token({})
    assert_no_credentials(caught)
    assert gh.calls == ["auth token"]


def test_gh_that_cannot_start_is_a_clear_error(gh):
    gh.install(shebang="#!/nonexistent/interpreter")  # exec fails: OSError
    with pytest.raises(SetupError) as caught:
        github_token({})
    assert_no_credentials(caught)

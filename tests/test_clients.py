"""mlops_setup.clients: where the GitHub token comes from.

``github_token(env, host)`` looks where ``gh`` looks (``gh help environment``): for github.com
and GHE.com tenants ``GH_TOKEN``, then ``GITHUB_TOKEN``; for a GitHub Enterprise Server
``GH_ENTERPRISE_TOKEN``, then ``GITHUB_ENTERPRISE_TOKEN``; then it asks ``gh auth token
--hostname HOST``, and otherwise stops with a :class:`SetupError` saying how to log in. ``gh``
here is a script in a temporary folder that alone makes up ``PATH``: no real ``gh``, no network.
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


def test_gh_token_comes_first_as_in_gh(gh):
    gh.install()
    env = {"GITHUB_TOKEN": FROM_ENV, "GH_TOKEN": FROM_GH_ENV}
    assert github_token(env) == FROM_GH_ENV
    assert gh.calls == []  # gh is not asked when a variable holds a token


def test_github_token_when_gh_token_is_unset_or_empty(gh):
    gh.install()
    assert github_token({"GITHUB_TOKEN": FROM_ENV}) == FROM_ENV
    assert github_token({"GH_TOKEN": "", "GITHUB_TOKEN": FROM_ENV}) == FROM_ENV
    assert gh.calls == []


def test_gh_auth_token_when_no_variable_is_set(gh):
    gh.install()
    assert github_token({"GITHUB_TOKEN": "", "GH_TOKEN": ""}) == FROM_GH_CLI  # newline stripped
    assert gh.calls == ["auth token --hostname github.com"]


FROM_ENTERPRISE = "token-from-gh-enterprise-token"
FROM_GITHUB_ENTERPRISE = "token-from-github-enterprise-token"
ALL_FOUR = {
    "GH_TOKEN": FROM_GH_ENV,
    "GITHUB_TOKEN": FROM_ENV,
    "GH_ENTERPRISE_TOKEN": FROM_ENTERPRISE,
    "GITHUB_ENTERPRISE_TOKEN": FROM_GITHUB_ENTERPRISE,
}


@pytest.mark.parametrize(
    ("host", "unset", "expected"),
    [
        # github.com and GHE.com tenants: GH_TOKEN, then GITHUB_TOKEN; enterprise ones ignored
        ("github.com", (), FROM_GH_ENV),
        ("github.com", ("GH_TOKEN",), FROM_ENV),
        ("acme.ghe.com", (), FROM_GH_ENV),
        ("acme.ghe.com", ("GH_TOKEN",), FROM_ENV),
        # a GitHub Enterprise Server: GH_ENTERPRISE_TOKEN, then GITHUB_ENTERPRISE_TOKEN
        ("ghe.example.com", (), FROM_ENTERPRISE),
        ("ghe.example.com", ("GH_ENTERPRISE_TOKEN",), FROM_GITHUB_ENTERPRISE),
    ],
)
def test_token_variables_per_host_in_gh_order(gh, host, unset, expected):
    gh.install()
    env = {k: v for k, v in ALL_FOUR.items() if k not in unset}
    assert github_token(env, host) == expected
    assert gh.calls == []


def test_enterprise_server_never_takes_the_github_com_token(gh):
    """GH_TOKEN/GITHUB_TOKEN are github.com's: a server's token comes from gh's login for it."""
    gh.install()
    env = {"GH_TOKEN": FROM_GH_ENV, "GITHUB_TOKEN": FROM_ENV}
    assert github_token(env, "ghe.example.com") == FROM_GH_CLI
    assert gh.calls == ["auth token --hostname ghe.example.com"]


def test_github_com_never_takes_an_enterprise_token(gh):
    gh.install()
    env = {"GH_ENTERPRISE_TOKEN": FROM_ENTERPRISE, "GITHUB_ENTERPRISE_TOKEN": FROM_ENTERPRISE}
    assert github_token(env, "github.com") == FROM_GH_CLI
    assert github_token(env, "acme.ghe.com") == FROM_GH_CLI
    assert gh.calls == ["auth token --hostname github.com", "auth token --hostname acme.ghe.com"]


def test_no_enterprise_credentials_name_the_enterprise_variables(gh):
    with pytest.raises(SetupError) as caught:
        github_token({"GH_TOKEN": FROM_GH_ENV}, "ghe.example.com")
    assert caught.value.message == (
        "no GitHub credentials for ghe.example.com: GH_ENTERPRISE_TOKEN and "
        "GITHUB_ENTERPRISE_TOKEN are unset and `gh auth token --hostname ghe.example.com` gave "
        "none"
    )
    assert caught.value.fix == (
        "export GH_ENTERPRISE_TOKEN=<a token of ghe.example.com with repo and workflow scopes>, "
        "or run `gh auth login --hostname ghe.example.com`"
    )


def test_the_environment_given_is_the_one_read(gh, monkeypatch):
    """``env`` (the session's environment), not the process's, is where the variables are."""
    gh.install()
    monkeypatch.setenv("GITHUB_TOKEN", FROM_ENV)
    assert github_token({}) == FROM_GH_CLI


def assert_no_credentials(caught: pytest.ExceptionInfo[SetupError]) -> None:
    error = caught.value
    assert error.message == (
        "no GitHub credentials for github.com: GH_TOKEN and GITHUB_TOKEN are unset and "
        "`gh auth token --hostname github.com` gave none"
    )
    assert error.fix == (
        "export GH_TOKEN=<a token of github.com with repo and workflow scopes>, or run "
        "`gh auth login --hostname github.com`"
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
    assert gh.calls == ["auth token --hostname github.com"]


def test_gh_printing_nothing_is_a_clear_error(gh):
    gh.install(out="")
    with pytest.raises(SetupError) as caught:
        github_token({})
    assert_no_credentials(caught)
    assert gh.calls == ["auth token --hostname github.com"]


def test_gh_that_cannot_start_is_a_clear_error(gh):
    gh.install(shebang="#!/nonexistent/interpreter")  # exec fails: OSError
    with pytest.raises(SetupError) as caught:
        github_token({})
    assert_no_credentials(caught)

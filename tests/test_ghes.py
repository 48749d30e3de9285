"""GitHub Enterprise: ``github.host`` names a GitHub Enterprise Server (or a GHE.com tenant).

The whole guide replays against a GHES-shaped fake: the same handlers as github.com's, served
under ``https://ghe.example.com/api/v3`` with the server's own URLs in every answer
(``tests/fakeapi``, ``world.github_host``), on the template's
``github_actions_for_github_enterprise_servers`` rendering of the example project, with the
token in ``GH_ENTERPRISE_TOKEN`` only. Then the config rules (host parsing, what follows from
the host, contradictions), the token per host, the OIDC issuer per host.
"""

from __future__ import annotations

import os
import stat

import pytest

from mlops_setup import ghhost
from mlops_setup.config import load_settings
from mlops_setup.yamlfile import ConfigError
from tests.conftest import FAKE_GITHUB_TOKEN, FAKE_VALUES, make_project, mutating
from tests.fakeapi import databricks_iam, github_repos
from tests.test_repo import change_lines
from tests.test_setup import FRESH, assert_made, checks_pass, states

HOST = "ghe.example.com"
API = f"https://{HOST}/api/v3"
REPO = "acme/my-mlops-project"
GH = f"{API}/repos/{REPO}"
WEB = f"https://{HOST}/{REPO}"
ACCOUNT = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"


@pytest.fixture
def gh_calls(tmp_path, monkeypatch):
    """A ``gh`` first on PATH that has no login: a token must come from the environment."""
    folder = tmp_path / "gh-bin"
    folder.mkdir()
    log = tmp_path / "gh-calls"
    script = folder / "gh"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return lambda: log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def project(tmp_path, clean_env, world, monkeypatch, gh_calls):
    """The example project rendered for GitHub Enterprise Server, configured for one, and the
    token where gh keeps a server's: GH_ENTERPRISE_TOKEN (GITHUB_TOKEN is github.com's)."""
    made = make_project(tmp_path, config={"github": {"host": HOST}})
    made.regenerate(cicd_platform=ghhost.GHES_PLATFORM)
    world.gh["git_dir"] = str(made.upstream)
    world.github_host = HOST
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GH_ENTERPRISE_TOKEN", FAKE_GITHUB_TOKEN)
    return made


# ------------------------------------------------------------------- the whole guide on GHES


@pytest.mark.vcr
def test_full_setup_on_enterprise_server_then_rerun_changes_nothing(
    cli, project, world, http, gh_calls
):
    checks_pass(world)
    inspect = cli("setup.inspect", "--json")
    assert inspect.code == 0, inspect.err
    assert f'"cicd_platform": "{ghhost.GHES_PLATFORM}"' in inspect.out

    result = cli("setup.all")
    assert_made(result, project, FRESH)
    # every GitHub request went to the server's API root, none to github.com
    github = [(m, u) for m, u in http() if HOST in u]
    assert github and all(u.startswith(API + "/") for _, u in github)
    assert not [u for _, u in http() if "github.com" in u]
    made = mutating(http())
    assert f"POST {API}/orgs/acme/repos" in made
    assert f"PUT {GH}/pulls/1/merge" in made
    assert made[-1] == f"POST {GH}/issues"
    # what it prints links to the server: the ML code PR, the hand-over issue
    assert f"{WEB}/pull/1" in result.out
    assert f"{WEB}/issues/2" in result.out  # issues and PRs share numbers
    assert "github.com/" not in result.out
    # the token came from GH_ENTERPRISE_TOKEN: gh was never asked, nothing leaked
    assert gh_calls() == []
    git_config = (project.root / ".git" / "config").read_text()
    for value in FAKE_VALUES:
        assert value not in result.out + git_config

    sent = len(made)
    again = cli("setup.all")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert again.out.splitlines()[-1] == "setup.all: no changes"
    assert len(mutating(http())) == sent  # a finished setup sends no mutating request

    status = cli("setup.status", "--check")
    assert status.code == 0, status.err
    assert set(states(status.out).values()) == {"done"}
    assert len(mutating(http())) == sent


@pytest.mark.vcr
def test_oidc_federation_on_enterprise_server_trusts_the_servers_issuer(
    cli, project, world, http, exchanges
):
    """The federation policies name the server's token service as issuer; the GitHub side
    (environments, variables) goes to the server's API."""
    github_repos.add_repo(world, REPO)
    for env in ("staging", "prod"):
        databricks_iam.add_service_principal(world, f"{env}-my-mlops-project", assigned_to=(env,))
    project.write_config(ci={"auth_mode": "oidc"})
    result = cli("ci.secrets")
    assert result.code == 0, result.err
    policies = [
        e.body for e in exchanges() if e.method == "POST" and "/federationPolicies?" in e.uri
    ]
    assert [p["oidc_policy"] for p in policies] == [
        {
            "issuer": f"https://{HOST}/_services/token",
            "audiences": [ACCOUNT],
            "subject": f"repo:{REPO}:environment:{env}",
        }
        for env in ("staging", "prod")
    ]
    github = [m for m in mutating(http()) if HOST in m or "github.com" in m]
    assert github and all(m.split(" ", 1)[1].startswith(GH + "/") for m in github)
    again = cli("ci.secrets")
    assert again.code == 0, again.err
    assert change_lines(again.out) == []


# ----------------------------------------------------------------------------- the settings


def load(project, **github):
    project.write_config(github=github)
    return load_settings(config_file=project.config_file, cwd=project.workdir)


@pytest.fixture
def plain(tmp_path, clean_env):
    """The example project as the template renders it for github.com."""
    return make_project(tmp_path)


@pytest.mark.parametrize(
    ("host", "api", "web", "issuer"),
    [
        (
            "github.com",
            "https://api.github.com",
            "https://github.com",
            "https://token.actions.githubusercontent.com",
        ),
        (
            "ghe.example.com",
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com",
            "https://ghe.example.com/_services/token",
        ),
        (
            "acme.ghe.com",
            "https://api.acme.ghe.com",
            "https://acme.ghe.com",
            "https://token.actions.acme.ghe.com",
        ),
        (  # a host name is case-insensitive; kept in lower case
            "GHE.Example.COM",
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com",
            "https://ghe.example.com/_services/token",
        ),
    ],
)
def test_everything_host_specific_follows_from_github_host(plain, host, api, web, issuer):
    settings = load(plain, host=host, git_url="")
    gh = settings.github
    assert gh.api_url == api
    assert gh.web_url == web
    assert gh.git_url == f"{web}/acme/my-mlops-project.git"
    assert gh.html_url == f"{web}/acme/my-mlops-project"
    assert gh.oidc_issuer == issuer


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("https://ghe.example.com", "without a scheme ('ghe.example.com'"),
        ("ghe.example.com/api/v3", "without a path ('ghe.example.com')"),
        ("ghe.example.com:8443", "no user, password or port"),
        ("me@ghe.example.com", "no user, password or port"),
        ("ghe_example.com", "letters, digits, '-' and '.' only"),
        ("localhost", "letters, digits, '-' and '.' only"),
        ("-ghe.example.com", "letters, digits, '-' and '.' only"),
        ("api.github.com", "github.com (the API root https://api.github.com follows from it)"),
        ("api.acme.ghe.com", "acme.ghe.com (the API root https://api.acme.ghe.com follows"),
        ("ghe.com", "a GHE.com tenant as TENANT.ghe.com"),
        ("", "a value is required"),
    ],
)
def test_bad_hosts_are_refused_naming_the_key(plain, cli_load_error, host, message):
    text = cli_load_error(plain, host=host)
    assert "github.host: " in text
    assert message in text


@pytest.fixture
def cli_load_error():
    def call(project, **github) -> str:
        with pytest.raises(ConfigError) as caught:
            load(project, **github)
        text = str(caught.value)
        assert text.startswith(str(project.config_file))
        return text

    return call


def test_bad_host_exits_2_before_any_call(plain, clean_env):
    from tests.conftest import run_cli

    plain.write_config(github={"host": "https://ghe.example.com/"})
    result = run_cli("repo.create", "--dry-run", cwd=plain.workdir)
    assert result.code == 2
    assert "github.host: expected a host name" in result.err


def test_api_url_of_another_github_is_a_contradiction(plain, cli_load_error):
    """The pre-github.host way to reach a server (api_url alone) now says what to set."""
    text = cli_load_error(plain, api_url="https://ghe.example.com/api/v3")
    assert "github.api_url: 'https://ghe.example.com/api/v3' is not the API of github.host " in text
    assert "github.host 'github.com' (https://api.github.com)" in text
    assert "set github.host to the GitHub it belongs to" in text


def test_api_url_that_agrees_or_is_local_is_accepted(plain):
    assert load(plain, host=HOST, api_url=f"{API}/").github.api_url == f"{API}/"
    github_com = load(plain, host="github.com", api_url="https://api.github.com")
    assert github_com.github.api_url == "https://api.github.com"
    local = "http://127.0.0.1:8080/api/v3"  # a stub or proxy on this machine
    assert load(plain, host=HOST, api_url=local).github.api_url == local


def test_git_url_on_another_host_is_refused_the_token_goes_only_to_github_host(
    plain, cli_load_error
):
    text = cli_load_error(plain, git_url="https://gitlab.example.com/acme/x.git")
    assert "github.git_url: gitlab.example.com is not github.host 'github.com'; the GitHub " in text
    text = cli_load_error(plain, host=HOST, git_url="git@github.com:acme/x.git")
    assert "github.git_url: github.com is not github.host 'ghe.example.com'" in text


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (HOST, f"git@{HOST}:acme/x.git"),
        (HOST, f"ssh://git@{HOST}/acme/x.git"),
        ("acme.ghe.com", "acme@acme.ghe.com:acme/x.git"),  # GHE.com's ssh user is the tenant
        ("github.com", "ssh://git@ssh.github.com:443/acme/x.git"),  # GitHub's ssh over 443
    ],
)
def test_git_urls_on_github_host_are_accepted(plain, host, url):
    assert load(plain, host=host, git_url=url).github.git_url == url


def test_enterprise_server_project_needs_an_enterprise_host(tmp_path, clean_env, cli_load_error):
    """The template's GHES variant says the repo goes to a server: github.com contradicts it."""
    project = make_project(tmp_path)
    project.regenerate(cicd_platform=ghhost.GHES_PLATFORM)
    text = cli_load_error(project, host="github.com")
    assert "github.host: 'github.com' contradicts the project, generated for GitHub " in text
    assert "(my-mlops-project/cicd_params.json: input_cicd_platform " in text
    assert "set github.host to your server's host name" in text
    cli_load_error(project, host="acme.ghe.com")  # a GHE.com tenant is no server either
    assert load(project, host=HOST, git_url="").github.git_url == f"{WEB}.git"


def test_project_model_reads_the_variant(tmp_path):
    from mlops_setup.example import write_example_project
    from mlops_setup.project import read_project

    root = write_example_project(tmp_path / "p", cicd_platform=ghhost.GHES_PLATFORM)
    model = read_project(root)
    assert model.cicd_platform == ghhost.GHES_PLATFORM
    assert model.source("cicd_platform") == "cicd_params.json"
    assert model.blocking == []
    # the variant's setup guide has no GitHub Actions section; its workflows are the same
    assert "## Configure CI/CD - GitHub Actions" not in (root / "docs/mlops-setup.md").read_text()
    plain = write_example_project(tmp_path / "q")
    for wf in (plain / ".github/workflows").iterdir():
        assert (root / ".github/workflows" / wf.name).read_bytes() == wf.read_bytes()


def test_project_whose_files_disagree_on_the_platform_is_a_problem(tmp_path):
    import json

    from mlops_setup.example import write_example_project
    from mlops_setup.project import read_project

    root = write_example_project(tmp_path / "p")
    params = json.loads((root / "cicd_params.json").read_text())
    (root / "cicd_params.json").write_text(json.dumps({**params, "input_cicd_platform": "gitlab"}))
    (problem,) = read_project(root).blocking
    assert problem.source == "cicd_params.json"
    expected = "input_cicd_platform is 'gitlab', but the tree holds .github/workflows/"
    assert expected in problem.message


# ------------------------------------------------------------------ git credentials per host


def test_git_push_gets_the_servers_token_scoped_to_the_repo_url(plain, monkeypatch):
    """Over https the token goes per command in the environment, scoped to the repo's URL on
    the server, and is the server's token (GH_ENTERPRISE_TOKEN), never github.com's."""
    import base64

    from mlops_setup.clients import Clients

    settings = load(plain, host=HOST, git_url="")
    env = {"GITHUB_TOKEN": "not-for-a-server", "GH_ENTERPRISE_TOKEN": FAKE_GITHUB_TOKEN}
    clients = Clients(settings, env=env, probe=lambda *a, **k: None)
    git_env = clients.git_env()
    assert git_env["GIT_CONFIG_KEY_0"] == f"http.{WEB}.git.extraHeader"
    header = git_env["GIT_CONFIG_VALUE_0"].removeprefix("Authorization: Basic ")
    assert base64.b64decode(header).decode() == f"x-access-token:{FAKE_GITHUB_TOKEN}"


def test_same_url_knows_every_form_of_a_servers_repo():
    from mlops_setup.gitops import same_url

    https = f"https://{HOST}/acme/x.git"
    assert same_url(f"git@{HOST}:acme/x.git", https)
    assert same_url(f"ssh://git@{HOST}/acme/x", https)
    assert same_url("acme@acme.ghe.com:acme/x.git", "https://acme.ghe.com/acme/x")
    assert not same_url(f"git@{HOST}:acme/x.git", "https://github.com/acme/x.git")


# ------------------------------------------------------------------------- OIDC issuer


def test_federation_policies_of_another_issuer_are_not_ours():
    from databricks.sdk.service import oauth2

    from mlops_setup.federation import Policy

    def policy(issuer: str) -> oauth2.FederationPolicy:
        return oauth2.FederationPolicy(
            policy_id="github-actions-prod",
            oidc_policy=oauth2.OidcFederationPolicy(
                issuer=issuer, audiences=[ACCOUNT], subject=f"repo:{REPO}:environment:prod"
            ),
        )

    server = ghhost.oidc_issuer(HOST)
    assert Policy.of(policy(server), server) == Policy(
        "github-actions-prod", f"repo:{REPO}:environment:prod", (ACCOUNT,)
    )
    assert Policy.of(policy("https://token.actions.githubusercontent.com"), server) is None
    assert Policy.of(policy(server), ghhost.oidc_issuer("github.com")) is None


# ------------------------------------------------------------------------ a GHE.com tenant


@pytest.mark.vcr
def test_ghe_com_tenant_is_served_at_its_api_host(tmp_path, clean_env, world, monkeypatch, http):
    """A GHE.com tenant: the API at https://api.TENANT.ghe.com (no /api/v3), the tenant's
    links, and the token from GH_TOKEN as gh reads it for ghe.com subdomains."""
    from mlops_setup.session import Runtime, use_runtime
    from tests.conftest import reachable, run_cli

    tenant = "acme.ghe.com"
    made = make_project(tmp_path, config={"github": {"host": tenant}})
    world.gh["git_dir"] = str(made.upstream)
    world.github_host = tenant
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GH_TOKEN", FAKE_GITHUB_TOKEN)
    with use_runtime(Runtime(cwd=str(made.workdir), probe=reachable)):
        result = run_cli("repo.create", cwd=made.workdir)
        again = run_cli("repo.create", cwd=made.workdir)
    assert result.code == 0, result.err
    assert mutating(http()) == ["POST https://api.acme.ghe.com/orgs/acme/repos"]
    assert all(u.startswith("https://api.acme.ghe.com/") for _, u in http())
    assert again.code == 0, again.err
    assert change_lines(again.out) == []
    assert len(mutating(http())) == 1


def test_unreachable_server_names_the_host_setting(plain):
    """A server that cannot be reached (a VPN down) is named with the setting that chose it."""
    from mlops_setup.changes import SetupError
    from mlops_setup.clients import Clients

    settings = load(plain, host=HOST)
    clients = Clients(settings, env={}, probe=lambda *a, **k: "connection refused")
    with pytest.raises(SetupError) as caught:
        clients.github  # noqa: B018 - building the client is the first contact
    assert caught.value.message == (
        f"cannot reach {HOST} (github.host): connection refused; nothing was sent there"
    )

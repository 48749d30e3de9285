"""The one config loader: layering, derived values, and one clear line for each bad input."""

from __future__ import annotations

import os

import pytest
import yaml

from mlops_setup.config import ConfigError, load_settings
from tests.conftest import edit_keeping_stat, run_cli


def load(project, **kw):
    return load_settings(cwd=project.workdir, **kw)


def test_defaults_and_derived_values(project):
    s = load(project)
    assert s.project.name == "my-mlops-project"
    assert s.project.dir == project.root
    assert s.github.repo == "my-mlops-project"
    assert s.github.default_branch == "main"
    assert s.github.release_branch == "release"
    assert s.github.remote == "upstream"
    assert s.github.first_commit_paths == (
        "README.md",
        "docs",
        ".gitignore",
        "my_mlops_project/resources/README.md",
    )
    assert s.databricks.account.host == "https://accounts.cloud.databricks.com"
    assert s.sp_name("prod") == "prod-my-mlops-project"
    assert s.catalog("test") == "test"
    assert s.unity_catalog.schema_ == "my-mlops-project"
    assert s.batch_table("input_table", "prod") == "taxi_scoring_sample"  # the template's TODO
    assert s.batch_table("output_table", "prod") == "prod.my-mlops-project.predictions"
    assert s.databricks.cloud == "aws"
    assert s.databricks.workspace("prod").host == "https://prod.cloud.databricks.com"
    assert s.setup_mode == "CICD_and_Project"
    assert s.project.folder == "my_mlops_project"
    assert s.state_dir == project.root / ".mlops-setup"
    with pytest.raises(Exception, match="frozen"):
        s.github.owner = "someone-else"


def test_layers_later_wins(project, monkeypatch):
    project.write_config(github={"visibility": "internal", "code_branch": "from-file"})
    monkeypatch.setenv("MLOPS_SETUP_GITHUB_CODE_BRANCH", "from-env")
    monkeypatch.setenv("MLOPS_SETUP_SECRETS_TOKEN_LIFETIME_DAYS", "30")
    s = load(project, overrides={"github.visibility": "public"})
    assert s.github.code_branch == "from-env"  # env beats file
    assert s.github.visibility == "public"  # flag beats file
    assert s.secrets.token_lifetime_days == 30  # env value read as YAML scalar


def test_explicit_file_beats_working_directory_file(project, tmp_path):
    other = tmp_path / "other.yaml"
    data = yaml.safe_load(project.config_file.read_text())
    data["github"]["owner"] = "globex"
    other.write_text(yaml.safe_dump(data))
    assert load(project, config_file=other).github.owner == "globex"


BAD_FILES = [
    ("github: [\n", r"mlops-setup\.yaml: invalid YAML at line 2"),
    ("- a\n- b\n", r"mlops-setup\.yaml: expected a mapping of settings at the top, got list"),
    ("github: {colour: blue}\n", r"mlops-setup\.yaml: github\.colour: unknown setting"),
    ("nonsense: 1\n", r"mlops-setup\.yaml: nonsense: unknown setting"),
    ("github: {visibility: secret}\n", r"github\.visibility: expected one of 'private'"),
    ("ci: {wait_timeout: soon}\n", r"ci\.wait_timeout: expected a valid integer"),
    ("github: {owner: ''}\n", r"github\.owner: a value is required"),
    ("github: {token: abc}\n", r"github\.token: secrets never live in the config file"),
    ("databricks: {account: {secret: x}}\n", r"databricks\.account\.secret: secrets never"),
    ("handoff: {team: dapi" + "0" * 32 + "}\n", r"handoff\.team: this value looks like a cred"),
    ("databricks: 7\n", r"databricks: expected a mapping of settings, got int"),
    (
        "github: {git_url: 'https://alice:pw0rd@github.com/acme/x.git'}\n",
        r"github\.git_url: expected a URL without a user or password in it",
    ),
    ("project: {dir: nowhere}\n", r"project\.dir: .*nowhere does not exist"),
    ("project: {name: other}\n", r"project\.name 'other' names no project here"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_file_is_one_clear_line(project, text, message):
    base = yaml.safe_load(project.config_file.read_text())
    if text.startswith(("github: [", "- a")):
        project.config_file.write_text(text)
    else:
        patch = yaml.safe_load(text)
        merged = {**base, **{k: v for k, v in patch.items() if not isinstance(v, dict)}}
        for key, value in patch.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merged[key] = {**base[key], **value}
            elif isinstance(value, dict):
                merged[key] = value
        project.config_file.write_text(yaml.safe_dump(merged))
    with pytest.raises(ConfigError, match=message) as err:
        load(project)
    assert "\n" not in str(err.value)
    assert "pw0rd" not in str(err.value)  # a credential given by mistake is never echoed


def test_not_an_mlops_stacks_project(project, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    project.write_config(project={"dir": str(empty)})
    with pytest.raises(ConfigError, match="is not an MLOps Stacks project"):
        load(project)


def test_unreadable_file(project):
    project.config_file.chmod(0)
    if os.access(project.config_file, os.R_OK):  # root, or a filesystem ignoring modes
        pytest.skip("this user can still read a file with mode 0")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load(project)


def test_unknown_environment_variable(project, monkeypatch):
    monkeypatch.setenv("MLOPS_SETUP_GITHUB_OWNR", "x")
    with pytest.raises(ConfigError, match="MLOPS_SETUP_GITHUB_OWNR: names no setting"):
        load(project)


def test_bad_task_flag_value(project):
    with pytest.raises(ConfigError, match=r"task flag: github\.visibility: expected one of"):
        load(project, overrides={"github.visibility": "loud"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("github: [\n", "invalid YAML"),
        ("github: {token: abc}\n", "secrets never live"),
        ("github: {visibility: loud}\n", "github.visibility"),
    ],
)
def test_cli_exit_code_2_without_traceback(cli, project, content, message, http):
    bad = project.workdir / "bad.yaml"
    bad.write_text(content)
    result = cli("-f", str(bad), "repo.create")
    assert result.code == 2
    assert message in result.err
    assert "Traceback" not in result.err + result.out
    assert http() == []  # no API call was made
    assert not (project.root / ".git").exists()  # and no git command


def test_cli_missing_file_named_with_f(cli, project):
    result = cli("-f", str(project.workdir / "missing.yaml"), "repo.init")
    assert result.code == 2
    assert "missing.yaml: file not found" in result.err


def test_list_and_help_do_not_import_heavy_sdks():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys\n"
        "from invoke import Program\n"
        "for argv in (['--list'], ['--help', 'repo.create']):\n"
        "    try:\n"
        "        Program(binary='invoke').run(['invoke', '--search-root', sys.argv[1], *argv])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('databricks', 'github', 'git', 'pydantic', 'vcr', 'requests', 'azure', 'msal')]\n"
        "print('HEAVY', sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in done.stdout, done.stdout[-500:]


def test_every_task_and_flag_is_documented():
    result = run_cli("--list")
    assert result.code == 0
    from invoke import Collection

    import tasks

    def walk(coll: Collection, prefix: str = ""):
        for name, task in coll.tasks.items():
            yield prefix + name, task
        for name, sub in coll.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    for name, task in walk(tasks.ns):
        assert task.__doc__ and task.__doc__.strip(), f"{name} has no docstring"
        assert name in result.out
        documented = set(task.help)
        flags = set(list(task.argspec(task.body).parameters)[1:])
        assert flags <= documented, f"{name}: undocumented flags {flags - documented}"


LINK_ERRORS = [
    (
        {"staging": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
        r"databricks\.service_principals\.staging: expected a display name .* looks like an "
        r"application id: to link that SP write \{application_id: 1b4e28ba-",
    ),
    (
        {"prod": {"application_id": "prod-sp"}},
        r"databricks\.service_principals\.prod: expected .*application_id must be a UUID",
    ),
    (
        {"prod": {"application_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "name": "x"}},
        r"databricks\.service_principals\.prod: expected .*\(unexpected keys: name\)",
    ),
    ({"prod": 7}, r"databricks\.service_principals\.prod: expected a display name"),
]


@pytest.mark.parametrize(("value", "message"), LINK_ERRORS)
def test_service_principal_links_are_checked(project, value, message):
    project.write_config(databricks={"service_principals": value})
    with pytest.raises(ConfigError, match=message) as caught:
        load(project)
    assert str(caught.value).startswith(str(project.config_file))


def test_service_principal_link_by_application_id(project, monkeypatch):
    app = "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"
    project.write_config(databricks={"service_principals": {"prod": {"application_id": app}}})
    s = load(project)
    assert s.sp_linked("prod") == app.lower()
    assert s.sp_linked("staging") == ""
    assert s.sp_name("staging") == "staging-my-mlops-project"
    monkeypatch.setenv(
        "MLOPS_SETUP_DATABRICKS_SERVICE_PRINCIPALS_STAGING", f"{{application_id: {app}}}"
    )
    assert load(project).sp_linked("staging") == app.lower()


def test_auth_mode_defaults_to_token_and_is_validated(project, monkeypatch):
    assert load(project).ci.auth_mode == "token"
    monkeypatch.setenv("MLOPS_SETUP_CI_AUTH_MODE", "oidc")
    assert load(project).ci.auth_mode == "oidc"
    monkeypatch.setenv("MLOPS_SETUP_CI_AUTH_MODE", "pat")
    with pytest.raises(ConfigError) as bad:
        load(project)
    assert str(bad.value) == (
        "environment variable MLOPS_SETUP_CI_AUTH_MODE: ci.auth_mode: expected one of "
        "'token', 'oauth' or 'oidc' (got 'pat')"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"ci": {"auth_mode": "oauth"}, "databricks": {"sp_mode": "workspace"}},
            "ci.auth_mode: oauth needs databricks.sp_mode: account",
        ),
        (
            {"ci": {"prod_reviewers": ["alice"]}},
            "ci.prod_reviewers: reviewers guard the `prod` GitHub environment, which only "
            "ci.auth_mode: oidc creates",
        ),
        (
            {"ci": {"auth_mode": "oidc", "prod_reviewers": ["not a login"]}},
            "ci.prod_reviewers.0: expected a value matching",
        ),
    ],
)
def test_auth_mode_combinations_refused(project, settings, message):
    project.write_config(**settings)
    with pytest.raises(ConfigError) as bad:
        load(project)
    assert str(bad.value).startswith(str(project.config_file) + ": ")
    assert message in str(bad.value)


def test_an_edited_file_is_read_even_at_the_same_size_and_time(project):
    """Parsed settings files are kept between loads keyed by their text, not by size and time:
    an edit within the clock's tick, to a text of the same length, is what the next load sees."""
    assert load(project).github.owner == "acme"
    edit_keeping_stat(project.config_file, "owner: acme\n", "owner: acmf\n")
    assert load(project).github.owner == "acmf"


def test_a_caller_changing_what_it_got_changes_no_later_load(project):
    """Settings files, defaults and project files are parsed once and kept; every load hands out
    its own copy, so nothing a caller does to what it got reaches the next load."""
    from mlops_setup.config import _defaults
    from mlops_setup.project import Problem
    from mlops_setup.yamlfile import read_yaml

    first = load(project)
    settings, model = first.model_dump(), first.model.to_json()
    # everything a caller can reach and change: the settings' dicts, the model, raw layers
    first.override["github.default_branch"] = "changed"
    first.model.problems.append(Problem("changed"))
    first.model.sources.clear()
    first.model.hosts["prod"] = "https://changed.cloud.databricks.com"
    first.model.selected.jobs["prod"].append("changed")
    first.model.selected.batch_inference["prod"]["input_table"] = "changed"
    first.model.selected.sources.clear()
    first.model.bundles.clear()
    read_yaml(project.config_file, "x")["github"]["owner"] = "changed"
    defaults, _ = _defaults()
    defaults["github"]["host"] = "changed.example.com"
    defaults["project"]["dir"] = "/changed"
    again = load(project)
    assert again.model_dump() == settings
    assert again.model.to_json() == model
    assert read_yaml(project.config_file, "x")["github"]["owner"] == "acme"
    fresh, _ = _defaults()
    assert (fresh["github"]["host"], fresh["project"]["dir"]) == ("github.com", "")

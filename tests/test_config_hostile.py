"""Hostile and odd config: the loader is bounded, refuses what it cannot read plainly, and
checks every value that reaches git, the network or the file system before any call.

Each case is one line naming the file (or variable) and the key, exit code 2 through the CLI,
no traceback, no hang (every case here finishes well inside ``BUDGET`` seconds)."""

from __future__ import annotations

import copy
import os
import time

import pytest
import yaml

from mlops_setup import locate, validators
from mlops_setup.config import ConfigError, load_settings
from mlops_setup.yamlfile import MAX_BYTES, _Refused, copy_plain, load_text

BUDGET = 2.0  # seconds: "no hang" means this, for every input


def load(project, **kw):
    return load_settings(cwd=project.workdir, **kw)


def with_text(project, extra: str, *, replace: bool = True) -> None:
    """The project's config file with ``extra`` YAML text appended; the top-level sections
    ``extra`` names are dropped from the file first unless ``replace`` is false."""
    import re

    import yaml

    base = yaml.safe_load(project.config_file.read_text())
    if replace:
        for key in re.findall(r"^(\w+):", extra, re.MULTILINE):
            base.pop(key, None)
    project.config_file.write_text(yaml.safe_dump(base, sort_keys=False) + extra)


def refused(project, match: str, **kw) -> str:
    start = time.monotonic()
    with pytest.raises(ConfigError, match=match) as err:
        load(project, **kw)
    assert time.monotonic() - start < BUDGET
    text = str(err.value)
    assert "\n" not in text and "\x1b" not in text
    return text


# ------------------------------------------------------------------------- the bounded loader

BOMB = "\n".join(
    [
        "a: &a [x, x, x, x, x, x, x, x, x]",
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]",
        "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]",
    ]
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("handoff:\n  users: &r [a, *r]\n", r"handoff\.users\[1\]: an alias refers to the value"),
        ("handoff: {users: " + "[" * 3000 + "]" * 3000 + "}\n", r"nested deeper than 32"),
        (BOMB.replace("\n", "\n  ").join(["handoff:\n  ", "\n"]), r"expands to more than"),
        ("github: {owner: x}\n", r"mlops-setup\.yaml: github: given twice \(lines 1 and \d+\)"),
        ("1: x\n", r"mlops-setup\.yaml: key 1 \(line \d+\) is not text"),
        ("null: x\n", r"mlops-setup\.yaml: key null \(line \d+\) is not text"),
        (
            "handoff: {title: !!binary aGVsbG8=}\n",
            r"handoff\.title: expected a plain value .*binary",
        ),
        ("handoff: {title: 2026-01-01}\n", r"handoff\.title: .*timestamp \(quote it"),
        ("state_dir: !!set {a, b}\n", r"state_dir: expected a plain value .*not set"),
    ],
)
def test_hostile_yaml_is_one_line(project, extra, message):
    with_text(project, extra, replace=not extra.startswith("github:"))
    refused(project, message)


def test_alias_bomb_is_refused_before_anything_walks_it():
    start = time.monotonic()
    with pytest.raises(Exception, match="expands to more than"):
        load_text(BOMB)
    assert time.monotonic() - start < 0.5


def test_merge_keys_and_plain_aliases_still_work():
    data = load_text("base: &b {x: 1}\nother: {<<: *b, y: 2}\nlist: [*b]\n")
    assert data == {"base": {"x": 1}, "other": {"x": 1, "y": 2}, "list": [{"x": 1}]}


def test_a_kept_parse_is_copied_as_deepcopy_would():
    """read_yaml keeps what a text parsed to and hands out copies (copy_plain): equal, sharing
    nothing with what is kept, and a value an alias names twice is one value in the copy too
    (as copy.deepcopy makes it, and as cheap as the text: a wide alias tree is copied once)."""
    data = load_text("base: &b {x: [1, 2]}\nlist: [*b, *b]\nwide: &w [*b, *b, *b]\nall: [*w, *w]\n")
    copied = copy_plain(data)
    assert copied == data == copy.deepcopy(data)
    assert copied["list"][0] is copied["list"][1] is copied["base"]
    assert copied["all"][0] is copied["all"][1] is copied["wide"]
    originals = {id(data), id(data["base"]), id(data["base"]["x"]), id(data["wide"])}
    copies = {id(copied), id(copied["base"]), id(copied["base"]["x"]), id(copied["wide"])}
    assert not originals & copies


def test_oversized_file_and_fifo(project):
    project.config_file.write_text("# " + "x" * MAX_BYTES + "\n")
    refused(project, r"mlops-setup\.yaml: \d+ bytes; a settings file has at most")
    project.config_file.unlink()
    os.mkfifo(project.config_file)  # reading it would block for ever
    refused(project, r"mlops-setup\.yaml: is not a regular file")


def test_control_characters_are_escaped(project):
    with_text(project, 'handoff: {"ti\\e[31mtle\\x07": x}\n')
    text = refused(project, r"unknown setting")
    assert "\\x1b[31m" in text and "\\x07" in text


def test_project_dir_nul_and_symlink_loop(project):
    project.write_config(project={"dir": "a\0b"})
    refused(project, r"project\.dir: expected a folder path \(it holds a NUL byte\)")
    loop = project.workdir / "loop"
    loop.symlink_to(loop)
    project.write_config(project={"dir": str(loop)})
    refused(project, r"project\.dir: ")


def test_non_string_and_secret_keys_at_any_depth(project):
    with_text(project, "handoff: {users: [{token: abc}]}\n")
    refused(project, r"handoff\.users\[0\]\.token: secrets never live")


def test_credentials_in_lists_are_refused(project):
    pat = "ghp_" + "A" * 36
    project.write_config(handoff={"users": ["alice", pat]})
    text = refused(project, r"handoff\.users\[1\]: this value looks like a credential")
    assert pat not in text


# ------------------------------------------------------------------------- mis-blamed keys


def test_a_bad_lifetime_is_blamed_on_the_lifetime(project):
    project.write_config(secrets={"token_lifetime_days": 5})
    refused(
        project,
        r"mlops-setup\.yaml: secrets\.token_lifetime_days: expected more days than "
        r"secrets\.renew_before_days \(14\)",
    )
    project.write_config(secrets={"token_lifetime_days": 90, "renew_before_days": 100})
    refused(project, r"secrets\.renew_before_days: expected fewer days than")


def test_poll_bounds_blame_the_one_given(project):
    project.write_config(ci={"poll_max": 2})
    refused(project, r"ci\.poll_max: expected at least ci\.poll_min \(5\)")


def test_binary_owner_is_blamed_on_the_owner(project):
    text = project.config_file.read_text().replace("owner: acme", "owner: !!binary YWNtZQ==")
    project.config_file.write_text(text)
    refused(project, r"github\.owner: expected a plain value")


def test_missing_value_names_the_file_searched_and_the_variable(project):
    project.write_config(github={"owner": ""})
    text = refused(project, r"github\.owner: a value is required")
    assert f"set it in {project.config_file} (or MLOPS_SETUP_GITHUB_OWNER)" in text
    assert "flag" not in text


def test_without_any_file_messages_name_the_file_searched(project, monkeypatch):
    project.config_file.unlink()
    with pytest.raises(ConfigError) as err:
        load(project)
    assert str(err.value).startswith(str(project.workdir / "mlops-setup.yaml") + ": ")


def test_env_values_with_tags_and_aliases_are_text(project, monkeypatch):
    monkeypatch.setenv("MLOPS_SETUP_HANDOFF_TITLE", "&a [*a]")
    assert load(project).handoff.title == "&a [*a]"
    monkeypatch.setenv("MLOPS_SETUP_HANDOFF_TITLE", "!!binary aGVsbG8=")
    assert load(project).handoff.title == "!!binary aGVsbG8="
    monkeypatch.setenv("MLOPS_SETUP_HANDOFF_USERS", "[" * 500)
    refused(project, r"handoff\.users: ")


# ------------------------------------------------------------------------- the CLI and -f


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.json", '{"github": {"owner": "x"}}', "x.json: not a YAML file"),
        ("x.txt", "github: {owner: x}\n", "x.txt: not a YAML file"),
        ("noext", "github: {owner: x}\n", "noext: not a YAML file"),
        ("run.yaml", "run: {echo: true}\n", "run.yaml: run: is Invoke's own setting"),
        ("tasks.yaml", "tasks: {collection_name: x}\n", "tasks.yaml: tasks: is Invoke's own"),
        ("keys.yaml", "1: x\n", "keys.yaml: key 1 (line 1) is not text"),
        ("dup.yaml", "github: {}\ngithub: {}\n", "dup.yaml: github: given twice"),
        ("bomb.yaml", BOMB, "bomb.yaml: e: expands to more than"),
    ],
)
def test_cli_f_files_are_one_line_exit_2(cli, project, name, content, message, http):
    bad = project.workdir / name
    bad.write_text(content)
    start = time.monotonic()
    result = cli("-f", str(bad), "repo.init", "--dry-run")
    assert time.monotonic() - start < BUDGET
    assert result.code == 2, result.err
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err + result.out
    assert http() == []
    assert not (project.root / ".git").exists()


def test_invoke_runtime_config_json_is_one_line(cli, project, monkeypatch):
    bad = project.workdir / "runtime.json"
    bad.write_text("{not json")
    monkeypatch.setenv("INVOKE_RUNTIME_CONFIG", str(bad))
    result = cli("repo.init", "--dry-run")
    assert result.code == 2
    assert "runtime.json: not a YAML file" in result.err
    assert "Traceback" not in result.err + result.out


def test_f_python_file_keeps_invokes_meaning(cli, project):
    """Invoke runs an -f FILE.py as its own config; our settings then come from
    mlops-setup.yaml in the working directory."""
    marker = project.workdir / "ran"
    py = project.workdir / "invoke_extra.py"
    py.write_text(f"open({str(marker)!r}, 'w').close()\n")
    result = cli("-f", str(py), "repo.init", "--dry-run")
    assert marker.exists()
    assert result.code == 0, result.err
    assert "repo.init" in result.out


# --------------------------------------------------------------------- values that reach git

REF_CASES = {
    "master": None,
    "release/v1.2": None,
    "feature/x-y_z": None,
    "has space": "a space",
    "--orphan": "starts with '-'",
    "a..b": "'..'",
    "a.lock": "'.lock'",
    "a/.hidden": "starts with '.'",
    "a//b": "empty part",
    "/a": "empty part",
    "a/": "empty part",
    "a.": "ends with '.'",
    "a@{1}": "'@{'",
    "@": "'@' alone",
    "HEAD": "HEAD",
    "a~1": "'~'",
    "a^": "'^'",
    "a:b": "':'",
    "a?b": "'?'",
    "a*b": "'*'",
    "a[b": "'['",
    "a\\b": "'\\\\'",
    "a\x01b": "control character",
    "a\x7fb": "control character",
    "": "empty",
}


@pytest.mark.parametrize(("name", "why"), REF_CASES.items())
def test_branch_names_follow_gits_rules(name, why):
    problem = validators.check_ref_name(name)
    if why is None:
        assert problem is None
    else:
        assert problem is not None and why in problem


def test_branch_rules_agree_with_git(tmp_path):
    """The Python rules say what ``git check-ref-format --branch`` says, case by case."""
    import subprocess

    for name in REF_CASES:
        if name in ("", "@"):  # "@" alone: git takes it, we do not (it means HEAD to git)
            continue
        done = subprocess.run(
            ["git", "check-ref-format", "--branch", name],
            capture_output=True,
            cwd=tmp_path,
            check=False,
        )
        assert (done.returncode == 0) == (validators.check_ref_name(name) is None), name


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"github": {"default_branch": "has space"}}, r"github\.default_branch: expected a git br"),
        ({"github": {"default_branch": "--orphan"}}, r"github\.default_branch: .*starts with '-'"),
        ({"github": {"release_branch": "a..b"}}, r"github\.release_branch: expected a git branch"),
        ({"github": {"code_branch": "x.lock"}}, r"github\.code_branch: expected a git branch"),
        ({"github": {"remote": "-f"}}, r"github\.remote: expected a git remote name"),
        ({"github": {"remote": ".."}}, r"github\.remote: expected a git remote name"),
        ({"github": {"git_url": "--upload-pack=touch /tmp/x"}}, r"github\.git_url: expected an"),
        ({"github": {"git_url": "ext::sh -c touch% /tmp/x"}}, r"git transport helper"),
        ({"github": {"git_url": "git://github.com/acme/x"}}, r"github\.git_url: .*not git://"),
        ({"github": {"git_url": "https://tok@github.com/a/b"}}, r"without a user or password"),
        ({"github": {"repo": ".."}}, r"github\.repo: expected a repository name"),
        ({"github": {"api_url": "http://api.example.com"}}, r"github\.api_url: expected an https"),
        ({"github": {"first_commit_paths": ["../x"]}}, r"first_commit_paths\.0: expected a path"),
        ({"github": {"first_commit_paths": ["-x"]}}, r"first_commit_paths\.0: .*start with '-'"),
        ({"state_dir": ""}, r"state_dir: expected a folder path"),
        ({"state_dir": "."}, r"state_dir: expected a folder of its own"),
        ({"state_dir": ".."}, r"state_dir: expected a folder of its own"),
        (
            {"databricks": {"workspaces": {"prod": {"host": "https://evil.example.com"}}}},
            r"databricks\.workspaces\.prod\.host: expected a Databricks host of cloud aws",
        ),
        (  # the project says aws: its hosts are AWS ones
            {"databricks": {"cloud": "azure"}},
            r"databricks\.cloud: 'azure' contradicts the project, which says 'aws'",
        ),
    ],
)
def test_values_that_reach_git_or_the_network_are_checked(project, section, message):
    project.write_config(**section)
    refused(project, message)


@pytest.mark.parametrize(
    "url",
    [
        "ssh://git@github.com/acme/my_mlops_project.git",
        "git@github.com:acme/my_mlops_project.git",
        "https://github.com/acme/my_mlops_project.git",
        "https://ghe.example.com/acme/x.git",
    ],
)
def test_ssh_and_https_git_urls_are_accepted(project, url):
    # a URL on a GitHub Enterprise Server goes with github.host naming that server
    host = "ghe.example.com" if "ghe.example.com" in url else "github.com"
    project.write_config(github={"git_url": url, "host": host})
    assert load(project).github.git_url == url


def test_http_api_url_only_for_this_machine(project):
    project.write_config(github={"api_url": "http://127.0.0.1:8080/api/v3"})
    assert load(project).github.api_url == "http://127.0.0.1:8080/api/v3"


def test_other_hosts_need_allow_other_hosts(project):
    host = "https://dbc.internal.example.com"
    project.write_config(databricks={"workspaces": {"staging": {"host": host}}})
    refused(project, r"set databricks\.allow_other_hosts: true")
    # allowed, it still contradicts the project's databricks.yml unless it is an override
    project.write_config(databricks={"allow_other_hosts": True})
    refused(project, r"databricks\.workspaces\.staging\.host: .* contradicts the project")
    data = yaml.safe_load(project.config_file.read_text())
    del data["databricks"]["workspaces"]
    data["override"] = {"databricks": {"workspaces": {"staging": {"host": host}}}}
    project.config_file.write_text(yaml.safe_dump(data))
    assert load(project).databricks.workspace("staging").host == host


def test_azure_hosts(project):
    project.regenerate(cloud="azure")  # the project says azure and adb-*.azuredatabricks.net
    settings = load(project)
    assert settings.databricks.account.host == "https://accounts.azuredatabricks.net"
    assert settings.databricks.workspace("prod").host.endswith(".azuredatabricks.net")


def test_invalid_values_reach_no_git_command(cli, project, http):
    project.write_config(github={"default_branch": "--orphan"})
    result = cli("repo.init")
    assert result.code == 2
    assert "github.default_branch" in result.err
    assert not (project.root / ".git").exists()
    assert http() == []


@pytest.mark.parametrize("shipped", ["defaults.yaml", "example.yaml"])
def test_the_files_we_ship_read_the_same_through_libyaml(shipped):
    """config/defaults.yaml is composed by libyaml (``shipped=True``): the same settings as the
    bounded pure-Python composer gives, and the same node checks refuse what they refuse."""
    text = locate.resource(f"data/{shipped}").read_text()
    assert load_text(text, shipped=True) == load_text(text)
    for bad, what in (
        (text + "\ngithub: {}\n", "given twice"),
        (text + "\nextra: !!binary aGVsbG8=\n", "expected a plain value"),
        (text + "\nextra: &a [*a]\n", "recursive"),
    ):
        with pytest.raises(_Refused, match=what):
            load_text(bad, shipped=True)

"""Running from inside the generated project: the root found by walking up, the project's own
mlops-setup.yaml there, the user's personal file, and the order of the layers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from mlops_setup import locate
from mlops_setup.config import ConfigError, load_settings
from mlops_setup.example import write_example_project
from tests.conftest import run_cli

ACCOUNT = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"
TWO_LINES = f"github: {{owner: acme}}\ndatabricks: {{account: {{id: {ACCOUNT}}}}}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A generated project with the two-line mlops-setup.yaml a team commits at its root."""
    made = write_example_project(tmp_path / "churn")
    (made / locate.PROJECT_FILE).write_text(TWO_LINES)
    return made


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A home of its own: no personal file unless the test writes one."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def user_file(env: dict[str, str], text: str) -> Path:
    path = locate.user_config_file(env)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_root_is_found_from_anywhere_inside(root):
    for inside in (root, root / "my_mlops_project", root / "my_mlops_project" / "training"):
        assert locate.find_project_root(inside) == root.resolve()
    assert locate.find_project_root(root.parent) is None


@pytest.mark.parametrize(
    "markers",
    [
        [".github/workflows/deploy-cicd.yml"],  # a CICD_Only root
        ["cicd_params.json"],
        ["p/databricks.yml", "p/project_params.json"],  # a Project_Only project on its own
    ],
)
def test_each_marker_alone_makes_a_root(tmp_path, markers):
    for rel in markers:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}\n")
    (tmp_path / "p" / "deep").mkdir(parents=True, exist_ok=True)
    assert locate.find_project_root(tmp_path / "p" / "deep") == tmp_path.resolve()


def test_any_bundle_is_not_a_root(tmp_path):
    """A databricks.yml without MLOps Stacks' project_params.json is some other bundle."""
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "databricks.yml").write_text("bundle: {name: other}\n")
    assert not locate.is_project_root(tmp_path)


def test_two_lines_at_the_root_are_enough_from_a_subfolder(root, env):
    settings = load_settings(cwd=root / "my_mlops_project" / "training", env=env)
    assert settings.project.dir == root.resolve()
    assert settings.github.full_name == "acme/my-mlops-project"  # input_root_dir
    assert settings.databricks.account.id == ACCOUNT
    assert settings.databricks.workspace("prod").host == "https://prod.cloud.databricks.com"
    assert settings.state_dir == root.resolve() / ".mlops-setup"


def test_outside_any_project_project_dir_is_asked_for(tmp_path, env):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / locate.PROJECT_FILE).write_text(TWO_LINES)
    with pytest.raises(ConfigError, match=r"project\.dir: no MLOps Stacks project here"):
        load_settings(cwd=tmp_path / "elsewhere", env=env)


def test_project_dir_still_points_elsewhere(root, tmp_path, env):
    """The clone-style setup: a config outside the project names it."""
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / locate.PROJECT_FILE).write_text(TWO_LINES + f"project: {{dir: {root}}}\n")
    assert load_settings(cwd=ops, env=env).project.dir == root


def test_layers_in_order_user_project_env_flags(root, env):
    user_file(
        env,
        "github: {owner: alice, visibility: internal}\n"
        "databricks: {account: {profile: acme-account}}\n",
    )
    cwd = root / "my_mlops_project"
    settings = load_settings(cwd=cwd, env=env)
    assert settings.github.owner == "acme"  # the project's file beats the personal one
    assert settings.github.visibility == "internal"  # personal default kept
    assert settings.databricks.account.profile == "acme-account"
    env["MLOPS_SETUP_GITHUB_VISIBILITY"] = "public"
    assert load_settings(cwd=cwd, env=env).github.visibility == "public"  # env beats files
    flagged = load_settings(cwd=cwd, env=env, overrides={"github.visibility": "private"})
    assert flagged.github.visibility == "private"  # flags beat everything


def test_the_walk_up_is_made_only_when_a_setting_needs_it(root, tmp_path, env, monkeypatch):
    """The walk up to the project root lists every folder on the way to ``/``: a file in the
    working directory that names project.dir needs none of it, so none is made; without one,
    it still finds the project (and the file at its root)."""
    walks: list[Path] = []
    find = locate.find_project_root
    monkeypatch.setattr(
        locate, "find_project_root", lambda start: walks.append(start) or find(start)
    )
    ops = tmp_path / "ops"
    ops.mkdir()
    (ops / locate.PROJECT_FILE).write_text(TWO_LINES + f"project: {{dir: {root}}}\n")
    assert load_settings(cwd=ops, env=env).project.dir == root
    assert [layer.active for layer in locate.config_layers(env=env, cwd=ops)][2]
    assert walks == []
    sub = root / "my_mlops_project"
    assert load_settings(cwd=sub, env=env).project.dir == root.resolve()
    assert walks == [sub]


def test_working_directory_file_comes_before_the_root_one(root, env):
    sub = root / "my_mlops_project"
    (sub / locate.PROJECT_FILE).write_text(TWO_LINES.replace("acme", "globex"))
    assert load_settings(cwd=sub, env=env).github.owner == "globex"
    assert load_settings(cwd=sub / "training", env=env).github.owner == "acme"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("project: {dir: /somewhere}\n", r"config\.yaml: project: belongs in the project's"),
        ("override: {github: {default_branch: x}}\n", r"override: belongs in the project's"),
        ("github: {token: abc}\n", r"config\.yaml: github\.token: secrets never live"),
        ("github: {ownr: acme}\n", r"config\.yaml: github\.ownr: unknown setting"),
        ("github: [unclosed\n", r"config\.yaml: invalid YAML"),
    ],
)
def test_bad_personal_file_is_one_line_naming_it(root, env, text, match):
    path = user_file(env, text)
    with pytest.raises(ConfigError, match=match) as caught:
        load_settings(cwd=root, env=env)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_user_file_honours_xdg_and_falls_back_to_home(tmp_path):
    home = str(tmp_path / "h")
    xdg = str(tmp_path / "x")
    expected = Path(xdg, "mlops-setup", "config.yaml")
    assert locate.user_config_file({"HOME": home, "XDG_CONFIG_HOME": xdg}) == expected
    fallback = Path(home, ".config", "mlops-setup", "config.yaml")
    assert locate.user_config_file({"HOME": home}) == fallback
    # a relative XDG_CONFIG_HOME is invalid per the XDG spec: ignored
    assert locate.user_config_file({"HOME": home, "XDG_CONFIG_HOME": "rel"}) == fallback


def test_config_layers_list_each_file_in_order(root, env):
    user = user_file(env, "github: {visibility: internal}\n")
    env["MLOPS_SETUP_CI_WAIT_TIMEOUT"] = "60"
    layers = locate.config_layers(env=env, cwd=root / "my_mlops_project")
    assert [layer.name for layer in layers] == [
        "defaults",
        "user file",
        "project file",
        "environment",
        "task flags",
    ]
    defaults, personal, project, environment, _ = layers
    assert Path(defaults.source).read_text() == locate.resource(locate.DEFAULTS).read_text()
    assert (personal.source, personal.active) == (str(user), True)
    assert (project.source, project.note) == (str(root / "mlops-setup.yaml"), "at the project root")
    assert environment.note == "MLOPS_SETUP_CI_WAIT_TIMEOUT"


def test_inspect_shows_the_layers_from_a_subfolder(root, env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    user = user_file(env, "github: {visibility: internal}\n")
    monkeypatch.setenv("MLOPS_SETUP_CI_WAIT_TIMEOUT", "60")
    result = run_cli("setup.inspect", cwd=root / "my_mlops_project" / "training")
    assert result.code == 0, result.err
    layers = f"defaults < {user} < {root / 'mlops-setup.yaml'} < MLOPS_SETUP_CI_WAIT_TIMEOUT"
    assert re.search(rf"config \(later wins\) +{re.escape(layers)}\n", result.out), result.out
    # from the root, the project's file is named as it is seen from there
    shown = run_cli("setup.inspect", cwd=root).out
    assert re.search(r"config \(later wins\) +defaults < .* < mlops-setup\.yaml < MLOPS_", shown)
    doc = run_cli("setup.inspect", "--json", cwd=root / "my_mlops_project").out
    listed = yaml.safe_load(doc)["config_layers"]
    assert [layer["name"] for layer in listed][2] == "project file"
    assert listed[1]["source"] == str(user)
    assert os.environ["XDG_CONFIG_HOME"] in listed[1]["source"]


def test_layers_line_shortens_paths_under_home(tmp_path):
    home = tmp_path / "home"
    layers = [
        locate.Layer("defaults", "/site/mlops_setup/data/defaults.yaml", True),
        locate.Layer("user file", str(home / ".config/mlops-setup/config.yaml"), True),
        locate.Layer("project file", str(tmp_path / "p" / "mlops-setup.yaml"), True),
        locate.Layer("environment", "MLOPS_SETUP_* variables", False, "none set"),
        locate.Layer("task flags", "the command line", True),
    ]
    line = locate.layers_line(layers, cwd=tmp_path / "p", env={"HOME": str(home)})
    assert line == "defaults < ~/.config/mlops-setup/config.yaml < mlops-setup.yaml"


def test_layers_name_the_f_file_and_leave_a_python_one_to_invoke(root, env, tmp_path):
    class Given:  # what Invoke's Config keeps of `-f FILE`
        def __init__(self, path):
            self._runtime_path = str(path)

    other = tmp_path / "other.yaml"
    other.write_text(TWO_LINES)
    layers = locate.config_layers(Given(other), env=env, cwd=root)
    assert (layers[2].source, layers[2].note) == (str(other), "given with -f")
    # -f tasks_config.py is Invoke's own: the project's file is ours as usual
    layers = locate.config_layers(Given(tmp_path / "x.py"), env=env, cwd=root)
    assert (layers[2].source, layers[2].note) == (
        str(root / "mlops-setup.yaml"),
        "in the working directory",
    )

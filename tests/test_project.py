"""The project model reads what a generated MLOps Stacks tree says, for every variant.

Each variant of the bundled example (cloud x setup mode x name x branch, plus a root holding two
projects) is generated, then ``setup.inspect --json`` is compared key by key with what the
template renders for those inputs (FACTS.md, template v0.5): expectations are written from the
variant's parameters, not from the reader.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_setup.example import write_example_project
from mlops_setup.project import folder_of, read_project
from tests.conftest import edit_keeping_stat

CLOUDS = ("aws", "azure", "gcp")
MODES = ("CICD_and_Project", "CICD_Only", "Project_Only")
NAMES = ("my_mlops_project", "churn-model")
BRANCHES = ("main", "master")
HOST_SUFFIX = {
    "aws": ".cloud.databricks.com",
    "gcp": ".gcp.databricks.com",
    "azure": ".azuredatabricks.net",
}
SECRETS = {
    "aws": ["STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN", "WORKFLOW_TOKEN"],
    "gcp": ["STAGING_WORKSPACE_TOKEN", "PROD_WORKSPACE_TOKEN", "WORKFLOW_TOKEN"],
    "azure": [
        *(f"STAGING_AZURE_SP_{w}" for w in ("APPLICATION_ID", "CLIENT_SECRET", "TENANT_ID")),
        *(f"PROD_AZURE_SP_{w}" for w in ("APPLICATION_ID", "CLIENT_SECRET", "TENANT_ID")),
        "WORKFLOW_TOKEN",
    ],
}


def variant(tmp_path: Path, cloud: str, mode: str, name: str, branch: str) -> Path:
    root = tmp_path / "root"
    if mode == "Project_Only":
        # A Project_Only project lives in the repository its CICD_Only sibling made.
        write_example_project(root, name, cloud=cloud, default_branch=branch, with_cicd=False)
    else:
        write_example_project(root, name, cloud=cloud, mode=mode, default_branch=branch)
    return root


def inspect_json(cli, root: Path, tmp_path: Path) -> tuple[int, dict]:
    config = tmp_path / "inspect.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "project": {"dir": str(root)},
                "github": {"owner": "acme"},
                "databricks": {"account": {"id": "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"}},
            }
        )
    )
    result = cli("-f", str(config), "setup.inspect", "--json")
    return result.code, json.loads(result.out)


@pytest.mark.parametrize(
    ("cloud", "mode", "name", "branch"), list(itertools.product(CLOUDS, MODES, NAMES, BRANCHES))
)
def test_every_variant_inspects_as_generated(cli, clean_env, tmp_path, cloud, mode, name, branch):
    root = variant(tmp_path, cloud, mode, name, branch)
    code, doc = inspect_json(cli, root, tmp_path)
    has_project = mode != "CICD_Only"
    folder = folder_of(name)
    assert doc["cicd_platform"] == "github_actions"
    assert doc["cloud"] == cloud
    assert doc["default_branch"] == branch
    assert doc["release_branch"] == "release"
    assert doc["setup_mode"] == mode
    assert doc["project_name"] == (name if has_project else None)
    assert doc["project_folder"] == (folder if has_project else None)
    for env in ("staging", "prod"):
        host = doc["workspaces"][env]
        assert host.startswith("https://") and host.endswith(HOST_SUFFIX[cloud]), host
    assert {k: v for k, v in doc["catalogs"].items() if k != "dev"} == {
        "staging": "staging",
        "prod": "prod",
        "test": "test",
    }
    assert doc["secrets"] == SECRETS[cloud]
    if has_project:
        assert doc["schema"] == name
        assert doc["model_name"] == f"{name}-model"
        for env in ("staging", "prod"):
            assert sorted(doc["jobs"][env]) == [
                f"{env}-{name}-batch-inference-job",
                f"{env}-{name}-model-training-job",
            ]
            assert doc["batch_inference"][env] == {
                "input_table": "taxi_scoring_sample",
                "output_table": f"{env}.{name}.predictions",
            }
        workflows = {
            f".github/workflows/{name}-{s}"
            for s in (
                "bundle-ci.yml",
                "bundle-cd-staging.yml",
                "bundle-cd-prod.yml",
                "run-tests.yml",
            )
        }
        present = workflows <= set(doc["workflows"])
        assert present == (mode == "CICD_and_Project")
    else:
        assert doc["jobs"] == {"staging": [], "prod": []}
        assert not any(w.endswith("-bundle-ci.yml") for w in doc["workflows"])
    assert ".github/workflows/deploy-cicd.yml" in doc["workflows"]
    assert doc["problems"] == [], doc["problems"]
    assert code == 0
    # every fact shown names the file it came from, and that file exists
    for key, where in doc["sources"].items():
        path = where.split(" ")[0].split(":")[0].rstrip("/")
        assert (root / path).exists() or "*" in path, (key, where)


def test_two_projects_in_one_root(cli, clean_env, tmp_path):
    root = tmp_path / "root"
    write_example_project(root, "churn-model", also=("fraud_model",))
    code, doc = inspect_json(cli, root, tmp_path)
    assert code == 2
    assert sorted(p["name"] for p in doc["projects"]) == ["churn-model", "fraud_model"]
    assert any("several projects" in p for p in doc["problems"])
    model = read_project(root, "fraud_model")
    assert model.project_name == "fraud_model"
    assert model.selected.jobs["prod"][0].startswith("prod-fraud_model-")
    assert not model.blocking
    assert read_project(root, "churn_model").project_name == "churn-model"  # by folder too


def test_placeholder_hosts_are_problems_with_file_and_line(cli, clean_env, tmp_path):
    root = tmp_path / "root"
    write_example_project(root, "churn-model", cloud="azure", placeholder_hosts=True)
    code, doc = inspect_json(cli, root, tmp_path)
    assert code == 2
    placeholders = [p for p in doc["problems"] if "placeholder" in p]
    assert placeholders and all("churn_model/databricks.yml:" in p for p in placeholders)
    assert any("adb-xxxx" in p for p in placeholders)


def test_contradicting_config_is_named_with_both_places(cli, clean_env, tmp_path):
    root = tmp_path / "root"
    write_example_project(root, "churn-model", default_branch="main")
    config = tmp_path / "c.yaml"
    base = {
        "project": {"dir": str(root)},
        "github": {"owner": "acme", "default_branch": "master"},
        "databricks": {"account": {"id": "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"}},
    }
    config.write_text(yaml.safe_dump(base))
    result = cli("-f", str(config), "repo.create", "--dry-run")
    assert result.code == 2
    assert "github.default_branch: 'master' contradicts the project" in result.err
    assert "churn-model-bundle-cd-staging.yml:" in result.err
    # the same value under override: is taken, and inspect shows it
    del base["github"]["default_branch"]
    base["override"] = {"github": {"default_branch": "master"}}
    config.write_text(yaml.safe_dump(base))
    from mlops_setup.config import load_settings

    settings = load_settings(config_file=config, env={}, cwd=tmp_path)
    assert settings.github.default_branch == "master"
    assert settings.override == {"github.default_branch": "master"}


def test_override_refuses_what_the_project_does_not_state(clean_env, tmp_path):
    from mlops_setup.config import ConfigError, load_settings

    root = write_example_project(tmp_path / "root", "churn-model")
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "project": {"dir": str(root)},
                "github": {"owner": "acme"},
                "databricks": {"account": {"id": "x"}},
                "override": {"github": {"owner": "evil"}},
            }
        )
    )
    with pytest.raises(ConfigError, match=r"override\.github\.owner: only what the project"):
        load_settings(config_file=config, env={}, cwd=tmp_path)


def test_branch_disagreement_between_files_blocks(tmp_path):
    root = write_example_project(tmp_path / "root", "churn-model", default_branch="main")
    params = root / "cicd_params.json"
    data = json.loads(params.read_text())
    data["input_default_branch"] = "develop"
    params.write_text(json.dumps(data))
    model = read_project(root)
    assert model.default_branch == "main"
    assert any("'develop'" in str(p) and p.source == "cicd_params.json" for p in model.blocking)


def test_cloud_disagreement_between_params_blocks(tmp_path):
    root = write_example_project(tmp_path / "root", "churn-model", cloud="aws")
    params = root / "churn_model" / "project_params.json"
    data = json.loads(params.read_text())
    data["input_cloud"] = "azure"
    params.write_text(json.dumps(data))
    problems = [str(p) for p in read_project(root).blocking]
    assert any("deploy-cicd.yml stops when the two differ" in p for p in problems)


@pytest.mark.parametrize(
    ("where", "make"),
    [
        (".gitlab", lambda root: (root / ".gitlab").mkdir()),
        (
            ".azure/devops-pipelines",
            lambda root: (root / ".azure/devops-pipelines").mkdir(parents=True),
        ),
    ],
)
def test_other_ci_platforms_are_refused_in_one_line(tmp_path, where, make):
    root = write_example_project(tmp_path / "root", "churn-model")
    import shutil

    shutil.rmtree(root / ".github")
    make(root)
    model = read_project(root)
    assert model.cicd_platform in ("gitlab", "azure_devops")
    assert any("GitHub Actions only" in str(p) for p in model.blocking)


@pytest.mark.parametrize(
    "damage",
    [
        "bundle:\n  name: [unclosed\n",  # broken YAML
        "a: &a [*a]\n",  # recursive alias
        "\x00\x01",  # binary
        "x" * (2 << 20),  # huge
        "targets: 5\nbundle: {name: churn-model}\n",  # wrong shapes
        "bundle: {name: churn-model}\ninclude: ['../../etc/*']\n",  # includes outside
    ],
)
def test_odd_trees_give_problems_never_tracebacks(tmp_path, damage):
    root = write_example_project(tmp_path / "root", "churn-model")
    (root / "churn_model" / "databricks.yml").write_text(damage)
    model = read_project(root)  # must not raise
    json.dumps(model.to_json())
    assert model.problems


def test_symlinked_file_outside_the_tree_is_not_read(tmp_path):
    root = write_example_project(tmp_path / "root", "churn-model")
    secret = tmp_path / "outside.json"
    secret.write_text('{"input_cloud": "gcp"}')
    (root / "cicd_params.json").unlink()
    (root / "cicd_params.json").symlink_to(secret)
    model = read_project(root)
    assert any("outside the project" in str(p) for p in model.problems)


def test_folder_rule_is_the_templates():
    assert folder_of("churn-model") == "churn_model"
    assert folder_of("my mlops project") == "mymlopsproject"
    assert folder_of("a.b-c_d") == "ab_c_d"


def test_the_templates_bare_input_table_is_one_note_naming_every_target(tmp_path):
    """The generated job reads `taxi_scoring_sample` in staging and prod: one note says both
    (it named staging alone)."""
    root = write_example_project(tmp_path / "p")
    notes = [str(p) for p in read_project(root).problems if not p.blocking]
    bare = [n for n in notes if "taxi_scoring_sample" in n]
    assert len(bare) == 1, notes
    assert "reads 'taxi_scoring_sample' in staging and prod, which is not a full" in bare[0]


def test_the_batch_job_file_is_named_where_the_project_defines_it(tmp_path):
    """The note on the bare input table, and every fix that says where to set it, name the
    file that defines the batch inference job: the template's, or the one the project renamed
    it to (listed under `include:`)."""
    root = write_example_project(tmp_path / "p")
    assert read_project(root).batch_resource() == (
        "my_mlops_project/resources/batch-inference-workflow-resource.yml"
    )
    folder = root / "my_mlops_project"
    (folder / "resources/batch-inference-workflow-resource.yml").rename(
        folder / "resources/scoring.yml"
    )
    bundle = folder / "databricks.yml"
    text = bundle.read_text()
    assert "resources/batch-inference-workflow-resource.yml" in text
    bundle.write_text(
        text.replace("resources/batch-inference-workflow-resource.yml", "resources/scoring.yml")
    )
    model = read_project(root)
    assert model.batch_resource() == "my_mlops_project/resources/scoring.yml"
    (note,) = [p for p in model.problems if "taxi_scoring_sample" in p.message]
    assert note.source == "my_mlops_project/resources/scoring.yml"


def test_an_edit_that_keeps_size_and_time_is_read(tmp_path):
    """What the reader keeps between reads is keyed by the text, not by the file's size and
    time: an edit within the clock's tick, to the same length, is read the next time."""
    root = write_example_project(tmp_path / "p")
    resources = root / "my_mlops_project/resources/batch-inference-workflow-resource.yml"
    first = read_project(root)
    assert first.selected.batch_inference["prod"]["input_table"] == "taxi_scoring_sample"
    edit_keeping_stat(resources, "taxi_scoring_sample", "taxi_scoring_sampl2")
    edit_keeping_stat(root / "my_mlops_project/databricks.yml", "prod:", "prox:")
    again = read_project(root)
    assert again.selected.batch_inference["prod"]["input_table"] == "taxi_scoring_sampl2"
    assert "prod" not in again.selected.targets_in_bundle  # the target is now "prox"


def _containers(value: Any, seen: dict[int, Any]) -> dict[int, Any]:
    """Every mapping, list and set reachable from ``value`` (through dataclass fields too)."""
    if id(value) in seen or isinstance(value, str | int | float | bool | type(None) | Path):
        return seen
    if isinstance(value, dict | list | set):
        seen[id(value)] = value
        items = list(value.items()) if isinstance(value, dict) else list(value)
        for item in items:
            _containers(item, seen)
    elif dataclasses.is_dataclass(value):
        seen[id(value)] = value
        for f in dataclasses.fields(value):
            _containers(getattr(value, f.name), seen)
    elif isinstance(value, tuple):
        for item in value:
            _containers(item, seen)
    return seen


def test_what_the_reader_keeps_is_never_handed_out_nor_changed(tmp_path):
    """The parsed YAML kept between reads (keyed by text) stays as parsed: no model holds a
    mapping or list of it, so a step changing its model changes no later read, and the reader
    itself changes none of it."""
    from mlops_setup import project as reader

    reader._PARSED.kept.clear()
    roots = [
        write_example_project(tmp_path / "a"),
        write_example_project(tmp_path / "b", "churn-model", cloud="azure", with_cicd=False),
        write_example_project(tmp_path / "c", mode="CICD_Only", cloud="gcp"),
    ]
    models = [read_project(root) for root in roots] + [read_project(roots[0])]
    assert reader._PARSED.kept  # the texts were kept: this test looks at something
    kept = _containers([data for data, _ in reader._PARSED.kept.values()], {})
    for model in models:
        shared = kept.keys() & _containers(model, {}).keys()
        assert not shared, [kept[i] for i in shared][:3]
    for text, (data, _) in reader._PARSED.kept.items():
        assert data == (yaml.safe_load(text) if isinstance(yaml.safe_load(text), dict) else {})
    # a caller that changes everything it can reach in its model changes no later read
    pristine = read_project(roots[0]).to_json()
    model = read_project(roots[0])
    for container in _containers(model, {}).values():
        if isinstance(container, dict | list | set):
            container.clear()
    model.selected = None
    assert read_project(roots[0]).to_json() == pristine

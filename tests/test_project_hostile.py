"""The project model on odd and hostile trees: it never raises, never hangs, never reads
outside the project, and says what it could not read. Config and ``setup.inspect --json``
around it keep their word too."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from mlops_setup.example import write_example_project
from mlops_setup.project import MAX_RESOLVED, read_project

ACCOUNT = "0d2c1e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5"


class Hang(BaseException):
    """Raised by the alarm: not an OSError or ValueError a reader could swallow."""


@contextmanager
def within(seconds: int) -> Iterator[None]:
    def ring(*_: object) -> None:
        raise Hang(f"took more than {seconds}s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def project(tmp_path: Path) -> Path:
    return write_example_project(tmp_path / "root", "churn-model")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def include(root: Path, pattern: str) -> None:
    edit(root / "churn_model" / "databricks.yml", "include:\n", f"include:\n  - '{pattern}'\n")


def all_jobs(model) -> list[str]:
    return [j for jobs in model.selected.jobs.values() for j in jobs]


@pytest.mark.parametrize("pattern", ["/etc/*.conf", ".", "./", "~/x.yml", "..\\..\\*"])
def test_include_patterns_outside_or_empty_are_notes_not_crashes(tmp_path, pattern):
    root = project(tmp_path)
    include(root, pattern)
    model = read_project(root)  # absolute and "." patterns made pathlib raise
    assert model.project_name == "churn-model"
    assert any("reaches outside" in str(p) for p in model.problems)
    assert not model.blocking


def test_include_through_a_link_to_a_folder_outside_reads_nothing_there(tmp_path):
    root = project(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.yml").write_text("resources:\n  jobs:\n    evil:\n      name: EVIL\n")
    (root / "churn_model" / "resources" / "ext").symlink_to(outside)
    include(root, "./resources/ext/*.yml")
    model = read_project(root)
    assert "EVIL" not in all_jobs(model)


def test_a_project_folder_linked_from_outside_is_not_read(tmp_path):
    root = project(tmp_path)
    (root / "churn_model").rename(tmp_path / "elsewhere")
    (root / "churn_model").symlink_to(tmp_path / "elsewhere")
    model = read_project(root)
    assert model.selected is None
    assert any("outside the project" in str(p) for p in model.blocking)


def test_include_globs_over_link_loops_stay_bounded(tmp_path):
    root = project(tmp_path)
    folder = root / "churn_model"
    (folder / "a").symlink_to(folder)
    (folder / "b").symlink_to(folder)
    include(root, "*/" * 22 + "*.yml")  # 2**22 paths through the two loops
    include(root, "**/*.yml")
    with within(20):
        model = read_project(root)
    jobs = all_jobs(model)
    assert len(jobs) == len(set(jobs)), "a job read twice through a loop"


def test_variables_that_multiply_each_other_stay_bounded(tmp_path):
    root = project(tmp_path)
    edit(
        root / "churn_model" / "databricks.yml",
        "default: churn-model-model",
        "default: '" + "${var.model_name}" * 40 + "'",
    )
    with within(20):
        model = read_project(root)
    assert len(model.selected.model_name) <= MAX_RESOLVED + 40 * len("${var.model_name}")


@pytest.mark.parametrize(
    "shape",
    ["tasks: 5", "parameters: [{name: [1], default: x}]"],
)
def test_odd_job_shapes_are_skipped(tmp_path, shape):
    root = project(tmp_path)
    res = root / "churn_model" / "resources" / "batch-inference-workflow-resource.yml"
    edit(res, "      tasks:", f"      {shape}\n      x_tasks:")
    model = read_project(root)  # tasks: 5 and a list as a parameter name raised TypeError
    assert model.project_name == "churn-model"


def test_deeply_nested_json_is_a_problem(tmp_path):
    root = project(tmp_path)
    (root / "cicd_params.json").write_text("[" * 100_000 + "]" * 100_000)
    model = read_project(root)  # RecursionError before
    assert any(p.source == "cicd_params.json" and "JSON" in p.message for p in model.blocking)


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_databricks_yml_that_is_no_file_is_said_not_skipped(tmp_path, kind):
    root = project(tmp_path)
    path = root / "churn_model" / "databricks.yml"
    path.unlink()
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    with within(20):
        model = read_project(root)
    # before: silently a CICD_Only root, ready to set up
    assert any(p.source == "churn_model/databricks.yml" for p in model.blocking)


def test_a_file_read_twice_says_its_problem_once(tmp_path):
    root = project(tmp_path)
    (root / ".github/workflows/churn-model-bundle-cd-staging.yml").write_bytes(b"\xff\xfe\x00")
    problems = [str(p) for p in read_project(root).problems]
    assert len(problems) == len(set(problems)), problems


def test_two_bundles_with_one_name_need_the_folder(tmp_path):
    root = project(tmp_path)
    import shutil

    shutil.copytree(root / "churn_model", root / "a_copy")
    model = read_project(root, "churn-model")
    assert model.selected is None  # before: silently the first folder
    assert any("names several projects" in str(p) for p in model.blocking)
    picked = read_project(root, "a_copy")
    assert picked.project_folder == "a_copy"
    # a folder that is the raw name itself settles it, whatever sorts first
    shutil.copytree(root / "churn_model", root / "churn-model")
    assert read_project(root, "churn-model").project_folder == "churn-model"


# --------------------------------------------------------------------------- config


def settings_for(tmp_path: Path, root: Path, **extra):
    from mlops_setup.config import load_settings

    data = {"project": {"dir": str(root)}, "github": {"owner": "acme"}}
    data["databricks"] = {"account": {"id": ACCOUNT}, **extra.pop("databricks", {})}
    data.update(extra)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(data))
    return load_settings(config_file=config, env={}, cwd=tmp_path)


def test_a_host_in_other_case_does_not_contradict_the_project(clean_env, tmp_path):
    root = project(tmp_path)
    host = "https://STAGING.cloud.databricks.com/"
    settings = settings_for(tmp_path, root, databricks={"workspaces": {"staging": {"host": host}}})
    assert settings.databricks.workspaces.staging.host.lower().startswith("https://staging.")


def test_an_override_given_as_a_mapping_is_refused_not_dropped(clean_env, tmp_path):
    from mlops_setup.config import ConfigError

    root = project(tmp_path)
    with pytest.raises(ConfigError, match=r"github\.default_branch"):
        settings_for(tmp_path, root, override={"github": {"default_branch": {}}})


@pytest.mark.parametrize(
    "config",
    [
        {"project": {"dir": "nope"}},
        {"project": {"dir": [1]}},
        {"project": {"dir": "."}, "nope": 1},
        {"project": {"dir": "."}, "override": 5},
    ],
)
def test_inspect_json_answers_json_when_the_config_reads_no_project(
    cli, clean_env, tmp_path, config
):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**config, "github": {"owner": "a"}}))
    result = cli("-f", str(path), "setup.inspect", "--json")
    assert result.code == 2
    doc = json.loads(result.out)  # before: nothing on stdout
    assert doc["project_name"] is None and doc["setup_mode"] is None
    assert doc["problems"] and doc["problems"][0].startswith("config error: ")
    assert "Traceback" not in result.err

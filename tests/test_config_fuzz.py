"""Bad input, at random: whatever YAML or flag values come in, the loader answers with one line
naming the file and the key, and exit code 2; never a traceback."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_setup.config import ConfigError, load_settings
from tests.conftest import make_project, run_cli

KNOWN = {
    "project": ["dir", "name"],
    "github": [
        "owner",
        "repo",
        "owner_type",
        "visibility",
        "default_branch",
        "remote",
        "git_url",
        "api_url",
        "first_commit_paths",
        "merge_method",
        "workflow_token_env",
    ],
    "databricks": [
        "cloud",
        "sp_mode",
        "account",
        "workspaces",
        "service_principals",
        "sp_visible_timeout",
    ],
    "unity_catalog": ["catalogs", "schema", "grant_on", "create_missing", "batch_inference"],
    "secrets": ["token_lifetime_days", "renew_before_days"],
    "ci": ["wait_timeout", "poll_min", "poll_max"],
    "handoff": ["team", "users", "title"],
    "state_dir": [],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=string.printable, max_size=20),
    st.sampled_from(["", "private", "org", "main", "https://x", "dapi" + "a" * 32, "{project}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.text(alphabet=string.ascii_lowercase + "_", max_size=8), inner, max_size=3
        ),
    ),
    max_leaves=8,
)


@st.composite
def documents(draw):
    doc = {}
    for section in draw(st.lists(st.sampled_from(sorted(KNOWN)), max_size=4, unique=True)):
        keys = KNOWN[section]
        if not keys or draw(st.booleans()):
            doc[section] = draw(values)
        else:
            chosen = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
            doc[section] = {k: draw(values) for k in chosen}
    if draw(st.booleans()):
        doc[draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=6))] = draw(values)
    return doc


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One example project for all examples; each example rewrites only the config file."""
    project = make_project(tmp_path_factory.mktemp("fuzz"))
    return project, project.config_file.read_text()


OUTCOMES: dict[str, int] = {}


def _assert_clear(err: ConfigError, label: str) -> None:
    text = str(err)
    assert "\n" not in text
    assert text.startswith(label) or text.startswith(
        ("config:", "environment variable", "task flag", "project.dir")
    )
    assert ": " in text  # "<file>: <key>: <what was expected>"
    OUTCOMES["error"] = OUTCOMES.get("error", 0) + 1


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=documents())
def test_random_documents_never_crash(shared, doc):
    project, original = shared
    base = yaml.safe_load(original)
    for key, value in doc.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    project.config_file.write_text(yaml.safe_dump(base))
    try:
        load_settings(cwd=project.workdir)
        OUTCOMES["loaded"] = OUTCOMES.get("loaded", 0) + 1
    except ConfigError as err:
        _assert_clear(err, str(project.config_file))


def test_fuzz_exercised_both_outcomes():
    """The generator is not degenerate: some documents load, many are refused."""
    assert OUTCOMES.get("error", 0) >= 100
    assert OUTCOMES.get("loaded", 0) >= 5


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=60))
def test_random_text_files_never_crash(shared, text):
    project, _ = shared
    project.config_file.write_text(text)
    try:
        load_settings(cwd=project.workdir)
    except ConfigError as err:
        _assert_clear(err, str(project.config_file))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    key=st.sampled_from(
        [
            "github.visibility",
            "ci.wait_timeout",
            "project.dir",
            "github.owner",
            "secrets.token_lifetime_days",
            "unity_catalog.grant_on",
        ]
    ),
    value=scalars,
)
def test_random_flag_values_never_crash(shared, key, value):
    project, original = shared
    project.config_file.write_text(original)
    try:
        load_settings(cwd=project.workdir, overrides={key: value})
    except ConfigError as err:
        _assert_clear(err, "task flag")


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=documents())
def test_random_documents_through_the_cli_exit_2_or_run(shared, doc):
    project, _ = shared
    bad = project.workdir / "fuzz.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = run_cli("-f", str(bad), "repo.init", "--dry-run", cwd=project.workdir)
    assert "Traceback" not in result.err + result.out
    assert result.code in (0, 2), result.err
    if result.code == 2:
        assert result.err.startswith("config error: ")

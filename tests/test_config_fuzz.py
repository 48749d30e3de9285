"""Bad input, at random: whatever YAML or flag values come in, the loader answers with one line
naming the file and the key, and exit code 2; never a traceback, never a hang.

The inputs: random settings documents; random YAML *text* (any key type, anchors and aliases,
recursive ones too, alias bombs, deep nesting, tags such as ``!!binary``, duplicate keys,
terminal escapes, credential-shaped values); random text files; random flag values; random
``MLOPS_SETUP_*`` values (tags and aliases included); files of other types through ``-f``.
Over 1,000 examples per run (:data:`BUDGETS`); every one must finish within
:data:`MAX_SECONDS`, which each test checks of its own run (:func:`exercised`).
"""

from __future__ import annotations

import functools
import re
import string
import time
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_setup.config import ConfigError, load_settings
from tests.conftest import make_project, run_cli

MAX_SECONDS = 2.0  # "no hang": no single input may take longer
BUDGETS = {  # examples per test; their sum is what a CI run tries
    "documents": 250,
    "yaml_text": 450,
    "text_files": 60,
    "flags": 40,
    "env": 150,
    "cli_documents": 15,
    "cli_files": 40,
}
SLOWEST: dict[str, float] = {}
TRIED: dict[str, int] = {}
OUTCOMES: dict[tuple[str, str], int] = {}  # (kind, "loaded" or "error") -> count
_RUNNING: list[str] = []  # the kind of the example under way (for _assert_clear's count)


class timed:
    """Count an example of ``kind`` and remember the slowest."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __enter__(self) -> None:
        _RUNNING.append(self.kind)
        self.start = time.monotonic()

    def __exit__(self, *exc) -> None:
        took = time.monotonic() - self.start
        _RUNNING.pop()
        SLOWEST[self.kind] = max(SLOWEST.get(self.kind, 0.0), took)
        TRIED[self.kind] = TRIED.get(self.kind, 0) + 1


def outcome(kind: str, what: str) -> None:
    OUTCOMES[kind, what] = OUTCOMES.get((kind, what), 0) + 1


def exercised(kind: str, *, errors: int = 0, loaded: int = 0) -> Any:
    """After the Hypothesis test has run all its examples: it tried at least 90% of its
    budget (the generator is not degenerate), none took longer than MAX_SECONDS (no hang), and
    at least ``errors`` inputs were refused and ``loaded`` loaded. Each test checks its own
    run, so the checks hold whichever worker runs it, in any order."""

    def decorate(test: Any) -> Any:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> None:
            TRIED[kind], SLOWEST[kind] = 0, 0.0
            OUTCOMES[kind, "error"] = OUTCOMES[kind, "loaded"] = 0
            test(*args, **kwargs)
            assert TRIED[kind] >= BUDGETS[kind] * 9 // 10, (kind, TRIED[kind])
            # more than the budget: ``timed`` counted inputs, not examples, and the floor above
            # would pass with a fraction of the examples run
            assert TRIED[kind] <= BUDGETS[kind], (kind, TRIED[kind])
            assert SLOWEST[kind] <= MAX_SECONDS, (kind, SLOWEST[kind])
            assert OUTCOMES[kind, "error"] >= errors, (kind, OUTCOMES[kind, "error"])
            assert OUTCOMES[kind, "loaded"] >= loaded, (kind, OUTCOMES[kind, "loaded"])

        return run

    return decorate


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


# The strategies the composite ones below draw from, built once: hypothesis caches a
# strategy only when its arguments are hashable, so ``st.sampled_from(a_list)`` inside a draw
# built a new one every time (~10% of generating an input). The same strategies, the same
# draws, the same inputs.
SECTIONS = st.lists(st.sampled_from(sorted(KNOWN)), max_size=4, unique=True)
SECTION_KEYS = {
    section: st.lists(st.sampled_from(keys), max_size=3, unique=True)
    for section, keys in KNOWN.items()
    if keys
}
EXTRA_KEY = st.text(alphabet=string.ascii_letters, min_size=1, max_size=6)


@st.composite
def documents(draw):
    doc = {}
    for section in draw(SECTIONS):
        keys = KNOWN[section]
        if not keys or draw(st.booleans()):
            doc[section] = draw(values)
        else:
            chosen = draw(SECTION_KEYS[section])
            doc[section] = {k: draw(values) for k in chosen}
    if draw(st.booleans()):
        doc[draw(EXTRA_KEY)] = draw(values)
    return doc


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One example project for all examples; each example rewrites only the config file."""
    project = make_project(tmp_path_factory.mktemp("fuzz"))
    return project, project.config_file.read_text()


@functools.cache
def _parsed(original: str) -> dict:
    """The example project's settings, parsed once (not once an example: ~2 ms each)."""
    return yaml.safe_load(original)


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _assert_clear(err: ConfigError, label: str) -> None:
    text = str(err)
    assert "\n" not in text
    assert not CONTROL.search(text), text  # escaped: nothing reaches the terminal raw
    assert "dapi" + "a" * 32 not in text and "ghp_" + "A" * 36 not in text  # never echoed
    assert text.startswith(label) or text.startswith(
        ("config:", "environment variable", "task flag", "project.dir")
    )
    assert ": " in text  # "<file>: <key>: <what was expected>"
    if _RUNNING:
        outcome(_RUNNING[-1], "error")


@exercised("documents", errors=50, loaded=5)
@settings(max_examples=BUDGETS["documents"], deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=documents())
def test_random_documents_never_crash(shared, doc):
    project, original = shared
    base = dict(_parsed(original))  # a new top level; the merge below builds new sections
    for key, value in doc.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    project.config_file.write_text(yaml.safe_dump(base))
    with timed("documents"):
        try:
            load_settings(cwd=project.workdir)
            outcome("documents", "loaded")
        except ConfigError as err:
            _assert_clear(err, str(project.config_file))


# ------------------------------------------------------------------- hostile YAML, as text

WORDS = st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8)
ODD_KEYS = [
    "1",
    "-1",
    "1.5",
    "null",
    "~",
    "true",
    "no",
    "'quoted'",
    '"ti\\e[31mtle"',
    '"a\\x07b"',
    "? [a]",
    "run",
    "tasks",
    "token",
    "<<",
]
ODD_SCALARS = [
    "null",
    "~",
    "true",
    "no",
    "0x1F",
    "1e400",
    "-.inf",
    ".nan",
    "2026-01-01",
    "2026-01-01 10:00:00",
    "!!binary aGVsbG8=",
    "!!str 5",
    "!!int x",
    "!!float 1",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!python/object:os.system ls",
    "!custom thing",
    "'single'",
    '"\\e[2J\\u202e"',
    '"a\\0b"',
    "dapi" + "a" * 32,
    "ghp_" + "A" * 36,
    "ssh://git@github.com/acme/x.git",
    "--orphan",
    "-f",
    "has space",
    "a..b",
    "{project}",
    "..",
    "",
    "http://api.example.com",
    "https://evil.example.com",
]
SCALAR_TEXT = st.one_of(
    st.sampled_from(ODD_SCALARS),
    st.text(alphabet=string.ascii_letters + string.digits + "_-./", max_size=12),
    st.integers(-(10**30), 10**30).map(str),
)


# built once (see SECTIONS above): the same strategies yaml_text drew from before
NODE_KINDS = st.sampled_from(["scalar", "scalar", "seq", "map", "alias", "anchor", "deep", "bomb"])
LEAF_KINDS = st.sampled_from(["scalar", "alias"])
DEEP_LEVELS = st.integers(20, 3000)
BOMB_WIDTH, BOMB_LEVELS = st.integers(2, 9), st.integers(2, 8)
ITEMS = st.integers(0, 3)
NODE_KEY = st.one_of(WORDS, st.sampled_from(ODD_KEYS))
LINES = st.integers(1, 5)
LINE_KEY = st.one_of(st.sampled_from(sorted(KNOWN)), st.sampled_from(ODD_KEYS), WORDS)


@st.composite
def yaml_text(draw):
    """A YAML document as text: sections and random keys, flow collections, anchors (an alias
    may name the node that holds it), undefined aliases, merge keys, deep nesting, bombs."""
    anchors: list[str] = []

    def node(depth: int) -> str:
        kind = draw(NODE_KINDS if depth < 3 else LEAF_KINDS)
        if kind == "scalar":
            return draw(SCALAR_TEXT)
        if kind == "alias":
            if anchors and draw(st.booleans()):
                return "*" + draw(st.sampled_from(anchors))
            return "*undefined"
        if kind == "anchor":
            name = f"a{len(anchors)}"
            anchors.append(name)  # before its content: the content may refer to it
            return f"&{name} " + node(depth + 1)
        if kind == "deep":
            n = draw(DEEP_LEVELS)
            return "[" * n + "]" * n
        if kind == "bomb":
            width, levels = draw(BOMB_WIDTH), draw(BOMB_LEVELS)
            name = f"b{len(anchors)}"
            anchors.append(name)
            text = f"&{name}0 [x]"
            for level in range(1, levels):
                text = f"[&{name}{level} {text}" + f", *{name}{level}" * (width - 1) + "]"
            return text
        items = draw(ITEMS)
        if kind == "seq":
            return "[" + ", ".join(node(depth + 1) for _ in range(items)) + "]"
        keys = [draw(NODE_KEY) for _ in range(items)]
        return "{" + ", ".join(f"{k}: {node(depth + 1)}" for k in keys) + "}"

    lines = []
    for _ in range(draw(LINES)):
        key = draw(LINE_KEY)
        lines.append(f"{key}: {node(0)}")
    if anchors and draw(st.booleans()):
        lines.append("<<: *" + draw(st.sampled_from(anchors)))
    return "\n".join(lines) + "\n"


@exercised("yaml_text", errors=100)
@settings(max_examples=BUDGETS["yaml_text"], deadline=None, suppress_health_check=list(HealthCheck))
@given(text=yaml_text())
def test_random_yaml_text_never_crashes_nor_hangs(shared, text):
    project, _ = shared
    project.config_file.write_text(text)
    with timed("yaml_text"):
        try:
            load_settings(cwd=project.workdir)
            outcome("yaml_text", "loaded")
        except ConfigError as err:
            _assert_clear(err, str(project.config_file))


ENV_KEYS = [
    "MLOPS_SETUP_GITHUB_OWNER",
    "MLOPS_SETUP_GITHUB_DEFAULT_BRANCH",
    "MLOPS_SETUP_GITHUB_GIT_URL",
    "MLOPS_SETUP_GITHUB_FIRST_COMMIT_PATHS",
    "MLOPS_SETUP_HANDOFF_USERS",
    "MLOPS_SETUP_HANDOFF_TITLE",
    "MLOPS_SETUP_SECRETS_TOKEN_LIFETIME_DAYS",
    "MLOPS_SETUP_DATABRICKS_WORKSPACES_PROD_HOST",
    "MLOPS_SETUP_STATE_DIR",
    "MLOPS_SETUP_PROJECT_DIR",
]


@exercised("env", errors=10)
@settings(max_examples=BUDGETS["env"], deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(ENV_KEYS), text=yaml_text())
def test_random_environment_values_never_crash(shared, key, text, monkeypatch_module):
    """``MLOPS_SETUP_*`` values with tags, anchors and aliases (the first line of a random
    document, and the whole of it)."""
    project, original = shared
    project.config_file.write_text(original)
    with timed("env"):  # one example, both its inputs: TRIED counts examples (and both fit)
        for value in (text.splitlines()[0].split(": ", 1)[-1], text):
            monkeypatch_module.setenv(key, value)
            try:
                load_settings(cwd=project.workdir)
            except ConfigError as err:
                _assert_clear(err, "environment variable")
    monkeypatch_module.delenv(key)


def test_fuzz_exercised_both_outcomes():
    """The per-test checks (:func:`exercised`) can fail: a run that tried too few inputs, or
    counted more than its budget (inputs, not examples), or took too long on one, or never saw
    an outcome it should have, is refused."""

    def property_run(tries: int, took: float, refused: int) -> None:
        for index in range(tries):
            with timed("flags"):
                if index < refused:
                    outcome("flags", "error")
        SLOWEST["flags"] = max(SLOWEST["flags"], took)  # the slowest input, as timed would

    probe = exercised("flags", errors=2)(property_run)
    probe(BUDGETS["flags"], 0.0, 2)  # enough of everything: passes
    for tries, took, refused in (
        (1, 0.0, 2),
        (BUDGETS["flags"] * 2, 0.0, 2),  # inputs counted, not examples
        (BUDGETS["flags"], 9.0, 2),
        (BUDGETS["flags"], 0.0, 1),
    ):
        with pytest.raises(AssertionError):
            probe(tries, took, refused)


@exercised("text_files")
@settings(
    max_examples=BUDGETS["text_files"], deadline=None, suppress_health_check=list(HealthCheck)
)
@given(text=st.text(max_size=60))
def test_random_text_files_never_crash(shared, text):
    project, _ = shared
    project.config_file.write_text(text)
    with timed("text_files"):
        try:
            load_settings(cwd=project.workdir)
        except ConfigError as err:
            _assert_clear(err, str(project.config_file))


@exercised("flags")
@settings(max_examples=BUDGETS["flags"], deadline=None, suppress_health_check=list(HealthCheck))
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
    with timed("flags"):
        try:
            load_settings(cwd=project.workdir, overrides={key: value})
        except ConfigError as err:
            _assert_clear(err, "task flag")


@exercised("cli_documents")
@settings(
    max_examples=BUDGETS["cli_documents"], deadline=None, suppress_health_check=list(HealthCheck)
)
@given(doc=documents())
def test_random_documents_through_the_cli_exit_2_or_run(shared, doc):
    project, _ = shared
    bad = project.workdir / "fuzz.yaml"
    bad.write_text(yaml.safe_dump(doc))
    with timed("cli_documents"):
        result = run_cli("-f", str(bad), "repo.init", "--dry-run", cwd=project.workdir)
    assert "Traceback" not in result.err + result.out
    assert result.code in (0, 2), result.err
    if result.code == 2:
        assert result.err.startswith("config error: ")


@exercised("cli_files")
@settings(max_examples=BUDGETS["cli_files"], deadline=None, suppress_health_check=list(HealthCheck))
@given(
    suffix=st.sampled_from([".yaml", ".yml", ".YAML", ".json", ".txt", ".toml", ".cfg", ""]),
    text=st.one_of(yaml_text(), st.text(max_size=40)),
)
def test_random_files_of_any_type_through_the_cli(shared, suffix, text):
    """``-f`` with any file type and any content: Invoke's own read of it is hooked too, so
    it is one line and exit 2 (or a run), never a traceback (``.py`` is left out: Invoke
    runs it as Python, by design)."""
    project, _ = shared
    given_file = project.workdir / f"fuzz{suffix}"
    given_file.write_text(text)
    with timed("cli_files"):
        result = run_cli("-f", str(given_file), "repo.init", "--dry-run", cwd=project.workdir)
    assert "Traceback" not in result.err + result.out
    assert result.code in (0, 2), result.err
    if result.code == 2:
        assert result.err.startswith("config error: ")
        assert len(result.err.strip().splitlines()) == 1
        assert not CONTROL.search(result.err.strip())
    if suffix not in (".yaml", ".yml"):
        assert result.code == 2 and "not a YAML file" in result.err

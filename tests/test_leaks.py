"""Leak scan: no credential reaches output, logs, the journal, .git/config, cassettes or docs.

The full setup runs against the fake API (not a cassette), so the tokens the fake mints are
real-looking values, and DEBUG logging is on for every library: the SDKs' own debug logs are the
classic way a token escapes.
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from mlops_setup import demo, guide, logs
from mlops_setup.backoff import RecordingSleep
from mlops_setup.console import Console
from mlops_setup.replay import SECRET_FIELDS
from mlops_setup.session import Runtime, load_session, use_runtime
from tests.conformance import scan_for_credentials
from tests.conftest import FAKE_VALUES, ROOT
from tests.fakeapi import FakeAPI, World


def secret_values(data) -> set[str]:
    """Every string the APIs handed out under a secret-bearing key."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key in SECRET_FIELDS and isinstance(value, str) and len(value) >= 8:
                found.add(value)
            found |= secret_values(value)
    elif isinstance(data, list):
        for value in data:
            found |= secret_values(value)
    return found


@pytest.fixture
def debug_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("databricks", "github", "urllib3", "git"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def full_setup(tmp_path, monkeypatch) -> tuple[dict[str, str], set[str]]:
    """A full setup against the fake API with credential-shaped logins: what it left where,
    and every secret it held or was handed."""
    world = World()
    api = FakeAPI(world)
    out = io.StringIO()
    with demo.demo_environment(tmp_path) as workdir:
        # credential-shaped fakes instead of the demo's stand-ins
        for name, value in zip(
            ("GITHUB_TOKEN", "DATABRICKS_TOKEN", "WORKFLOW_TOKEN"), FAKE_VALUES, strict=True
        ):
            monkeypatch.setenv(name, value)
        world.gh["git_dir"] = str(workdir / "upstream.git")
        runtime = Runtime(
            sleep=RecordingSleep(),
            now=lambda: demo.NOW,
            cwd=str(workdir),
            out=Console(stream=out, err=out),
            probe=lambda *_, **__: None,  # the fake API answers for every host
        )
        with api.serving(), use_runtime(runtime), redirect_stdout(out), redirect_stderr(out):
            session = load_session()
            guide.run_all(session, dry_run=False)
        git_config = (workdir / demo.PROJECT / ".git" / "config").read_text()
        journal_path = workdir / demo.PROJECT / ".mlops-setup" / "journal.json"
        journal = journal_path.read_text() if journal_path.exists() else ""
    minted: set[str] = set()
    for _, response in api.interactions:
        try:
            minted |= secret_values(json.loads(response["body"]["string"] or "null"))
        except ValueError:
            continue
    texts = {"output": out.getvalue(), ".git/config": git_config, "journal": journal}
    return texts, set(FAKE_VALUES) | minted


def assert_no_secret(texts: dict[str, str], secrets: set[str]) -> None:
    for where, text in texts.items():
        leaked = [s[:6] + "..." for s in secrets if s in text]
        assert not leaked, f"{where} contains secrets: {leaked}"
        assert scan_for_credentials(text) == [], where


def test_full_setup_with_debug_logging_leaks_nothing(tmp_path, debug_log, clean_env, monkeypatch):
    texts, secrets = full_setup(tmp_path, monkeypatch)
    assert_no_secret({**texts, "debug log": debug_log.getvalue()}, secrets)
    assert "extraheader" not in texts[".git/config"].lower()


def test_verbose_flag_shows_the_sdks_debug_logs_and_leaks_nothing(tmp_path, clean_env, monkeypatch):
    """``-v``: the SDKs' debug logs, every credential masked (mlops_setup/logs.py)."""
    stream = io.StringIO()
    logs.enable_verbose(stream)
    try:
        texts, secrets = full_setup(tmp_path, monkeypatch)
    finally:
        logs.disable_verbose()
    log = stream.getvalue()
    assert "debug: databricks.sdk: " in log  # the SDKs' requests are there ...
    assert "debug: github" in log or "debug: urllib3" in log
    assert logs.MASK in log  # ... with what would have been a credential masked
    assert_no_secret({**texts, "verbose log": log}, secrets)


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer dapi" + "0123456789abcdef" * 2,  # built: no literal in the tree
        '{"token_value": "anything at all"}',
        "{'secret': 'x1y2z3'}",
        "client_secret=abc123&grant_type=client_credentials",
        "token ghp_" + "a" * 36,
    ],
)
def test_the_mask_hides_each_kind_of_credential(text):
    masked = logs.mask(text, secrets=[])
    assert logs.MASK in masked
    assert scan_for_credentials(masked) == []
    for word in ("dapi0123", "anything", "x1y2z3", "abc123", "ghp_"):
        assert word not in masked


GENERATED = [
    *sorted((ROOT / "runbook").rglob("*.md")),
    *sorted((ROOT / "tests" / "cassettes").rglob("*.yaml")),
    ROOT / "README.md",
    ROOT / "config" / "example.yaml",
]


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_docs_and_cassettes_hold_no_credentials(path):
    text = path.read_text(encoding="utf-8")
    assert scan_for_credentials(text) == []
    assert not any(v in text for v in FAKE_VALUES)

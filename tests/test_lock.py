"""One run at a time per state folder; the journal never loses a writer's entry."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from mlops_setup.journal import VERSION_KEY, Journal
from mlops_setup.lock import Busy, RunLock
from tests.conftest import ROOT


@pytest.fixture
def holder(project):
    """Another process holding the project's state folder, as a second run would see it."""
    state = project.root / ".mlops-setup"
    code = textwrap.dedent(
        f"""
        import sys, datetime as dt
        sys.path.insert(0, {str(ROOT)!r})
        from mlops_setup.lock import RunLock
        lock = RunLock(__import__("pathlib").Path({str(state)!r}),
                       dt.datetime(2026, 3, 2, 8, 59, tzinfo=dt.UTC)).acquire()
        print("held", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=10)


def test_second_run_says_who_holds_the_lock_and_touches_nothing(cli, project, holder, http):
    journal = project.root / ".mlops-setup" / "journal.json"
    result = cli("repo.init")
    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first == (
        f"error: another mlops-setup run is using {project.root / '.mlops-setup'} (pid "
        f"{holder.pid} on {socket.gethostname()}, started 2026-03-02T08:59:00Z); nothing was done"
    )
    assert "Traceback" not in result.err
    assert not (project.root / ".git").exists()  # repo.init did nothing
    assert not journal.exists()
    assert http() == []
    for task in ("setup.status", "setup.plan", "ci.secrets --dry-run"):
        assert cli(*task.split()).code == 1
    holder.stdin.close()
    holder.wait(timeout=10)
    assert cli("repo.init").code == 0  # the lock went with its holder


def test_the_lock_is_released_after_each_task_and_reentrant_in_one_process(tmp_path):
    state = tmp_path / "state"
    with RunLock(state) as outer:
        with RunLock(state):  # setup.all, then a step: the same process
            pass
        info = json.loads((state / "run.lock").read_text())
        assert set(info) == {"pid", "host", "started"}
        assert outer._key
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
            f"from mlops_setup.lock import RunLock; RunLock(Path({str(state)!r})).acquire(); "
            "print('ok')",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.stdout.strip() == "ok", probe.stderr  # released: another process takes it
    assert (state / ".gitignore").read_text().endswith("*\n")


def test_busy_is_a_setup_error_with_exit_code_1(tmp_path):
    assert Busy("x").exit_code == 1


def test_journal_read_modify_write_loses_no_entry(tmp_path):
    """Two writers that both read the journal before either wrote: both entries survive."""
    path = tmp_path / ".mlops-setup" / "journal.json"
    first, second = Journal(path), Journal(path)
    assert first.get("a") is None and second.get("b") is None  # both have read it
    second.set("b", 2)
    first.set("a", 1)
    entries = {k: v for k, v in Journal(path).data.items() if k != VERSION_KEY}
    assert entries == {"a": 1, "b": 2}
    assert first.pop("b") == 2
    assert Journal(path).get("b") is None and Journal(path).get("a") == 1

"""The local journal: no secrets in it, private, and never committed."""

from __future__ import annotations

import subprocess

import pytest

from mlops_setup.journal import Journal


def test_journal_is_private_ignored_by_git_and_refuses_secrets(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    journal = Journal(tmp_path / ".mlops-setup" / "journal.json")
    journal.set("ci.secrets", {"in_flight": {"staging": ["1234abcd"]}})
    assert Journal(journal.path).get("ci.secrets") == {"in_flight": {"staging": ["1234abcd"]}}
    assert oct(journal.path.stat().st_mode & 0o777) == "0o600"
    status = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""  # the folder ignores itself: `git add -A` never takes it
    with pytest.raises(ValueError, match="credential"):
        journal.set("oops", "dapi" + "0" * 32)
    assert "dapi" not in journal.path.read_text()
    assert journal.get("oops") is None  # refused entirely, not kept in memory either
    journal.set("later", 1)  # and the journal still works
    assert Journal(journal.path).get("later") == 1

"""The local journal: no secrets in it, private, and never committed."""

from __future__ import annotations

import json
import subprocess

import pytest

from mlops_setup import __version__
from mlops_setup.journal import Journal, JournalTooNew, release


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


def test_journal_records_the_version_that_wrote_it(tmp_path):
    path = tmp_path / "journal.json"
    Journal(path).set("ci.secrets", {})
    assert json.loads(path.read_text())["written_by"] == __version__


def test_older_journal_is_read_then_marked_with_this_version(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text(json.dumps({"ci.secrets": {"in_flight": {}}, "written_by": "0.0.9"}))
    journal = Journal(path)
    assert journal.get("ci.secrets") == {"in_flight": {}}
    journal.set("later", 1)
    assert json.loads(path.read_text())["written_by"] == __version__
    path.write_text(json.dumps({"ci.secrets": {}}))  # from before versions were recorded
    assert Journal(path).get("ci.secrets") == {}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.1.0", (0, 1, 0)), ("0.10.2rc1", (0, 10, 2)), ("v1.2", (1, 2)), ("garbage", ())],
)
def test_release_numbers_compare_as_numbers(version, expected):
    assert release(version) == expected
    assert release("0.10.0") > release("0.9.9")


def test_newer_journal_is_refused_in_one_line_before_any_call(cli, project):
    """An older mlops-setup stops (exit 2) rather than misread what a newer one recorded."""
    newer = ".".join(str(n) for n in (*release(__version__)[:-1], release(__version__)[-1] + 1))
    path = project.root / ".mlops-setup" / "journal.json"
    path.parent.mkdir()
    text = json.dumps({"ci.secrets": {"in_flight": {"staging": ["1"]}}, "written_by": newer})
    path.write_text(text)
    with pytest.raises(JournalTooNew):
        Journal(path).get("ci.secrets")
    result = cli("ci.secrets", "--dry-run")  # the network is blocked: any call would fail
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {path} was written by mlops-setup {newer}, newer than this one "
        f"({__version__}): upgrade mlops-setup (pipx upgrade mlops-setup) and run it again"
    )
    assert "==" not in result.out  # no step started
    assert path.read_text() == text  # and the journal is left as it was


def test_made_records_keep_their_order_update_in_place_and_are_forgotten(tmp_path):
    """What setup.destroy reads: one record per (kind, id), in the order first made."""
    journal = Journal(tmp_path / "journal.json")
    journal.made("service_principal", "account:1", display_name="staging-x")
    journal.made("grant", "staging:catalog:staging:app", privileges=["USE_CATALOG"])
    journal.made("service_principal", "account:2", display_name="prod-x")
    journal.made("grant", "staging:catalog:staging:app", privileges=["USE_CATALOG", "MODIFY"])
    again = Journal(journal.path)
    assert [(r["kind"], r["id"]) for r in again.made_records()] == [
        ("service_principal", "account:1"),
        ("grant", "staging:catalog:staging:app"),
        ("service_principal", "account:2"),
    ]
    assert again.made_record("grant", "staging:catalog:staging:app")["privileges"] == [
        "USE_CATALOG",
        "MODIFY",
    ]
    again.unmade("service_principal", "account:1")
    again.unmade("service_principal", "account:9")  # not recorded: nothing happens
    assert [r["id"] for r in Journal(journal.path).made_records("service_principal")] == [
        "account:2"
    ]
    with pytest.raises(ValueError, match="credential"):  # a value never gets in
        journal.made("github_secret", "x", value="dapi" + "0" * 32)


def test_a_hand_edited_made_list_with_a_stray_entry_is_kept_and_does_not_crash(tmp_path):
    """``made_records`` skips an entry that is not a record (a journal edited by hand); making
    and forgetting records must skip it too, not crash (setup.destroy crashed with an
    AttributeError right after deleting a secret, before forgetting it)."""
    import json

    path = tmp_path / "journal.json"
    path.write_text(
        json.dumps({"made": [{"kind": "github_secret", "id": "a/b:X", "name": "X"}, "stray"]})
    )
    journal = Journal(path)
    journal.made("sp", "1", display_name="x")
    journal.unmade("github_secret", "a/b:X")
    assert journal.made_records() == [{"kind": "sp", "id": "1", "display_name": "x"}]
    assert "stray" in Journal(path).data["made"]  # not ours to drop

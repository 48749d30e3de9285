"""What the operator sees: colour rules, wrapping, waits (plain and live), the closing count."""

from __future__ import annotations

import io

import pytest

from mlops_setup.changes import Change, Plan, Tally, execute
from mlops_setup.console import Console, wants_color


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("tty", "env", "color"),
    [
        (True, {}, True),
        (False, {}, False),
        (True, {"NO_COLOR": ""}, False),
        (False, {"FORCE_COLOR": "1"}, True),
        (False, {"FORCE_COLOR": "0"}, False),
        (True, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),
    ],
)
def test_colour_only_on_a_terminal_and_as_the_variables_say(tty, env, color):
    assert wants_color(Terminal() if tty else io.StringIO(), env) is color


def test_same_symbol_in_preview_and_run_and_the_verb_says_which():
    out = io.StringIO()
    console = Console(out, color=False)
    plan = Plan("ci.secrets")
    plan.add("mint", "token for SP p", lambda: "id")
    plan.add("set", "secret PROD", lambda: None, kind="replace")
    plan.add("revoke", "token 1a2b of SP p", lambda: None)
    plan.add("merge", "PR #1", lambda: None)
    execute(plan, console, dry_run=True)
    execute(plan, console, dry_run=False)
    assert out.getvalue().splitlines() == [
        "  +   will mint token for SP p",
        "  -/+ will set secret PROD",
        "  -   will revoke token 1a2b of SP p",
        "  ~   will merge PR #1",
        "ci.secrets: 2 to add, 1 to change, 2 to destroy",
        "  +   minted token for SP p",
        "  -/+ set secret PROD",
        "  -   revoked token 1a2b of SP p",
        "  ~   merged PR #1",
        "ci.secrets: 2 added, 1 changed, 2 destroyed",
    ]


def test_a_run_explains_a_thing_once_and_then_refers_back(monkeypatch):
    """A Once warning (or note) in full the first time a run shows its key, then its one-line
    ``again`` form; a new run (``RUN.reset``, each command) says it in full again. The plan
    keeps the full text (``--json``, ``setup.status``)."""
    import copy
    import json

    from mlops_setup import console as console_mod
    from mlops_setup.console import RunRecord

    monkeypatch.setattr(console_mod, "RUN", RunRecord())
    out = io.StringIO()
    console = Console(out, color=False)
    first, second = Plan("ci.permissions"), Plan("deploy.jobs")
    first.warn("table 't' is bare: not granted; set it in f.yml", once="t", again="t: see above")
    first.note("later", once="n", again="later again")
    second.warn("jobs read 't', they fail; set it in f.yml", once="t", again="jobs fail: above")
    second.warn("unrelated")
    for plan in (first, second):
        execute(plan, console, dry_run=False)
    assert [line for line in out.getvalue().splitlines() if line.startswith("  ")] == [
        "  !   table 't' is bare: not granted; set it in f.yml",
        "  >   later",
        "  !   jobs fail: above",
        "  !   unrelated",
    ]
    assert second.warnings[0] == "jobs read 't', they fail; set it in f.yml"
    assert json.dumps(second.warnings[:1]) == "[\"jobs read 't', they fail; set it in f.yml\"]"
    assert copy.deepcopy(second.warnings)[0].again == "jobs fail: above"
    assert [(mark, str(text)) for mark, text in console_mod.RUN.repeated] == [
        ("!", "jobs read 't', they fail; set it in f.yml")
    ]
    console_mod.RUN.reset()  # the next command: a step run on its own says it all
    out.truncate(0)
    out.seek(0)
    execute(second, console, dry_run=True)
    assert "  !   jobs read 't', they fail; set it in f.yml" in out.getvalue().splitlines()


def test_a_verb_without_a_kind_is_refused():
    with pytest.raises(ValueError, match="unknown action verb"):
        Change("frobnicate", "x")
    assert not Tally()


def test_colour_marks_the_symbol_only():
    out = io.StringIO()
    Console(out, color=True).change(Change("create", "SP x"), dry_run=False)
    assert out.getvalue() == "  \x1b[32m+  \x1b[0m created SP x\n"


def test_plain_waits_print_one_line_per_state_with_the_time_waited():
    out = io.StringIO()
    console = Console(out, color=False)
    for state, delay in [("queued", 5), ("queued", 10), ("in_progress", 20), ("in_progress", 40)]:
        console.wait("run #1", state, next_in=delay, url="https://example.test/runs/1")
    console.wait_over("run #1", "completed, success")
    assert out.getvalue().splitlines() == [
        "  ..  run #1: queued: https://example.test/runs/1",
        "  ..  run #1: in_progress after 15s",
        "  ..  run #1: completed, success after 1m15s",
    ]


def test_a_terminal_gets_one_live_line_that_gives_way_to_a_plain_one():
    pytest.importorskip("rich")
    screen = Terminal()
    console = Console(screen, color=False, width=100)
    assert console.live
    console.wait("run #1", "queued", next_in=5, url="https://example.test/runs/1")
    console.wait("run #1", "in_progress", next_in=10, url="https://example.test/runs/1")
    drawn = screen.getvalue()
    assert "run #1: in_progress" in drawn and "next check in" in drawn
    assert "https://example.test/runs/1" in drawn
    console.wait_over("run #1", "completed, success")
    assert screen.getvalue().rstrip().endswith("  ..  run #1: completed, success")


def test_wrapping_only_where_asked_and_never_inside_a_word():
    long = "grant " + "PRIVILEGE, " * 12 + "on https://example.test/" + "x" * 60
    plain = io.StringIO()
    Console(plain, color=False).warning(long)
    assert plain.getvalue() == f"  !   {long}\n"  # a log keeps its lines whole
    narrow = io.StringIO()
    Console(narrow, color=False, width=60).warning(long)
    lines = narrow.getvalue().splitlines()
    assert all(line.startswith("      ") for line in lines[1:])
    assert any(line.strip() == "on" or "https://example.test/" + "x" * 60 in line for line in lines)
    assert " ".join(line[6:] for line in lines) == long


def test_verbatim_lines_are_shown_as_they_are_under_mlops_setup(monkeypatch):
    """A diff shows a file's text: the hint rewrite for the installed command (`invoke X` ->
    `mlops-setup X`) is for our messages, not for what a file holds."""
    from mlops_setup import console

    monkeypatch.setattr(console, "PROGRAM", "mlops-setup")
    out = io.StringIO()
    shown = Console(stream=out, color=False)
    shown.note("run `invoke ci.auth` again")
    shown.verbatim(["+      # run `invoke ci.auth --merge` once checks pass"])
    assert out.getvalue().splitlines() == [
        "  >   run `mlops-setup ci.auth` again",
        "      | +      # run `invoke ci.auth --merge` once checks pass",
    ]

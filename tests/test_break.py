"""Adversarial sweeps: kill ``setup.destroy`` (after a full setup) and ``ci.auth --merge`` (a
token -> oidc migration) before and after each of their mutating requests in turn, with Ctrl-C
(KeyboardInterrupt) or ``SystemExit(1)``, then run the same command again: it must finish, send
no mutation twice, touch no other principal's object, and end where an uninterrupted run ends.

These run against the in-process fake (no cassette; as tests/test_leaks.py does) and take
minutes (100 cases, each a full setup), so they are opt-in:
``MLOPS_SETUP_FAULT_SWEEP=1 .venv/bin/pytest tests/test_break.py -p no:randomly`` (the
migration's reference run goes first and leaves its end state in a file in the temporary folder).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.fakeapi import FakeAPI
from tests.test_setup import checks_pass
from tests.test_teardown import fill_defaults, journal, seed_others, state_of

MUTATING_IN_DESTROY = 13

pytestmark = pytest.mark.skipif(
    not os.environ.get("MLOPS_SETUP_FAULT_SWEEP"), reason="opt-in: MLOPS_SETUP_FAULT_SWEEP=1"
)


class Crash:
    """Wraps the fake: the ``index``-th mutating request (0-based, counted from ``arm()``)
    raises ``exc`` before the server sees it (``when='before'``) or after it applied it."""

    def __init__(self, api: FakeAPI, index: int, when: str, exc: Any):
        self.api, self.index, self.when, self.exc = api, index, when, exc
        self.count = None
        self.sent: list[str] = []
        real = api.make_request

        def make_request(pool, conn, method, url, body=None, headers=None, **kw):
            if self.count is not None and method not in ("GET", "HEAD"):
                n = self.count
                self.count += 1
                if n == self.index and self.when == "before":
                    self.fired = True
                    raise self.exc()
                answer = real(pool, conn, method, url, body, headers, **kw)
                self.sent.append(f"{method} {pool.host}{url}")
                if n == self.index and self.when == "after":
                    self.fired = True
                    raise self.exc()
                return answer
            answer = real(pool, conn, method, url, body, headers, **kw)
            if self.count is not None:
                self.sent.append(f"{method} {pool.host}{url}")
            return answer

        api.make_request = make_request
        self.fired = False

    def arm(self):
        self.count = 0
        self.sent = []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, lambda: SystemExit(1)], ids=["kbd", "exit"])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("index", range(MUTATING_IN_DESTROY))
def test_destroy_killed_at_every_boundary(cli, project, world, index, when, exc):
    seed_others(world)
    fill_defaults(world)
    before = state_of(world)
    api = FakeAPI(world)
    crash = Crash(api, index, when, exc)
    with api.serving():
        checks_pass(world)
        assert cli("setup.all").code == 0
        crash.arm()
        first = cli("setup.destroy")
        assert crash.fired, (first.code, first.out[-2000:], first.err[-2000:])
        assert first.code != 0
        sent_first = [s for s in crash.sent if not s.startswith(("GET", "HEAD"))]
        crash.count = None
        crash.arm()
        crash.index = -1
        second = cli("setup.destroy")
        assert second.code == 0, (first.err[-1500:], second.out[-3000:], second.err[-3000:])
        sent_second = [s for s in crash.sent if not s.startswith(("GET", "HEAD"))]
        crash.arm()
        third = cli("setup.destroy")
        assert third.code == 0 and third.out.splitlines()[-1] == "setup.destroy: no changes", (
            third.out
        )
    both = sent_first + sent_second
    if when == "after":
        assert len(both) == len(set(both)), (index, sent_first, sent_second)
    else:
        assert len(both) == len(set(both)) == MUTATING_IN_DESTROY
    assert [s for s in crash.sent if not s.startswith(("GET", "HEAD"))] == []
    assert state_of(world) == before
    assert [r["kind"] for r in journal(project).get("made", [])] == ["schema"] * 3


# ------------------------------------------------------------------ ci.auth token -> oidc

MUTATING_IN_MIGRATION = 12
REFERENCE = Path(tempfile.gettempdir()) / "mlops-setup-break-migration.json"


def _full_state(world) -> dict:
    import copy
    import json

    from tests.test_teardown import _pruned

    gh = {k: v for k, v in world.gh.items() if k not in ("git_dir", "check_polls")}
    db = {k: v for k, v in world.db.items() if k not in ("minted",)}
    return json.loads(json.dumps(_pruned(copy.deepcopy({"db": db, "gh": gh})), default=str))


def _migration_world(cli, project, world):
    from tests.fakeapi import github_pulls
    from tests.test_ci_auth import AUTH_BRANCH, token_setup

    token_setup(cli, project, world)
    github_pulls.set_checks(world, AUTH_BRANCH, [("integration_test", "success")])


def test_migration_reference(cli, project, world, request):

    api = FakeAPI(world)
    crash = Crash(api, -1, "before", KeyboardInterrupt)
    with api.serving():
        _migration_world(cli, project, world)
        crash.arm()
        result = cli("ci.auth", "--merge")
        assert result.code == 0, result.err
    sent = [s for s in crash.sent if not s.startswith(("GET", "HEAD"))]
    REFERENCE.write_text(
        json.dumps(
            {"state": _full_state(world), "main": project.upstream_git("log", "--format=%T %s")}
        )
    )
    assert len(sent) == MUTATING_IN_MIGRATION, sent


@pytest.mark.parametrize("exc", [KeyboardInterrupt, lambda: SystemExit(1)], ids=["kbd", "exit"])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("index", range(MUTATING_IN_MIGRATION))
def test_migration_killed_at_every_boundary(cli, project, world, index, when, exc, request):
    assert REFERENCE.exists(), "run test_migration_reference first (-p no:randomly)"
    ref = json.loads(REFERENCE.read_text())

    api = FakeAPI(world)
    crash = Crash(api, index, when, exc)
    with api.serving():
        _migration_world(cli, project, world)
        crash.arm()
        first = cli("ci.auth", "--merge")
        assert crash.fired and first.code != 0, (first.code, first.err[-1500:])
        sent_first = [s for s in crash.sent if not s.startswith(("GET", "HEAD"))]
        crash.index = -1
        crash.arm()
        second = cli("ci.auth", "--merge")
        assert second.code == 0, (first.err[-1500:], second.out[-3000:], second.err[-3000:])
        sent_second = [s for s in crash.sent if not s.startswith(("GET", "HEAD"))]
        crash.arm()
        third = cli("ci.auth", "--merge")
        assert third.code == 0, third.err
        assert [s for s in crash.sent if not s.startswith(("GET", "HEAD"))] == [], third.out
    both = sent_first + sent_second
    assert len(both) == len(set(both)), (sent_first, sent_second)
    assert _full_state(world) == ref["state"]
    assert project.upstream_git("log", "--format=%T %s") == ref["main"]

"""Adversarial: kill setup.destroy at every request boundary, then re-run (against the fake)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import mutating
from tests.fakeapi import FakeAPI
from tests.test_setup import checks_pass
from tests.test_teardown import fill_defaults, journal, seed_others, state_of

MUTATING_IN_DESTROY = 13


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


def _reference(cli, project, world) -> tuple[dict, list[str], dict]:
    seed_others(world)
    fill_defaults(world)
    api = FakeAPI(world)
    crash = Crash(api, -1, "before", KeyboardInterrupt)
    with api.serving():
        checks_pass(world)
        assert cli("setup.all").code == 0
        crash.arm()
        result = cli("setup.destroy")
        assert result.code == 0, result.err
    return state_of(world), [s for s in crash.sent if not s.startswith(("GET", "HEAD"))], journal(
        project
    )


@pytest.mark.parametrize("exc", [KeyboardInterrupt, lambda: SystemExit(1)], ids=["kbd", "exit"])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("index", range(MUTATING_IN_DESTROY))
def test_destroy_killed_at_every_boundary(cli, project, world, index, when, exc, tmp_path):
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
    import json

    (tmp_path / "state.json").write_text(json.dumps(state_of(world), sort_keys=True))
    (tmp_path / "journal.json").write_text(json.dumps(journal(project), sort_keys=True))
    (tmp_path / "sent.json").write_text(json.dumps(both))


def test_reference(cli, project, world, tmp_path):
    import json

    state, sent, j = _reference(cli, project, world)
    assert len(sent) == MUTATING_IN_DESTROY, sent
    open("/tmp/brk/ref_state.json", "w").write(json.dumps(state, sort_keys=True))
    open("/tmp/brk/ref_journal.json", "w").write(json.dumps(j, sort_keys=True))
    open("/tmp/brk/ref_sent.json", "w").write(json.dumps(sent))

"""Faults that cut across sections: API rate limits and retries, with nothing lost or leaked.

The per-section faults (SP not yet visible, secret write failing after a mint, merge 405/409,
non-fast-forward push, ...) live in that section's tests; ``FAULT_MATRIX`` below lists every
fault we inject and the test that injects it, and ``test_fault_matrix_is_complete`` keeps the
list honest: each named test must exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import FAKE_VALUES, mutating
from tests.fakeapi import Reply

TESTS = Path(__file__).parent

SECONDARY_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
    "try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}


@pytest.mark.vcr
def test_github_secondary_rate_limit_without_retry_after(cli, world, http, no_sleep):
    """403 "secondary rate limit" with no Retry-After: PyGithub's retry waits a minute, once."""
    world.queue("GET", r"/repos/acme/my_mlops_project", Reply(403, SECONDARY_LIMIT))
    result = cli("repo.create")
    assert result.code == 0, result.err
    assert "create GitHub repo acme/my_mlops_project" in result.out
    gets = [u for m, u in http() if m == "GET" and u.endswith("/repos/acme/my_mlops_project")]
    assert len(gets) == 2  # the limited request, then its retry
    assert mutating(http()) == ["POST https://api.github.com/orgs/acme/repos"]
    assert 60 in no_sleep.calls  # waited, but the test did not
    assert not any(v in result.out + result.err for v in FAKE_VALUES)


# fault -> "test module::test name" that injects it and checks nothing was lost or leaked
FAULT_MATRIX = {
    "GitHub secondary rate limit without Retry-After": (
        "test_faults.py::test_github_secondary_rate_limit_without_retry_after"
    ),
    "non-fast-forward push (never forced)": "test_repo.py::test_push_is_never_forced",
    "GitHub repo with unrelated history": "test_repo.py::test_unrelated_history_is_reported",
    "no right to create the repo": "test_repo.py::test_permission_denied_is_explained",
}


def _test_names(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_fault_matrix_is_complete():
    for fault, where in FAULT_MATRIX.items():
        module, name = where.split("::")
        assert (TESTS / module).exists(), f"{fault}: {module} missing"
        assert name in _test_names(TESTS / module), f"{fault}: {where} missing"

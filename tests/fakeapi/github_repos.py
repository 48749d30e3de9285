"""Fake GitHub: accounts and repositories (guide section "Create a hosted Git repo").

State in ``world.gh``:

* ``accounts``: {login: "Organization" | "User"}; default ``{"acme": "Organization"}``
* ``me``: login of the token's owner; default ``"platform-engineer"``
* ``repos``: {"owner/name": {"private": bool, "default_branch": str, "id": int}}
* ``create_denied``: owners in which the token may not create repos (403)
* ``repo_forbidden``: repos the token may not read (403 on GET)
"""

from __future__ import annotations

import os
import subprocess

from tests import github_samples as samples
from tests.fakeapi import Reply, World, github_error, route

NAME = r"[A-Za-z0-9._-]+"


def full_name(req) -> str:
    """``owner/repo`` of a request under ``/repos/{owner}/{repo}``."""
    return f"{req.params['owner']}/{req.params['repo']}"


def missing_repo(world: World, req) -> Reply | None:
    """404 as GitHub answers for a repo that does not exist, or None."""
    if full_name(req) not in repos(world):
        return github_error(404, "Not Found")
    return None


def git(world: World, *args: str, check: bool = False) -> str:
    """Run git on the bare repository standing in for GitHub's copy (``gh["git_dir"]``);
    its output, or "" when it fails (unless ``check``)."""
    done = subprocess.run(
        ["git", "--git-dir", str(world.gh["git_dir"]), *args],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"fake GitHub: git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def shown(data: bytes) -> str:
    """A file's bytes as :func:`git` returns what ``git show`` printed of it: decoded as text
    (universal newlines), stripped."""
    return data.decode().replace("\r\n", "\n").replace("\r", "\n").strip()


class CatFile:
    """One ``git cat-file --batch`` on the bare repository, asked object after object: several
    reads of one request (a name tried as a branch, then as a ref, then as a SHA; a folder,
    then its files) cost one git process instead of one each. Use it as a context manager,
    and only while nothing writes to the repository."""

    def __init__(self, world: World) -> None:
        self.proc = subprocess.Popen(
            ["git", "--git-dir", str(world.gh["git_dir"]), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_env(),
        )

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.wait()

    def get(self, name: str) -> tuple[str, str, bytes] | None:
        """(SHA, type, content) of what ``name`` (any revision expression) names, else None
        (missing, ambiguous, or a name git could not be asked for)."""
        if not name or "\n" in name:
            return None  # cat-file reads a name a line; rev-parse finds none of these either
        self.proc.stdin.write(name.encode() + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline()
        if header.endswith((b" missing\n", b" ambiguous\n")):  # "<name> missing"
            return None
        sha, kind, size = header.split()  # "<sha> <type> <size>"
        data = self.proc.stdout.read(int(size) + 1)[:-1]  # and the line end after it
        return sha.decode(), kind.decode(), data

    def commit(self, *candidates: str) -> str | None:
        """The commit SHA of the first candidate that names one (``rev-parse --verify --quiet
        <candidate>^{commit}`` of each in turn), else None."""
        for candidate in candidates:
            found = self.get(f"{candidate}^{{commit}}")
            if found:
                return found[0]
        return None

    def folder(self, rev: str, folder: str, suffixes: tuple[str, ...]) -> dict[str, str]:
        """{path: text} of the files right in ``folder`` at ``rev`` whose names end with one
        of ``suffixes``, in the tree's order, as ``ls-tree --name-only <rev> <folder>/`` then a
        ``show <rev>:<path>`` each gave them (see :func:`shown`); {} when ``rev`` or the folder
        is missing. Only files (and symlinks, whose text is their target) are read, never a
        subfolder or a submodule of such a name."""
        folder = folder.rstrip("/")
        found = self.get(f"{rev}:{folder}")
        if not found or found[1] != "tree":
            return {}
        out, data, at = {}, found[2], 0
        while at < len(data):  # entries: <mode> SP <name> NUL <20-byte SHA-1>
            space, nul = data.index(b" ", at), data.index(b"\0", at)
            mode, name, oid = (
                data[at:space],
                data[space + 1 : nul].decode(),
                data[nul + 1 : nul + 21],
            )
            at = nul + 21
            if mode.startswith((b"100", b"120")) and name.endswith(suffixes):
                blob = self.get(oid.hex())
                if blob:
                    out[f"{folder}/{name}"] = shown(blob[2])
        return out


def accounts(world: World) -> dict:
    return world.gh.setdefault("accounts", {"acme": "Organization"})


def repos(world: World) -> dict:
    return world.gh.setdefault("repos", {})


def add_repo(world: World, full_name: str, *, private: bool = True, default_branch: str = "main"):
    repos(world)[full_name] = {
        "private": private,
        "default_branch": default_branch,
        "id": 700001 + len(repos(world)),
    }


def repo_body(world: World, full_name: str) -> dict:
    owner, name = full_name.split("/")
    info = repos(world)[full_name]
    return samples.full_repository(
        owner,
        name,
        id=info["id"],
        private=info["private"],
        default_branch=info["default_branch"],
        owner_type=accounts(world).get(owner, "Organization"),
    )


def public_user(login: str, kind: str) -> dict:
    body = samples.simple_user(login, type=kind)
    body.update(
        {
            "name": login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "public_repos": 3,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    )
    return body


def organization_full(login: str) -> dict:
    url = f"{samples.API_URL}/orgs/{login}"
    return {
        "login": login,
        "id": 1001,
        "node_id": "O_kwDO00001001",
        "url": url,
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events",
        "hooks_url": f"{url}/hooks",
        "issues_url": f"{url}/issues",
        "members_url": f"{url}/members{{/member}}",
        "public_members_url": f"{url}/public_members{{/member}}",
        "avatar_url": "https://avatars.githubusercontent.com/u/1001?v=4",
        "description": None,
        "html_url": f"https://github.com/{login}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "public_repos": 3,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "archived_at": None,
    }


@route("GET", "github", rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})")
def get_repo(world: World, req) -> Reply:
    full_name = f"{req.params['owner']}/{req.params['repo']}"
    if full_name in world.gh.get("repo_forbidden", ()):
        return github_error(403, "Resource not accessible by personal access token")
    if full_name not in repos(world):
        return github_error(404, "Not Found")
    return Reply(200, repo_body(world, full_name))


@route("GET", "github", rf"/users/(?P<login>{NAME})")
def get_account(world: World, req) -> Reply:
    kind = accounts(world).get(req.params["login"])
    if kind is None:
        return github_error(404, "Not Found")
    return Reply(200, public_user(req.params["login"], kind))


@route("GET", "github", rf"/orgs/(?P<org>{NAME})")
def get_org(world: World, req) -> Reply:
    if accounts(world).get(req.params["org"]) != "Organization":
        return github_error(404, "Not Found")
    return Reply(200, organization_full(req.params["org"]))


@route("GET", "github", r"/user")
def get_me(world: World, req) -> Reply:
    me = world.gh.get("me", "platform-engineer")
    return Reply(200, public_user(me, "User"))


def _create(world: World, owner: str, body: dict) -> Reply:
    if owner in world.gh.get("create_denied", ()):
        return github_error(403, "You need admin access to the organization to create a repo")
    full_name = f"{owner}/{body['name']}"
    if full_name in repos(world):
        return github_error(
            422,
            "Repository creation failed.",
            errors=[
                {
                    "resource": "Repository",
                    "code": "custom",
                    "field": "name",
                    "message": "name already exists on this account",
                }
            ],
        )
    add_repo(world, full_name, private=body.get("private", body.get("visibility") != "public"))
    return Reply(201, repo_body(world, full_name))


@route("POST", "github", rf"/orgs/(?P<org>{NAME})/repos")
def create_org_repo(world: World, req) -> Reply:
    return _create(world, req.params["org"], req.json)


@route("POST", "github", r"/user/repos")
def create_user_repo(world: World, req) -> Reply:
    return _create(world, world.gh.get("me", "platform-engineer"), req.json)


@route("DELETE", "github", rf"/repos/(?P<owner>{NAME})/(?P<repo>{NAME})")
def delete_repo(world: World, req) -> Reply:
    """``DELETE /repos/{owner}/{repo}``: 204, and everything the repo held goes with it (its
    secrets, variables, environments, refs, pulls, issues: every ``world.gh`` table keyed by
    the repo's full name). 403 when the token may not (GitHub asks for admin rights and the
    ``delete_repo`` scope)."""
    full_name = f"{req.params['owner']}/{req.params['repo']}"
    if full_name not in repos(world):
        return github_error(404, "Not Found")
    if full_name in world.gh.get("delete_denied", ()):
        return github_error(403, "Must have admin rights to Repository.")
    for table in list(world.gh.values()):
        if isinstance(table, dict) and full_name in table:
            table.pop(full_name)
    return Reply(204)

"""Where things are: the files shipped in the package, the generated project, the config files.

**Shipped files** are read through :mod:`importlib.resources`, so an installed ``mlops-setup``
(a wheel, ``pipx install``) finds them where a clone does. In the repository, ``mlops_setup/data/``
holds symbolic links to the files a reader looks for in their usual places
(``config/defaults.yaml``, ``config/example.yaml``, the demo's cassette under
``tests/cassettes/test_demo/``); building the wheel copies their contents in
(``MANIFEST.in`` grafts the folder).

**The generated project** is found by walking up from the working directory to the first folder
that looks like the root of an MLOps Stacks project: it holds ``.github/workflows/deploy-cicd.yml``
or ``cicd_params.json`` (the CI/CD part), or a project folder (``<folder>/databricks.yml`` beside
``<folder>/project_params.json``). So ``mlops-setup`` runs from anywhere inside the project, and
``project.dir`` is only needed when running from elsewhere.

**Config layers**, later wins (:func:`config_layers` lists them with their files)::

    defaults      data/defaults.yaml, shipped (every setting, its default, a comment)
    user file     $XDG_CONFIG_HOME/mlops-setup/config.yaml (~/.config/...): personal defaults
    project file  -f FILE, else mlops-setup.yaml in the working directory, else at the root
                  of the project found from it (safe to commit: it holds no secrets)
    environment   MLOPS_SETUP_* variables
    task flags

Standard library only: ``--list`` may import this.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGE = "mlops_setup"
DEFAULTS = "data/defaults.yaml"
EXAMPLE_CONFIG = "data/example.yaml"
DEMO_CASSETTES = "data/demo"
PROJECT_FILE = "mlops-setup.yaml"
USER_FILE = ("mlops-setup", "config.yaml")  # under $XDG_CONFIG_HOME, else ~/.config
ROOT_MARKERS = (".github/workflows/deploy-cicd.yml", "cicd_params.json")

# Files extracted from a zipped install live until the process ends.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def resource(rel: str) -> Path:
    """A file or folder shipped in the package (``data/defaults.yaml``), as a path on disk."""
    from importlib.resources import as_file, files

    ref = files(PACKAGE).joinpath(*rel.split("/"))
    if isinstance(ref, Path):
        return ref
    return _extracted.enter_context(as_file(ref))  # pragma: no cover - zip imports only


# ----------------------------------------------------------------------------- the project


def is_project_root(folder: Path) -> bool:
    """Whether ``folder`` is the root of a generated MLOps Stacks project (see the module doc)."""
    if any((folder / marker).is_file() for marker in ROOT_MARKERS):
        return True
    try:  # a bundle folder below: <folder>/*/databricks.yml beside project_params.json
        with os.scandir(folder) as entries:  # (one listing, not glob's pattern matching)
            return any(
                os.path.isfile(os.path.join(entry.path, "project_params.json"))
                and os.path.exists(os.path.join(entry.path, "databricks.yml"))
                for entry in entries
                if entry.is_dir()
            )
    except OSError:
        return False


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that :func:`is_project_root`, else None."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if is_project_root(folder):
            return folder
    return None


# ------------------------------------------------------------------------------ the layers


def user_config_file(env: Mapping[str, str] | None = None) -> Path:
    """The per-user file: ``$XDG_CONFIG_HOME/mlops-setup/config.yaml``, else under ``~/.config``
    (a relative ``XDG_CONFIG_HOME`` is ignored, as the XDG spec says)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "")
    if not base or not Path(base).is_absolute():
        home = env.get("HOME") or str(Path.home())
        base = str(Path(home) / ".config")
    return Path(base).joinpath(*USER_FILE)


def runtime_file(invoke_config: Any = None) -> Path | None:
    """Invoke's ``-f FILE``, unless it is a ``.py`` one (Invoke's own Python config)."""
    runtime = getattr(invoke_config, "_runtime_path", None) if invoke_config is not None else None
    if runtime and Path(str(runtime)).suffix != ".py":
        return Path(runtime).expanduser()
    return None


def project_file(
    invoke_config: Any = None, cwd: Path | None = None, root: Path | None = None
) -> Path | None:
    """The project's file: Invoke's ``-f FILE`` if given (not a ``.py`` one: that is Invoke's
    own Python config, which Invoke runs), else ``mlops-setup.yaml`` in ``cwd``, else at
    ``root`` (the project found from ``cwd``), if present."""
    given = runtime_file(invoke_config)
    if given is not None:
        return given
    cwd = Path(cwd or Path.cwd())
    for folder in (cwd, root):
        # exists(), not is_file(): a folder or a FIFO of that name is reported, not skipped
        if folder is not None and (folder / PROJECT_FILE).exists():
            return folder / PROJECT_FILE
    return None


@dataclass(frozen=True)
class Layer:
    """One layer of settings: what it is, where it comes from, whether it is in effect."""

    name: str
    source: str  # a file's path, or what sets it (variables, flags)
    active: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "active": self.active, "note": self.note}


def config_layers(
    invoke_config: Any = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config_file: Path | None = None,
    env_prefix: str = "MLOPS_SETUP_",
) -> list[Layer]:
    """Every layer in the order they apply (later wins), with its file and whether it is used."""
    env = os.environ if env is None else env
    cwd = Path(cwd or Path.cwd())
    user = user_config_file(env)
    given = config_file or runtime_file(invoke_config)
    path = given or project_file(None, cwd)
    root = None
    if path is None:  # only then the walk up to the project root (it lists every folder)
        root = find_project_root(cwd)
        path = project_file(None, cwd, root)
    if given is not None:
        project_note = "given with -f"
    elif path is not None:
        project_note = "in the working directory" if path.parent == cwd else "at the project root"
    else:
        where = f"{cwd / PROJECT_FILE}" if root is None else f"{root / PROJECT_FILE}"
        project_note = f"none; looked for {where}"
    variables = sorted(name for name in env if name.startswith(env_prefix))
    return [
        Layer("defaults", str(resource(DEFAULTS)), True, "shipped with mlops-setup"),
        Layer("user file", str(user), user.exists(), "" if user.exists() else "none"),
        Layer("project file", str(path or PROJECT_FILE), path is not None, project_note),
        Layer(
            "environment",
            f"{env_prefix}* variables",
            bool(variables),
            ", ".join(variables) if variables else "none set",
        ),
        Layer("task flags", "the command line", True),
    ]


def layers_line(
    layers: list[Layer], cwd: Path | str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The layers in effect, in order, on one line: ``defaults < ~/.config/... < mlops-setup.yaml``.

    Paths are shown relative to ``cwd`` when inside it, else under ``~``; task flags, always
    there, are left out. ``setup.inspect`` prints it; its ``--json`` has every layer in full.
    """
    env = os.environ if env is None else env
    base = Path(cwd or Path.cwd()).resolve()
    home = Path(env.get("HOME") or str(Path.home()))
    shown = []
    for layer in layers:
        if not layer.active or layer.name == "task flags":
            continue
        if layer.name == "defaults":
            shown.append("defaults")
        elif layer.name == "environment":
            shown.append(layer.note)
        else:
            path = Path(layer.source)
            if path.is_relative_to(base):
                shown.append(path.relative_to(base).as_posix())
            elif path.is_relative_to(home):
                shown.append(f"~/{path.relative_to(home).as_posix()}")
            else:
                shown.append(str(path))
    return " < ".join(shown)

"""Invoke entry point: composes the namespaces; all logic lives in mlops_setup/.

Importing this must stay cheap (`invoke --list`): the section modules import databricks-sdk,
PyGithub and pydantic only inside the code that needs them.
"""

import os
import sys

from invoke import Collection

# Invoke switches off .pyc writing (so a project's tasks.pyc doesn't litter it); for our own
# package that means compiling ~5,000 lines on every `invoke` call, a third of `invoke --list`.
# Let Python cache our bytecode as it does for any installed package, unless the operator has
# asked for no bytecode (PYTHONDONTWRITEBYTECODE).
_invoke_choice = sys.dont_write_bytecode
if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.dont_write_bytecode = False

from mlops_setup import cli, demo, docs, guide  # noqa: E402
from mlops_setup.sections import ci, code, deploy, handoff, release, repo  # noqa: E402
from mlops_setup.yamlfile import install_invoke_hook  # noqa: E402

sys.dont_write_bytecode = _invoke_choice

install_invoke_hook()
cli.install()

ns = Collection()
for section in (repo, ci, code, release, deploy, handoff):
    ns.add_collection(section.ns)
ns.add_collection(guide.ns)
ns.add_collection(docs.ns)
ns.add_task(demo.demo)

"""Invoke entry point of a clone: the namespace of the ``mlops-setup`` command, plus ``docs``.

The composition lives in :mod:`mlops_setup.cli`, so ``invoke`` here and an installed
``mlops-setup`` run the same tasks; ``docs`` (the runbook site of this repository) is for
contributors only. Importing this must stay cheap (``invoke --list``): the section modules
load databricks-sdk, PyGithub and pydantic only inside the code that needs them.
"""

import os
import sys

# Invoke switches off .pyc writing (so a project's tasks.pyc doesn't litter it); for our own
# package that means compiling ~5,000 lines on every `invoke` call, a third of `invoke --list`.
# Let Python cache our bytecode as it does for any installed package, unless the operator has
# asked for no bytecode (PYTHONDONTWRITEBYTECODE).
_invoke_choice = sys.dont_write_bytecode
if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.dont_write_bytecode = False

from mlops_setup import docs  # noqa: E402
from mlops_setup.cli import namespace  # noqa: E402

sys.dont_write_bytecode = _invoke_choice

ns = namespace(docs.ns)

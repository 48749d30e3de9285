"""Invoke entry point of a clone: the namespace of the ``mlops-setup`` command, plus ``docs``.

The composition lives in :mod:`mlops_setup.cli`, so ``invoke`` here and an installed
``mlops-setup`` run the same tasks; ``docs`` (the runbook site of this repository) is for
contributors only. Importing this must stay cheap (``invoke --list``): the namespace is built from
the task index (:mod:`mlops_setup.taskindex`), and a task's module is imported when it runs.
"""

import os
import sys

# Invoke switches off .pyc writing (so a project's tasks.pyc doesn't litter it); for our own
# package that means compiling every module a task imports on every `invoke` call (~10,000
# lines for the demo). Let Python cache our bytecode, for the whole run, as it does for any
# installed package, unless the operator has asked for no bytecode (PYTHONDONTWRITEBYTECODE).
if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.dont_write_bytecode = False

from mlops_setup.cli import namespace

ns = namespace("docs")

"""Invoke entry point: composes the namespaces; all logic lives in mlops_setup/.

Importing this must stay cheap (`invoke --list`): the section modules import databricks-sdk,
PyGithub and pydantic only inside the code that needs them.
"""

from invoke import Collection

from mlops_setup import demo, docs, guide
from mlops_setup.sections import ci, code, deploy, handoff, release, repo
from mlops_setup.yamlfile import install_invoke_hook

install_invoke_hook()

ns = Collection()
for section in (repo, ci, code, release, deploy, handoff):
    ns.add_collection(section.ns)
ns.add_collection(guide.ns)
ns.add_collection(docs.ns)
ns.add_task(demo.demo)

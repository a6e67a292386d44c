"""Managed prompts: a team's named prompt texts, with versions.

Names are unique in a team (``^[A-Za-z0-9_.-]{1,100}$``);
``global_workflow_prefix`` and ``global_workflow_suffix`` exist in every team
(``BUILT_IN``, version 0) until the team stores its own text under that name.
The modules, in the order they build on each other:

- ``limits``: what a prompt may hold (``check_name``, ``NAME_PATTERN``) and the
  operator's ceilings (``PromptLimits``);
- ``built_ins``: the prompts every team has by default (``BUILT_IN``);
- ``records``: the stored documents (``KIND``), found, inserted and rendered;
- ``crud``: the API's reads and writes (``get``, ``versions``, ``list_``,
  ``create``, ``update``, ``delete``);
- ``run_references``: the names a workflow refers to, recorded into a run's
  snapshot (``resolve_for_run``, ``texts_of``) and warned about on saves
  (``saved_config``, ``save_warnings``).

Public names (re-exported here) are those in ``__all__``.
"""

from threadline.service.reuse.managed_prompts.built_ins import BUILT_IN
from threadline.service.reuse.managed_prompts.crud import (
    create,
    delete,
    get,
    list_,
    update,
    versions,
)
from threadline.service.reuse.managed_prompts.limits import (
    NAME_PATTERN,
    PromptLimits,
    check_name,
)
from threadline.service.reuse.managed_prompts.records import KIND
from threadline.service.reuse.managed_prompts.run_references import (
    references,
    resolve_for_run,
    save_warnings,
    saved_config,
    texts_of,
)

__all__ = [
    "BUILT_IN",
    "KIND",
    "NAME_PATTERN",
    "PromptLimits",
    "check_name",
    "create",
    "delete",
    "get",
    "list_",
    "references",
    "resolve_for_run",
    "save_warnings",
    "saved_config",
    "texts_of",
    "update",
    "versions",
]

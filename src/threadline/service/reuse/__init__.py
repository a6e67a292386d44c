"""Reuse: templates, node libraries and super nodes.

Modules and their public names:

- ``access``: access levels (``AccessLevel``, ``LevelFilter``) and ``Shelf``, the
  access-checked CRUD every reusable kind shares;
- ``templates``, ``node_libraries``: their CRUD and schema;
- ``managed_prompts/``: the team's named prompt texts with versions (CRUD), and
  recording the ones a run references in its snapshot (``resolve_for_run``);
- ``super_node_publishing``: publishing a version as a super node;
  ``super_node_queries``: the read side; ``super_nodes_api``: both, for the
  routes; ``supernodes``: resolving and expanding super nodes for a run
  (``expand_for_run``).

May import: ``definitions``, ``caller``. Independent of ``team``.
"""

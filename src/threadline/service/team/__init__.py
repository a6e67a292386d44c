"""The team's resources: what a team owns besides its workflows.

Modules and their public names:

- ``auth``: API keys (``create_key``, ``authenticate``, ``revoke_key``);
- ``admission``: concurrency limits per workflow and team (``admit``,
  ``get_team``, ``set_team``, ``CODE`` of a refusal);
- ``vendor_credentials``: the team's provider and vendor keys (CRUD), with
  ``credential_fields`` (what a credential may hold) and ``credential_ports``
  (the call-time lookup; ``team_ports`` wraps the runtime's LLM and vendors
  with them);
- ``global_variables``: ``{{global.*}}`` values (CRUD, ``check_startup``), with
  ``variable_documents`` (the stored documents) and ``run_globals`` (a run's values:
  ``for_run``, ``TeamGlobals``);
  ``variable_values``: what a variable may hold;
- ``secrets``: encryption at rest and redaction; ``sealing``: secrets sealed at
  rest inside stored documents (``Sealer``, ``open_tree``);
- ``llm_configs``: saved LLM configs; ``llm_config_refs``: resolving references
  to them in a run's snapshot; ``llm_config_tests``: trying a config;
  ``llm_endpoints``: the save-time SSRF check of tenant LLM URLs.

May import: ``definitions``, ``runtime``, ``caller``. Independent of ``reuse``.
"""

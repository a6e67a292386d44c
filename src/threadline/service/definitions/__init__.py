"""Definitions: workflows, their versions and parts, and what is derived from them.

Modules and their public names:

- ``workflows``: create, read, list, update, delete, favourites; ``get_doc``,
  ``get_version_doc``, ``now`` (the service clock);
- ``versions``: snapshot, list, rename, replace config, delete, activate;
- ``parts``: nodes, edges and tools as standalone documents (``Kind``);
- ``graph``: a version's graph (``Graph``, ``load``, ``parse_hydrated``);
- ``bundles``: clone, export, import; ``diff``: two versions compared;
- ``catalogue``: node, edge and tool types and their schemas;
- ``variables``: the dynamic variables a workflow uses, the team's categories;
- ``tool_runs``: test-executing a tool outside any run; ``tool_bundles``: a
  tool's export and import; ``tool_limits``: the operator's tool ceilings,
  checked when a config is saved; ``references``: save-time warnings about
  references (inbuilt ids, knowledge bases, ...) that cannot resolve;
  ``mcp_servers``: save-time warnings about a workflow's MCP servers;
- ``wire``: validating incoming configs and run inputs (``parse_input``);
  ``envelopes``: the stored-document envelope and pages; ``masking``: API keys
  masked in responses.

May import: ``webhooks`` (a changed workflow records an event), ``runtime``,
``caller``. Nothing here starts or reads a run.
"""

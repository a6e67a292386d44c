"""Definitions: workflows, their versions, nodes, edges and tools, and what is
derived from them (graphs, diffs, bundles, catalogues, variables).
"""

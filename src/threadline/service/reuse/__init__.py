"""Reuse: templates, node libraries and super nodes."""

"""The team's resources: API keys, admission limits, vendor credentials,
global variables and secrets, saved LLM configs.
"""

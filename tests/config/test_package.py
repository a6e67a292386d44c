"""The public surface of ``threadline.config`` and its import boundaries."""

import subprocess
import sys

import threadline.config as config


def test_all_is_sorted_unique_and_importable() -> None:
    names = config.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(config, name), name


FORBIDDEN_ROOTS = {"sqlalchemy", "httpx", "fastapi", "langchain_core"}

PROBE = """
import sys
import threadline.config
for name in sorted(sys.modules):
    print(name)
"""


def test_imports_no_framework_or_sibling_packages() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    )
    loaded = result.stdout.split()
    assert not [m for m in loaded if m.split(".")[0] in FORBIDDEN_ROOTS]
    siblings = [
        m
        for m in loaded
        if m.startswith("threadline.")
        and m != "threadline.ids"
        and not m.startswith("threadline.config")
    ]
    assert siblings == []

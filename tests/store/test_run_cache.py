"""The kept run row: what a read of it gives, and what it holds in memory."""

import tracemalloc
from datetime import UTC, datetime
from typing import Any

from threadline.store.base import Document
from threadline.store.run_cache import RunCache, as_read

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def snapshot(name: str = "Support chat") -> dict[str, Any]:
    nodes = [
        {"id": f"node_{i}", "type": "say_llm", "prompt": "Hi " * 50} for i in range(20)
    ]
    return {
        "name": name,
        "nodes": nodes,
        "edges": [],
        "variables": {"k": [1, 2.5, None]},
    }


def run_doc(run_id: str, config: Any) -> Document:
    body = {
        "workflow_run": {
            "logical_id": "run_1",
            "status": "waiting_for_user_input",
            "workflow_config_fully_hydrated": config,
            "llm_token_usage": {"gpt": {"input": 12, "output": 3}},
        },
        "state": {"node": "node_1", "threads": {}},
        "turn_count": 3,
    }
    return Document(
        run_id,
        "team_a",
        body,
        AT,
        AT,
        workflow_id="wf1",
        status="waiting_for_user_input",
    )


def test_a_read_of_the_kept_row_gives_the_row_with_its_snapshot_in_place():
    cache = RunCache(8)
    doc = run_doc("r1", snapshot())
    cache.keep(doc)
    kept = cache.take("team_a", "r1")
    assert kept is not None
    read = as_read(kept)
    assert read.body == doc.body
    record = read.body["workflow_run"]
    assert list(record) == list(doc.body["workflow_run"])  # the key keeps its place
    assert read.status == "waiting_for_user_input" and read.updated_at == AT


def test_each_read_is_a_copy_of_its_own():
    cache = RunCache(8)
    cache.keep(run_doc("r1", snapshot()))
    kept = cache.take("team_a", "r1")
    assert kept is not None
    first = as_read(kept)
    first.body["workflow_run"]["workflow_config_fully_hydrated"]["name"] = "changed"
    first.body["turn_count"] = 99
    again = as_read(kept)
    assert again.body["workflow_run"]["workflow_config_fully_hydrated"]["name"] == (
        "Support chat"
    )
    assert again.body["turn_count"] == 3


def test_runs_on_one_snapshot_share_one_copy_of_it():
    cache = RunCache(8)
    for i in range(3):
        cache.keep(run_doc(f"r{i}", snapshot()))
    cache.keep(run_doc("other", snapshot("Another version")))
    held = [cache.take("team_a", f"r{i}") for i in range(3)]
    other = cache.take("team_a", "other")
    assert all(k is not None and k.snapshot is not None for k in held)
    assert held[0].snapshot is held[1].snapshot is held[2].snapshot  # type: ignore[union-attr]
    assert other is not None and other.snapshot is not held[0].snapshot  # type: ignore[union-attr]
    # The row's own text no longer carries the snapshot.
    assert held[0] is not None and b"Hi Hi" not in held[0].text
    assert as_read(other).body["workflow_run"]["workflow_config_fully_hydrated"][
        "name"
    ] == ("Another version")


def test_a_row_holding_only_a_reference_is_kept_as_it_is():
    cache = RunCache(8)
    doc = run_doc("r1", {"snapshot_ref": "ab" * 32})
    cache.keep(doc)
    kept = cache.take("team_a", "r1")
    assert kept is not None and kept.snapshot is None
    assert as_read(kept).body == doc.body


def test_a_snapshot_orjson_cannot_write_exactly_is_not_kept():
    cache = RunCache(8)
    cache.keep(run_doc("r1", {"big": 2**70}))  # beyond 64 bits: read from the database
    assert cache.take("team_a", "r1") is None
    assert len(cache) == 0


def test_a_kept_row_holds_about_its_own_size_in_memory():
    # orjson's result keeps the capacity its buffer grew to (about three times a
    # 3 KB row); the cache keeps bytes of the text's own size.
    cache = RunCache(256)
    docs = [run_doc(f"r{i}", snapshot()) for i in range(200)]
    for i, doc in enumerate(docs):
        doc.body["state"]["notes"] = [f"note {i}-{j} " * 8 for j in range(30)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for doc in docs:
            cache.keep(doc)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    texts = 0
    for i in range(200):
        kept = cache.take("team_a", f"r{i}")
        assert kept is not None
        texts += len(kept.text)
    assert texts / 200 > 2500  # the row as kept: a few KB of its own
    assert held / 200 < texts / 200 + 1500, (held / 200, texts / 200)

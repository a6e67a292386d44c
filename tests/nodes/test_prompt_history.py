"""The chat history becomes model messages: each message converted once per process,
and a message rebuilt (a redaction) converted again, never served stale."""

import random
from typing import Any

from threadline.nodes import chat_history
from threadline.nodes.chat_history import history_messages, repair, to_chat_message
from threadline.providers.base import ChatMessage

JsonDict = dict[str, Any]


def test_a_history_read_again_gives_the_same_messages_and_a_rebuilt_one_is_fresh():
    history = [
        {"type": "ai", "content": "Welcome!"},
        {"type": "human", "content": "my code is 1234"},
        {"type": "unknown", "content": "dropped"},
    ]
    first = history_messages(history, None)
    assert [(m.role, m.content) for m in first] == [
        ("assistant", "Welcome!"),
        ("user", "my code is 1234"),
    ]
    grown = [*history, {"type": "ai", "content": "Noted."}]
    assert history_messages(grown, None)[:2] == first
    # A redaction builds new dicts: the new text is what the model sees.
    redacted = [history[0], {"type": "human", "content": "my code is [REDACTED]"}]
    assert [m.content for m in history_messages(redacted, None)] == [
        "Welcome!",
        "my code is [REDACTED]",
    ]
    assert history_messages(grown, 1) == [to_chat_message(grown[-1])]


def _reference(history: list[JsonDict], max_recent: int | None) -> list[ChatMessage]:
    """The conversion as it was before it was incremental: all of it, every call."""
    converted = [m for m in map(to_chat_message, history) if m is not None]
    if max_recent is not None and max_recent >= 0:
        converted = converted[-max_recent:] if max_recent else []
    return repair(converted)


def _random_message(rng: random.Random, n: int) -> JsonDict:
    kind = rng.choice(["human", "ai", "ai_calls", "tool", "tool", "system", "odd"])
    if kind == "ai_calls":
        calls = [{"id": f"c{n}.{i}", "name": "f", "args": {}} for i in range(2)]
        return {
            "type": "ai",
            "content": rng.choice(["", f"calling {n}"]),
            "tool_calls": calls,
        }
    if kind == "tool":
        return {
            "type": "tool",
            "content": "r",
            "tool_call_id": f"c{n - rng.randint(1, 3)}.{rng.randint(0, 1)}",
        }
    return {"type": kind, "content": f"{kind} {n}"}


def test_a_growing_history_converts_as_the_whole_would_whatever_its_tool_calls():
    rng = random.Random(15)
    for _ in range(30):
        history: list[JsonDict] = []
        for _ in range(40):
            history = history + [
                _random_message(rng, len(history) + i) for i in range(rng.randint(1, 4))
            ]
            if rng.random() < 0.05 and len(history) > 2:  # a redaction: new dicts
                at = rng.randrange(len(history))
                history = [
                    *history[:at],
                    {**history[at], "content": "x"},
                    *history[at + 1 :],
                ]
            for max_recent in (None, 0, 3, 10):
                got = history_messages(tuple(history), max_recent)
                assert got == _reference(history, max_recent)


def test_each_call_converts_and_repairs_only_what_was_added(monkeypatch):
    converted, units = [], []
    real_convert, real_unit = chat_history.to_chat_message, chat_history._repair_unit

    def convert(message):
        converted.append(message)
        return real_convert(message)

    def unit(messages, i, out):
        units.append(i)
        return real_unit(messages, i, out)

    monkeypatch.setattr(chat_history, "to_chat_message", convert)
    monkeypatch.setattr(chat_history, "_repair_unit", unit)
    history: list[JsonDict] = []
    per_call = []
    for n in range(300):
        history.append({"type": "human" if n % 2 else "ai", "content": f"m{n}"})
        converted.clear()
        units.clear()
        assert len(history_messages(history, None)) == n + 1
        per_call.append((len(converted), len(units)))
    # One new message converted, the last unit and the new one repaired, at
    # message 300 as at message 2: nothing walks the conversation.
    assert set(per_call[1:]) == {(1, 2)}, per_call[:5]

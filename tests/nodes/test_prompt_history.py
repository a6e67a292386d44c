"""The chat history becomes model messages: each message converted once per process,
and a message rebuilt (a redaction) converted again, never served stale."""

from threadline.nodes.chat_history import history_messages, to_chat_message


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

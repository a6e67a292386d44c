"""The crash test's repeat rule and the fake model's request log (plain suite)."""

import json
import socket
import time
from pathlib import Path

import httpx

from tests.crash.harness import Received, Receiver, read_llm_log
from tests.crash.test_crash import (
    LATENCY_MS,
    SENT_S,
    SLACK_S,
    cut_off_requests,
    repeated_steps,
)
from threadline.providers.fake_server import FakeOpenAIServer, auto_reply

IN_FLIGHT = LATENCY_MS / 1000 + SLACK_S


def test_a_repeat_is_allowed_only_when_a_kill_landed_while_the_copy_was_in_flight() -> (
    None
):
    first, again = Received(100.0, "a", {"m": 1}), Received(103.0, "a", {"m": 1})
    other = Received(100.5, "b", {"m": 2})
    assert repeated_steps([first, other, again], [100.0 + IN_FLIGHT / 2], "x") == (
        1,
        [],
    )
    late = 100.0 + IN_FLIGHT + 0.5
    allowed, errors = repeated_steps([first, other, again], [late], "LLM call")
    assert allowed == 0 and len(errors) == 1
    assert "LLM call repeated" in errors[0] and "'m': 1" in errors[0]


def test_a_kill_just_before_the_copys_receipt_explains_it_but_not_earlier() -> None:
    first, again = Received(100.0, "a", None), Received(102.6, "a", None)
    just_sent = 100.0 - SENT_S / 2  # written to the socket, logged after the kill
    assert repeated_steps([first, again], [just_sent], "x") == (1, [])
    allowed, errors = repeated_steps([first, again], [100.0 - 2 * SENT_S], "x")
    assert allowed == 0 and len(errors) == 1


def test_each_further_copy_needs_its_own_kill() -> None:
    copies = [Received(t, "a", None) for t in (10.0, 12.0, 14.0)]
    allowed, errors = repeated_steps(copies, [10.05], "HTTP POST")
    assert allowed == 1 and len(errors) == 1 and "14.000" in errors[0]


def test_a_post_cut_off_by_a_kill_is_no_request_and_needs_that_kill() -> None:
    whole = Received(10.0, "a", {"turn": "1"})
    cut = Received(20.0, "none", None, complete=False)
    kept, errors = cut_off_requests([whole, cut], [20.0], "HTTP POST")
    assert kept == [whole] and errors == []
    kept, errors = cut_off_requests([whole, cut], [5.0], "HTTP POST")
    assert kept == [whole] and len(errors) == 1 and "cut off at 20.000" in errors[0]


def test_the_receiver_logs_a_body_that_never_arrived_as_cut_off() -> None:
    with Receiver(0.0, done_at_turn=2) as receiver:
        with socket.create_connection(("127.0.0.1", receiver.port)) as sock:
            sock.sendall(
                b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
            )
        answer = httpx.post(receiver.url, json={"turn": "2"})
        assert answer.json() == {"ok": True, "done": True}
        deadline = time.monotonic() + 5
        while len(receiver.entries()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    entries = sorted(receiver.entries(), key=lambda e: e.complete)
    assert [e.complete for e in entries] == [False, True]
    assert entries[1].body == {"turn": "2"}


async def test_the_fake_model_logs_each_request_with_its_body_hash(
    tmp_path: Path,
) -> None:
    log = tmp_path / "requests.jsonl"
    server = FakeOpenAIServer(auto_reply(), record=False, log_path=str(log))
    await server.start()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                answer = await client.post(
                    f"{server.base_url}/chat/completions", json=body
                )
                assert answer.json()["choices"][0]["message"]["content"].endswith("hi")
    finally:
        await server.stop()
    first, second = read_llm_log(log)
    assert first.sha256 == second.sha256 and first.body == body
    assert first.t <= second.t
    assert json.loads(log.read_text().splitlines()[0])["path"] == "/v1/chat/completions"

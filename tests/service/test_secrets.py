"""Encrypting secrets at rest and redacting them from turns and records."""

import pytest
from cryptography.fernet import Fernet

from threadline.engine.state import RunState
from threadline.engine.turn import TurnOutcome
from threadline.errors import ConfigError, SecretKeyMissing
from threadline.service.team import secrets

KEY = Fernet.generate_key().decode()
SECRET = "p@ss word/1"


def test_encrypt_then_decrypt_round_trips_and_hides_the_plaintext():
    token = secrets.encrypt(SECRET, KEY)
    assert SECRET not in token and token.startswith("gAAAA")
    assert secrets.decrypt(token, KEY) == SECRET


def test_a_missing_invalid_or_wrong_key_is_a_clear_error():
    token = secrets.encrypt(SECRET, KEY)
    # No key: the request is refused (409), not a server error.
    with pytest.raises(SecretKeyMissing, match="not set") as missing:
        secrets.encrypt(SECRET, None)
    assert missing.value.status == 409
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        secrets.check_key("short")
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        secrets.decrypt(token, Fernet.generate_key().decode())


def test_redact_replaces_every_form_of_a_secret_anywhere_in_json():
    value = {
        "say": f"Token {SECRET}!",
        "url": "https://x.test/?t=p%40ss%20word%2F1",
        "nested": [{"k": SECRET}, 3, None, True],
        SECRET: "key",
    }
    out = secrets.redact(value, [SECRET])
    assert out == {
        "say": "Token [REDACTED]!",
        "url": "https://x.test/?t=[REDACTED]",
        "nested": [{"k": "[REDACTED]"}, 3, None, True],
        "[REDACTED]": "key",
    }
    assert value["say"] == f"Token {SECRET}!"  # the input is not changed
    assert secrets.redact(value, []) is value
    assert secrets.redact(value, [""]) is value


def test_redact_turn_cleans_the_outcome_and_the_stored_state():
    state = RunState(run_id="r1")
    state.workflow_variables["copied"] = f"Bearer {SECRET}"
    outcome = TurnOutcome(
        status="completed",
        events=[{"type": "assistant_response", "content": f"Token {SECRET}"}],
        outputs={"0": [{"text": SECRET}]},
        error=f"failed with {SECRET}",
    )
    same = secrets.redact_turn(state, outcome, (SECRET,))
    assert same is outcome
    assert SECRET not in repr(outcome) and SECRET not in str(state.to_json())
    assert outcome.events[0]["content"] == "Token [REDACTED]"
    assert state.workflow_variables["copied"] == "Bearer [REDACTED]"


def test_the_key_bound_at_start_up_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch,
):
    class FakeStore:
        pass

    store, other = FakeStore(), FakeStore()
    env_key = Fernet.generate_key().decode()
    monkeypatch.setenv("THREADLINE_SECRET_KEY", env_key)
    secrets.bind_key(store, KEY)
    assert secrets.key_for(store) == KEY
    assert secrets.key_for(other) == env_key
    secrets.bind_key(store, None)
    assert secrets.key_for(store) == env_key
    monkeypatch.delenv("THREADLINE_SECRET_KEY")
    assert secrets.key_for(other) is None


def test_short_secrets_inside_keys_leave_the_structure_alone():
    value = {"node_executions": "x marks", "x": 1, "long p@ss word/1 key": 2}
    out = secrets.redact(value, ["x", SECRET])
    assert out == {
        "node_executions": "[REDACTED] marks",
        "[REDACTED]": 1,
        "long [REDACTED] key": 2,
    }


def test_template_forms_of_a_secret_are_redacted_too():
    graph = {
        "nodes": [
            {"msg": "{{ global.token | replace: 'a', 'b' }} and {{global.region}}"},
            {"url": "https://x/{{global.token | append: '-v2' | upcase}}"},
            ["{{global.region | upcase}}", "{{global.token}}", "[[token | upcase]]"],
        ]
    }
    values = {"token": "alpha-secret-42", "region": "eu-west"}
    hidden = secrets.with_template_forms(("alpha-secret-42",), graph, values)
    assert hidden == ("alpha-secret-42", "ALPHA-SECRET-42-V2", "blphb-secret-42")
    # Nothing to derive without secrets, and plain globals are never added.
    assert secrets.with_template_forms((), graph, values) == ()


def test_redact_covers_the_forms_the_server_writes():
    secret = "Pa55 w0rd:Sec!ret"
    texts = [
        "curl -X GET 'http://h/users/Pa55%20w0rd:Sec!ret/x'",
        "http://h/?k=Pa55+w0rd%3ASec%21ret",
        "HOST pa55 w0rd:sec!ret and PA55 W0RD:SEC!RET",
    ]
    for text in secrets.redact(texts, [secret]):
        assert "REDACTED" in text and "55" not in text
    # Short secrets keep their case: "Abc1" must not hide "abc1" in ordinary text.
    assert secrets.redact("abc1 Abc1", ["Abc1"]) == "abc1 [REDACTED]"


def test_a_template_over_the_render_limits_is_skipped_not_raised():
    graph = {"msg": "{{global.token | replace: 's', 'ssss'}}"}  # 4 x 600k chars
    huge = "s" * 600_000
    assert secrets.with_template_forms((huge,), graph, {"token": huge}) == (huge,)

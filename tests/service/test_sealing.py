"""Secrets inside stored documents: sealed on write, masked alike, opened for use."""

import json

import pytest
from cryptography.fernet import Fernet

from threadline.errors import SecretKeyMissing
from threadline.service.definitions.masking import (
    mask_secrets,
    mask_value,
    restore_secrets,
)
from threadline.service.team.sealing import Sealer, is_sealed, open_tree, open_value

KEY = Fernet.generate_key().decode()
LONG = "sk-live-abcdefgh-1234"
NODE = {
    "type": "say_llm",
    "llms_config": {
        "type": "llm_group",
        "llms": [
            {"type": "openai_llm", "api_key": LONG},
            {"type": "bedrock_llm", "aws_secret_access_key": "aws-secret-98765"},
            {"type": "custom_llm", "default_headers": {"X-Api-Key": "hdr-0001"}},
        ],
    },
    "fields": {"bearer_token": "conv-token-777", "api_key": ""},
    "name": "api_key",
}


def test_a_node_is_sealed_on_write_and_opened_back_exactly() -> None:
    sealed = Sealer(KEY)("nodes", NODE)
    text = json.dumps(sealed)
    for secret in (LONG, "aws-secret-98765", "hdr-0001", "conv-token-777"):
        assert secret not in text
    llms = sealed["llms_config"]["llms"]
    assert is_sealed(llms[0]["api_key"]) and sealed["name"] == "api_key"
    assert sealed["fields"]["api_key"] == ""  # nothing to hide
    assert open_tree(sealed, KEY) == NODE
    # Sealing twice changes nothing; other kinds pass through.
    assert Sealer(KEY)("nodes", sealed) == sealed
    assert Sealer(KEY)("edges", NODE) is NODE


def test_a_sealed_key_masks_like_its_plaintext_and_survives_a_round_trip() -> None:
    sealed = Sealer(KEY)("nodes", NODE)
    assert mask_secrets(sealed) == mask_secrets(NODE)
    assert mask_value(sealed["llms_config"]["llms"][0]["api_key"]) == "****1234"
    # A client sending the masks back keeps the stored (sealed) values.
    kept = restore_secrets(mask_secrets(sealed), sealed, field="", keep_missing=False)
    assert kept == sealed


def test_values_stored_in_clear_by_an_older_release_still_read() -> None:
    assert open_tree(NODE, KEY) == NODE
    assert open_value("plain-old-key", None) == "plain-old-key"


def test_without_a_key_a_secret_is_refused_naming_its_place() -> None:
    with pytest.raises(SecretKeyMissing) as info:
        Sealer(None)("llm_configs", {"config": {"api_key": LONG}})
    assert info.value.status == 409 and info.value.code == "secret_key_not_set"
    assert info.value.details[0]["field"] == "config.api_key"
    assert LONG not in info.value.message
    # No secret, nothing to refuse; run snapshots only copy stored values.
    assert Sealer(None)("nodes", {"name": "x"}) == {"name": "x"}
    run = {"workflow_run": {"workflow_config_fully_hydrated": {"api_key": LONG}}}
    assert Sealer(None)("workflow_runs", run) is run


def test_a_run_is_sealed_only_in_its_snapshot() -> None:
    run = {
        "workflow_run": {"workflow_config_fully_hydrated": {"api_key": LONG}},
        "state": {"variables": {"api_key": "a runtime value"}},
    }
    sealed = Sealer(KEY)("workflow_runs", run)
    assert is_sealed(
        sealed["workflow_run"]["workflow_config_fully_hydrated"]["api_key"]
    )
    assert sealed["state"] == run["state"]


def test_opening_without_the_key_is_a_clear_refusal() -> None:
    sealed = Sealer(KEY)("nodes", NODE)
    with pytest.raises(SecretKeyMissing):
        open_tree(sealed, None)

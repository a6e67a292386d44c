"""Team credentials handed to vendors: only when the call brings none, redacted."""

from typing import Any, cast

import pytest

from threadline.providers.keys import TeamKeys
from threadline.service.team import credential_ports
from threadline.service.team import vendor_credentials as vc
from threadline.store import Store

KEY = "athena-team-key-9911"


class Recorder:
    def __init__(self, reply: Any = None, error: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.reply = reply if reply is not None else {"ok": True}
        self.error = error

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(payload)
        if self.error is not None:
            raise self.error
        reply: dict[str, Any] = self.reply
        return reply


def _vendor(name: str, base: Recorder, cred: dict[str, str]) -> vc.TeamVendor:
    loader = credential_ports._TeamLoader(
        cast(Store, None), "t1", keys=TeamKeys("t1", {name: cred})
    )
    return vc.TeamVendor(name, base, loader)


async def test_athena_gets_the_team_key_only_when_the_node_has_none() -> None:
    base = Recorder({"status_code": 200, "response": {"echo": KEY, "dept": "12"}})
    athena = _vendor("athena", base, {"api_key": KEY, "department_id": "12"})
    reply = await athena.call("patients_search", {"api_key": "", "department_id": 7})
    assert base.calls[-1] == {"api_key": KEY, "department_id": 7}  # node's id wins
    # The key is redacted from the reply; a non-secret field is left alone.
    assert reply["response"] == {"echo": "[REDACTED]", "dept": "12"}
    await athena.call("patients_search", {"api_key": "node-own-key"})
    assert base.calls[-1] == {"api_key": "node-own-key"}


async def test_google_docs_and_sms_get_credentials_and_errors_are_redacted() -> None:
    base = Recorder(error=ValueError(f"bad token {KEY}"))
    sms = _vendor("sms", base, {"auth_token": KEY, "account_sid": "AC1"})
    with pytest.raises(RuntimeError) as raised:
        await sms.call("send_sms", {"message": "hi"})
    assert KEY not in str(raised.value) and "[REDACTED]" in str(raised.value)
    assert base.calls[-1]["credentials"] == {"auth_token": KEY, "account_sid": "AC1"}
    docs_base = Recorder()
    docs = _vendor("google_docs", docs_base, {"api_key": KEY})
    await docs.call("get_document", {"credentials": {"api_key": "own"}})
    assert docs_base.calls[-1] == {"credentials": {"api_key": "own"}}


def test_only_secret_named_fields_are_redacted() -> None:
    cred = {"api_key": KEY, "department_id": "12", "client_secret": "abc", "x": KEY}
    assert vc.secret_values(cred) == [KEY]

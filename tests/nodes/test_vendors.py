"""Vendor-backed nodes, conversations and workflow_run_fetch (all through fakes)."""

import json

from tests.nodes.helpers import (
    FakeLLM,
    FakeRuns,
    FakeVendor,
    JsonDict,
    make_ports,
    make_task,
)
from threadline.nodes.conversation import (
    build_transcript,
    execute_end_conversation,
    execute_start_conversation,
)
from threadline.nodes.runs import NO_RUN_READER_MESSAGE, execute_workflow_run_fetch
from threadline.nodes.vendors import (
    execute_athena,
    execute_google_docs,
    execute_send_sms,
)

SMS = {
    "type": "send_sms",
    "destination_phone_number": "[[phone]]",
    "message": "Hi {{name}}",
}


def warnings(events: list[JsonDict]) -> list[str]:
    return [e["warning_message"] for e in events if e["type"] == "workflow_warning"]


# ------------------------------------------------------------------ send_sms


async def test_send_sms_sends_the_rendered_message() -> None:
    sms = FakeVendor({"status": "queued", "sid": "SM1"})
    task = make_task(SMS, runtime={"phone": "+15550001"}, dynamic={"name": "Ann"})
    result = await execute_send_sms(task, make_ports(vendors={"sms": sms}))
    assert sms.calls == [
        ("send_sms", {"destination_phone_number": "+15550001", "message": "Hi Ann"})
    ]
    assert result.events == [
        {
            "type": "send_sms",
            "status": "queued",
            "sent_message": "Hi Ann",
            "destination_phone_number": "+15550001",
        }
    ]
    assert result.output == {"success": True, "sent_sms_message": "Hi Ann"}
    assert result.variables["send_sms_success"] is True


async def test_send_sms_without_vendor_names_what_is_missing() -> None:
    task = make_task(SMS, runtime={"phone": "+15550001"})
    result = await execute_send_sms(task, make_ports())
    assert result.error is None
    assert result.output["success"] is False
    assert result.events[0]["status"] == "failed"
    (warning,) = warnings(result.events)
    assert warning.startswith("send_sms needs an SMS vendor: configure one named 'sms'")
    assert result.variables["send_sms_error"] == warning


async def test_send_sms_without_a_number_does_not_call_the_vendor() -> None:
    sms = FakeVendor()
    result = await execute_send_sms(make_task(SMS), make_ports(vendors={"sms": sms}))
    assert sms.calls == []
    assert "destination_phone_number" in warnings(result.events)[0]


async def test_vendor_exceptions_are_failures_with_secrets_redacted() -> None:
    sms = FakeVendor(error=RuntimeError("auth token tok-9 rejected"))
    task = make_task(SMS, runtime={"phone": "+1"})
    ports = make_ports(vendors={"sms": sms}, secret_values=("tok-9",))
    result = await execute_send_sms(task, ports)
    error = result.variables["send_sms_error"]
    assert "rejected" in error
    assert "tok-9" not in error
    assert warnings(result.events) == []


# ------------------------------------------------------------------ google_docs


async def test_google_docs_create_calls_the_vendor_and_reports_the_document() -> None:
    docs = FakeVendor({"document_id": "d1", "document_url": "https://docs/d1"})
    node = {
        "type": "google_docs",
        "credentials": {"type": "google_workspace_api_key", "api_key": "k"},
        "operate_document": {
            "type": "google_docs_create_document",
            "title": "Notes for {{name}}",
        },
    }
    task = make_task(node, dynamic={"name": "Ann"})
    result = await execute_google_docs(task, make_ports(vendors={"google_docs": docs}))
    operation, payload = docs.calls[0]
    assert operation == "create_document"
    assert payload["title"] == "Notes for Ann"
    assert payload["credentials"]["api_key"] == "k"
    assert result.events[0] == {
        "type": "google_docs_create_document",
        "status": "success",
        "document_id": "d1",
        "document_url": "https://docs/d1",
        "document_title": "Notes for Ann",
    }
    assert result.output == {
        "operate_document": {
            "type": "google_docs_create_document",
            "document_id": "d1",
            "document_url": "https://docs/d1",
        }
    }


async def test_google_docs_update_sends_content_and_index() -> None:
    docs = FakeVendor({"document_id": "d1"})
    node = {
        "type": "google_docs",
        "operate_document": {
            "type": "google_docs_update_document",
            "document_id_or_url": "d1",
            "updates": {"content": "[[summary]]", "insert_index": None},
        },
    }
    task = make_task(node, runtime={"summary": "all good"})
    result = await execute_google_docs(task, make_ports(vendors={"google_docs": docs}))
    assert docs.calls[0] == (
        "update_document",
        {
            "credentials": None,
            "document_id_or_url": "d1",
            "content": "all good",
            "insert_index": None,
        },
    )
    assert result.events[0]["updated_content"] == "all good"


async def test_google_docs_without_operation_fails_softly() -> None:
    result = await execute_google_docs(make_task({"type": "google_docs"}), make_ports())
    assert result.variables["google_docs_success"] is False
    assert "operate_document" in warnings(result.events)[0]


# ------------------------------------------------------------------ athena


async def test_athena_node_calls_the_operation_with_rendered_fields() -> None:
    athena = FakeVendor({"status_code": 200, "response": {"patients": [{"id": "9"}]}})
    node = {
        "type": "athena_patients_search",
        "api_key": "{{global.athena_key}}",
        "phone_number": "[[phone]]",
        "full_name": None,
    }
    task = make_task(node, runtime={"phone": "+1"}, globals_={"athena_key": "AK"})
    ports = make_ports(vendors={"athena": athena}, secret_values=("AK",))
    result = await execute_athena(task, ports)
    operation, payload = athena.calls[0]
    assert operation == "patients_search"
    assert payload == {"api_key": "AK", "phone_number": "+1", "full_name": None}
    assert result.events == [
        {
            "type": "athena",
            "status_code": 200,
            "response_body": {"patients": [{"id": "9"}]},
        }
    ]
    assert result.output["success"] is True
    assert result.variables["athena_patients_search_result"]["status_code"] == 200


async def test_athena_failure_reply_is_reported() -> None:
    athena = FakeVendor({"success": False, "status_code": 401, "error": "bad key"})
    node = {"type": "athena_appointments_create", "patient_id": "1"}
    result = await execute_athena(
        make_task(node), make_ports(vendors={"athena": athena})
    )
    assert result.output == {
        "success": False,
        "status_code": 401,
        "response": {"error": "bad key"},
    }
    assert result.variables["athena_appointments_create_error"] == "bad key"


async def test_athena_without_vendor_warns() -> None:
    result = await execute_athena(
        make_task({"type": "athena_patients_create"}), make_ports()
    )
    assert "athenahealth" in warnings(result.events)[0]
    assert result.output["success"] is False


# ------------------------------------------------------------------ conversations


async def test_start_conversation_places_a_call() -> None:
    calls = FakeVendor({"conversation_id": "c1", "conversation_status": "ringing"})
    node = {
        "type": "start_conversation",
        "is_voice_conversation": True,
        "user_number": "[[phone]]",
        "assistant_id": "a1",
    }
    task = make_task(node, runtime={"phone": "+1"})
    result = await execute_start_conversation(
        task, make_ports(vendors={"conversations": calls})
    )
    operation, payload = calls.calls[0]
    assert operation == "start_conversation"
    assert payload["user_number"] == "+1"
    assert result.events == [
        {
            "type": "start_conversation",
            "conversation_status": "ringing",
            "conversation_id": "c1",
        }
    ]
    assert result.output == {"conversation_id": "c1"}
    assert result.variables["conversation_id"] == "c1"


async def test_start_conversation_polls_an_existing_conversation() -> None:
    calls = FakeVendor({"conversation_status": "ended"})
    node = {"type": "start_conversation", "conversation_id": "{{cid}}"}
    task = make_task(node, dynamic={"cid": "c9"})
    result = await execute_start_conversation(
        task, make_ports(vendors={"conversations": calls})
    )
    assert calls.calls[0][0] == "poll_conversation"
    assert calls.calls[0][1]["conversation_id"] == "c9"
    assert result.output == {"conversation_id": "c9"}


async def test_voice_call_without_user_number_is_reported() -> None:
    node = {"type": "start_conversation", "is_voice_conversation": True}
    result = await execute_start_conversation(make_task(node), make_ports())
    assert "user_number" in warnings(result.events)[0]
    assert result.variables["start_conversation_success"] is False


HISTORY = (
    {"type": "ai", "content": "Hello!"},
    {"type": "human", "content": "Hi, I need a refill."},
    {
        "type": "ai",
        "content": "[Internal-only memo]: System navigated ...",
        "response_metadata": {"navigation_message": "true"},
    },
    {"type": "tool", "content": "{}"},
    {"type": "ai", "content": "Sure."},
)


def test_transcript_skips_navigation_memos_and_tool_messages() -> None:
    assert build_transcript(HISTORY) == (
        "Assistant: Hello!\nUser: Hi, I need a refill.\nAssistant: Sure."
    )


async def test_end_conversation_without_prompt_records_the_transcript() -> None:
    result = await execute_end_conversation(
        make_task({"type": "end_conversation"}, history=HISTORY), make_ports()
    )
    transcript = build_transcript(HISTORY)
    assert result.variables["conversation_transcript"] == transcript
    assert result.events == [
        {"type": "end_conversation", "processed_transcript": transcript}
    ]
    assert result.llm_calls == []


async def test_end_conversation_processes_the_transcript_with_the_llm() -> None:
    llm = FakeLLM("Summary: refill requested")
    node = {
        "type": "end_conversation",
        "process_transcript_prompt": {"prompt": "Summarise for {{clinic}}"},
    }
    task = make_task(node, history=HISTORY, dynamic={"clinic": "North"})
    result = await execute_end_conversation(task, make_ports(llm=llm))
    request = llm.requests[0]
    assert request.messages[0].content == "Summarise for North"
    assert request.messages[1].content == build_transcript(HISTORY)
    assert request.llm_config["type"] == "global_default_llm"
    assert result.variables["processed_transcript"] == "Summary: refill requested"
    assert result.events[-1]["processed_transcript"] == "Summary: refill requested"
    assert result.llm_calls[0]["total_tokens"] == 15


async def test_end_conversation_llm_failure_is_not_fatal() -> None:
    node = {"type": "end_conversation", "process_transcript_prompt": {"prompt": "x"}}
    task = make_task(node, history=HISTORY)
    result = await execute_end_conversation(task, make_ports(llm=FakeLLM(fail=True)))
    assert result.error is None
    assert result.variables["end_conversation_success"] is False
    assert result.variables["processed_transcript"] is None
    assert warnings(result.events)


# ------------------------------------------------------------------ workflow_run_fetch


async def test_workflow_run_fetch_stores_the_run() -> None:
    runs = FakeRuns({"r1": {"id": "r1", "status": "completed"}})
    task = make_task({"type": "workflow_run_fetch"}, dynamic={"workflow_run_id": "r1"})
    result = await execute_workflow_run_fetch(task, make_ports(runs=runs))
    assert runs.asked == ["r1"]
    assert result.variables == {
        "workflow_run_object": {"id": "r1", "status": "completed"},
        "workflow_run_object_success": True,
        "workflow_run_object_error": None,
    }
    assert json.loads(result.output["fetched_workflow_run"]) == {
        "id": "r1",
        "status": "completed",
    }


async def test_missing_run_is_success_false() -> None:
    node = {
        "type": "workflow_run_fetch",
        "workflow_run_id": "[[rid]]",
        "result_runtime_variable_name": "run",
    }
    task = make_task(node, runtime={"rid": "gone"})
    result = await execute_workflow_run_fetch(task, make_ports(runs=FakeRuns()))
    assert result.variables["run"] is None
    assert result.variables["run_success"] is False
    assert "'gone'" in result.variables["run_error"]
    assert result.output == {"fetched_workflow_run": None}


async def test_unresolved_run_id_is_not_looked_up() -> None:
    runs = FakeRuns()
    result = await execute_workflow_run_fetch(
        make_task({"type": "workflow_run_fetch"}), make_ports(runs=runs)
    )
    assert runs.asked == []
    assert result.variables["workflow_run_object_success"] is False


async def test_workflow_run_fetch_without_reader_warns() -> None:
    task = make_task({"type": "workflow_run_fetch"}, dynamic={"workflow_run_id": "r"})
    result = await execute_workflow_run_fetch(task, make_ports())
    assert warnings(result.events) == [NO_RUN_READER_MESSAGE]

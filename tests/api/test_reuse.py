"""Reuse over HTTP: super nodes, workflow templates and node libraries."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import Team
from tests.factories import edge, static_node
from threadline.api.app import create_app
from threadline.service.reuse import access as reuse
from threadline.service.runtime import Runtime
from threadline.service.team import auth
from threadline.settings import Settings
from threadline.store import Store

MISSING = "5eb7cf5a86d9755df3a6c593"


@pytest.fixture
async def teammate(
    store: Store, settings: Settings, runtime: Runtime, team: Team
) -> AsyncIterator[Team]:
    """A second user of ``team`` with its own key and client."""
    user_id = "ab" * 12
    new = await auth.create_key(store, team.team_id, user_id, name="mate")
    transport = httpx.ASGITransport(
        app=create_app(settings, store=store, runtime=runtime)
    )
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {new.secret}"},
    ) as client:
        yield Team(team.team_id, user_id, new.secret, client)


INTERFACE = {
    "input_fields": [
        {
            "name": "topic",
            "description": "What to talk about",
            "value_type": "string",
            "min_length": 2,
            "max_length": 40,
            "mappings": [
                {"target_type": "dynamic_variable", "target_variable_name": "topic"}
            ],
        },
        {
            "name": "tone",
            "required": False,
            "default_value": "warm",
            "value_type": "enum",
            "enum_values": ["warm", "dry"],
            "mappings": [
                {
                    "target_type": "node_config_field",
                    "target_node_or_edge_logical_id": "node_b",
                    "target_field_path": "description",
                }
            ],
        },
    ]
}


async def new_workflow(team: Team, body: dict[str, Any]) -> str:
    response = await team.client.post("/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["workflow"]["_id"])


async def child_workflow(team: Team) -> str:
    return await new_workflow(
        team,
        {
            "name": "Child",
            "description": "says things",
            "workflow_config": {},
            "node_configs": [
                static_node("node_a", "child says {{topic}}", is_start=True),
                static_node("node_b", "child done"),
            ],
            "edge_configs": [edge("edge_ab", "node_a", "node_b")],
        },
    )


async def parent_workflow(team: Team, child: str, **extra: Any) -> str:
    return await new_workflow(
        team,
        {
            "name": "Parent",
            "workflow_config": {},
            "node_configs": [
                static_node("node_hi", "parent hi", is_start=True),
                {
                    "type": "super_node",
                    "logical_id": "node_sub",
                    "name": "Sub",
                    "super_workflow_id": child,
                    "super_node_interface": INTERFACE,
                    "field_values": {"topic": "billing"},
                    **extra,
                },
                static_node("node_bye", "parent bye"),
            ],
            "edge_configs": [
                edge("edge_in", "node_hi", "node_sub"),
                edge("edge_out", "node_sub", "node_bye"),
            ],
        },
    )


async def publish(team: Team, wid: str, interface: Any = None) -> httpx.Response:
    body = {"interface": INTERFACE if interface is None else interface}
    return await team.client.put(f"/v1/workflows/{wid}/super-node-interface", json=body)


# ------------------------------------------------------------- super nodes


async def test_publish_then_list_get_and_schema(team: Team, other_team: Team):
    child = await child_workflow(team)
    published = await publish(team, child)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["workflow_id"] == child
    assert body["workflow_version_number"] == 0
    assert body["num_input_fields"] == 2
    assert "published" in body["message"]

    listing = await team.client.get("/v1/super-nodes")
    assert listing.json() == [
        {
            "workflow_id": child,
            "workflow_version_number": 0,
            "name": "Child",
            "description": "says things",
            "num_input_fields": 2,
        }
    ]
    detail = (await team.client.get(f"/v1/super-nodes/{child}")).json()
    assert set(detail) == {
        "workflow_id",
        "workflow_version_number",
        "name",
        "description",
        "super_node_interface",
        "encapsulated_workflow_config",
    }
    assert detail["super_node_interface"]["input_fields"][0]["name"] == "topic"
    config = detail["encapsulated_workflow_config"]
    assert [n["logical_id"] for n in config["node_configs"]] == ["node_a", "node_b"]
    assert config["workflow_config"]["name"] == "Child"
    pinned = await team.client.get(
        f"/v1/super-nodes/{child}", params={"version_number": 0}
    )
    assert pinned.json() == detail
    assert (
        await team.client.get(f"/v1/super-nodes/{child}", params={"version_number": 3})
    ).status_code == 404

    schema = (await team.client.get(f"/v1/super-nodes/{child}/schema")).json()
    assert schema["type"] == "object"
    assert schema["required"] == ["topic"]
    assert schema["properties"]["topic"] == {
        "title": "topic",
        "type": "string",
        "description": "What to talk about",
        "minLength": 2,
        "maxLength": 40,
    }
    assert schema["properties"]["tone"]["enum"] == ["warm", "dry"]
    assert schema["properties"]["tone"]["default"] == "warm"

    # Other teams see nothing of it.
    assert (await other_team.client.get("/v1/super-nodes")).json() == []
    for path in (
        f"/v1/super-nodes/{child}",
        f"/v1/super-nodes/{child}/schema",
        f"/v1/workflows/{child}/super-node-dependents",
        f"/v1/workflows/{child}/super-node-snapshot-status",
    ):
        assert (await other_team.client.get(path)).status_code == 404, path
    assert (await publish(other_team, child)).status_code == 404
    gone = await other_team.client.delete(f"/v1/workflows/{child}/super-node-interface")
    assert gone.status_code == 404
    preview = await other_team.client.post(f"/v1/workflows/{child}/expand-preview")
    assert preview.status_code == 404


async def test_an_unpublished_workflow_is_no_super_node(team: Team):
    child = await child_workflow(team)
    assert (await team.client.get(f"/v1/super-nodes/{child}")).status_code == 404
    assert (await team.client.get(f"/v1/super-nodes/{child}/schema")).status_code == 404
    assert (await team.client.get(f"/v1/super-nodes/{MISSING}")).status_code == 404
    assert (await publish(team, MISSING)).status_code == 404
    unpublish = await team.client.delete(f"/v1/workflows/{child}/super-node-interface")
    assert unpublish.status_code == 404


@pytest.mark.parametrize(
    ("interface", "field"),
    [
        (
            {"input_fields": [{"description": "no name"}]},
            "interface.input_fields.0.name",
        ),
        (
            {"input_fields": [{"name": "x", "value_type": "colour"}]},
            "interface.input_fields.0.value_type",
        ),
        (
            {"input_fields": [{"name": "x"}, {"name": "x"}]},
            "interface.input_fields.1.name",
        ),
        (
            {"input_fields": [{"name": "x", "value_type": "enum"}]},
            "interface.input_fields.0.enum_values",
        ),
        (
            {
                "input_fields": [
                    {
                        "name": "x",
                        "mappings": [
                            {
                                "target_type": "node_config_field",
                                "target_node_or_edge_logical_id": "node_zz",
                                "target_field_path": "name",
                            }
                        ],
                    }
                ]
            },
            "interface.input_fields.0.mappings.0.target_node_or_edge_logical_id",
        ),
        (
            {
                "input_fields": [
                    {"name": "x", "mappings": [{"target_type": "dynamic_variable"}]}
                ]
            },
            "interface.input_fields.0.mappings.0.target_variable_name",
        ),
        ("not an object", "interface"),
    ],
)
async def test_publish_rejects_a_bad_interface_naming_the_field(
    team: Team, interface: Any, field: str
):
    child = await child_workflow(team)
    response = await publish(team, child, interface)
    assert response.status_code == 422, response.text
    assert field in response.json()["message"]
    missing = await team.client.put(
        f"/v1/workflows/{child}/super-node-interface", json={}
    )
    assert missing.status_code == 422
    assert (await team.client.get("/v1/super-nodes")).json() == []


async def test_dry_run_unpublish_lists_dependents_then_unpublish(team: Team):
    child = await child_workflow(team)
    assert (await publish(team, child)).status_code == 200
    parent = await parent_workflow(team, child)
    unrelated = await child_workflow(team)

    dry = await team.client.delete(
        f"/v1/workflows/{child}/super-node-interface", params={"dry_run": True}
    )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "workflow_id": child,
        "message": dry.json()["message"],
        "workflow_version_number": 0,
        "dry_run": True,
        "workflows_referencing": [parent],
        "workflows_referencing_total": 1,
        "workflows_referencing_truncated": False,
    }
    assert "would unpublish" in dry.json()["message"]
    assert (await team.client.get(f"/v1/super-nodes/{child}")).status_code == 200

    deps = await team.client.get(f"/v1/workflows/{child}/super-node-dependents")
    assert deps.json() == {
        "dependents": [{"workflow_id": parent, "name": "Parent", "description": None}],
        "total": 1,
        "page": 1,
        "size": 20,
        "pages": 1,
    }
    second = await team.client.get(
        f"/v1/workflows/{child}/super-node-dependents", params={"page": 2, "size": 1}
    )
    assert second.json()["dependents"] == [] and second.json()["total"] == 1
    none = await team.client.get(f"/v1/workflows/{unrelated}/super-node-dependents")
    assert none.json()["total"] == 0
    bad = await team.client.get(
        f"/v1/workflows/{child}/super-node-dependents", params={"page": 0}
    )
    assert bad.status_code == 422
    missing = await team.client.get(f"/v1/workflows/{MISSING}/super-node-dependents")
    assert missing.status_code == 404

    done = await team.client.delete(f"/v1/workflows/{child}/super-node-interface")
    assert done.status_code == 200
    assert done.json()["dry_run"] is False
    assert done.json()["workflows_referencing"] == [parent]
    assert (await team.client.get(f"/v1/super-nodes/{child}")).status_code == 404
    assert (await team.client.get("/v1/super-nodes")).json() == []
    again = await team.client.delete(f"/v1/workflows/{child}/super-node-interface")
    assert again.status_code == 404


async def test_unpublish_of_a_version_counts_only_super_nodes_resolving_to_it(
    team: Team,
):
    child = await child_workflow(team)
    assert (await publish(team, child)).status_code == 200
    await parent_workflow(team, child, super_workflow_version_number=7)
    dry = await team.client.delete(
        f"/v1/workflows/{child}/super-node-interface",
        params={"dry_run": True, "version_number": 0},
    )
    assert dry.json()["workflows_referencing"] == []
    deps = await team.client.get(f"/v1/workflows/{child}/super-node-dependents")
    assert deps.json()["total"] == 1


async def test_expand_preview_inlines_the_embedded_super_node(team: Team):
    child = await child_workflow(team)
    assert (await publish(team, child)).status_code == 200
    parent = await parent_workflow(team, child)
    response = await team.client.post(f"/v1/workflows/{parent}/expand-preview")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "workflow_id",
        "version_number",
        "expanded_config",
        "super_node_origins",
        "expansion_report",
    }
    assert body["workflow_id"] == parent and body["version_number"] == 0
    ids = [n["logical_id"] for n in body["expanded_config"]["node_configs"]]
    assert "node_sub" not in ids
    assert {"node_sub__node_a", "node_sub__node_b"} <= set(ids)
    assert all(
        n["type"] != "super_node" for n in body["expanded_config"]["node_configs"]
    )
    assert body["super_node_origins"] == ["node_sub"]
    assert body["expansion_report"]["origins"]["node_sub__node_a"] == "node_sub"
    assert body["expansion_report"]["super_nodes"][0]["super_workflow_id"] == child

    plain = await team.client.post(f"/v1/workflows/{child}/expand-preview")
    assert plain.status_code == 200
    assert plain.json()["super_node_origins"] == []
    no_version = await team.client.post(
        f"/v1/workflows/{parent}/expand-preview", params={"version_number": 4}
    )
    assert no_version.status_code == 404

    broken = await parent_workflow(team, MISSING)
    failed = await team.client.post(f"/v1/workflows/{broken}/expand-preview")
    assert failed.status_code == 404
    assert MISSING in failed.json()["message"]


async def test_snapshot_status_follows_republishing(team: Team):
    child = await child_workflow(team)
    assert (await publish(team, child)).status_code == 200
    snapshot = (await team.client.get(f"/v1/super-nodes/{child}")).json()[
        "encapsulated_workflow_config"
    ]
    live = await parent_workflow(team, child)
    frozen = await parent_workflow(team, child, encapsulated_workflow_config=snapshot)

    status = (
        await team.client.get(f"/v1/workflows/{child}/super-node-snapshot-status")
    ).json()
    assert status["is_current"] is True
    assert status["published"][0]["version_number"] == 0
    assert status["published"][0]["is_current"] is True
    assert status["super_nodes"] == []

    embedded = (
        await team.client.get(f"/v1/workflows/{frozen}/super-node-snapshot-status")
    ).json()
    assert embedded["is_current"] is True
    (sub,) = embedded["super_nodes"]
    assert sub["logical_id"] == "node_sub"
    assert sub["source"] == "encapsulated"
    assert sub["is_current"] is True and sub["interface_is_current"] is True

    # The child changes: its published snapshot and the embedded one are stale.
    renamed = await team.client.patch(f"/v1/workflows/{child}", json={"name": "Kid"})
    assert renamed.status_code == 200, renamed.text
    stale = (
        await team.client.get(f"/v1/workflows/{child}/super-node-snapshot-status")
    ).json()
    assert stale["is_current"] is False
    assert stale["published"][0]["is_current"] is False
    assert (await publish(team, child)).status_code == 200
    fresh = (
        await team.client.get(f"/v1/workflows/{child}/super-node-snapshot-status")
    ).json()
    assert fresh["is_current"] is True
    outdated = (
        await team.client.get(f"/v1/workflows/{frozen}/super-node-snapshot-status")
    ).json()
    assert outdated["is_current"] is False
    assert outdated["super_nodes"][0]["reason"] == "embedded_snapshot_outdated"
    following = (
        await team.client.get(f"/v1/workflows/{live}/super-node-snapshot-status")
    ).json()
    assert following["super_nodes"][0]["source"] == "live"
    assert following["is_current"] is True

    await team.client.delete(f"/v1/workflows/{child}/super-node-interface")
    unpublished = (
        await team.client.get(f"/v1/workflows/{live}/super-node-snapshot-status")
    ).json()
    assert unpublished["is_current"] is False
    assert unpublished["super_nodes"][0]["reason"] == "not_published"
    missing = await team.client.get(
        f"/v1/workflows/{MISSING}/super-node-snapshot-status"
    )
    assert missing.status_code == 404


# ------------------------------------------------------------- templates


async def test_template_crud_and_envelopes(team: Team, other_team: Team):
    wid = await child_workflow(team)
    created = await team.client.post(
        "/v1/templates", json={"workflow_id": wid, "name": "Intake"}
    )
    assert created.status_code == 200, created.text
    tpl = created.json()["workflow_template"]
    assert set(tpl) >= {
        "teamId",
        "createdBy",
        "updatedBy",
        "createdAt",
        "updatedAt",
        "_id",
        "workflow_template_config",
    }
    # Top-level copies the SDK guide reads (template.name, len(template.nodes)).
    assert (tpl["name"], tpl["nodes"], tpl["access_level"]) == (
        "Intake",
        [],
        "personal",
    )
    assert tpl["teamId"] == team.team_id and tpl["createdBy"] == team.user_id
    config = tpl["workflow_template_config"]
    assert config["workflow_id"] == wid
    assert config["access_level"] == "personal"
    assert config["logical_id"].startswith("workflow_template_")
    assert config["name"] == "Intake"
    tid = tpl["_id"]

    got = await team.client.get(f"/v1/templates/{tid}")
    assert got.json() == {"workflow_template": tpl}
    listing = (await team.client.get("/v1/templates")).json()
    assert listing["total"] == 1 and listing["workflow_templates"] == [tpl]
    by_workflow = await team.client.get(
        "/v1/templates", params={"workflow_id": MISSING}
    )
    assert by_workflow.json()["total"] == 0
    by_logical = await team.client.get(
        "/v1/templates", params={"logical_id": config["logical_id"]}
    )
    assert by_logical.json()["total"] == 1
    assert (await team.client.get("/v1/templates", params={"search": "intake"})).json()[
        "total"
    ] == 1

    patched = await team.client.patch(
        f"/v1/templates/{tid}", json={"access_level": "team"}
    )
    assert patched.status_code == 200
    assert (
        patched.json()["workflow_template"]["workflow_template_config"]["access_level"]
        == "team"
    )
    assert (
        await team.client.get("/v1/templates", params={"access_level": "personal"})
    ).json()["total"] == 0

    # Another team never sees it, whatever its level.
    assert (await other_team.client.get(f"/v1/templates/{tid}")).status_code == 404
    assert (await other_team.client.get("/v1/templates")).json()["total"] == 0
    assert (
        await other_team.client.patch(f"/v1/templates/{tid}", json={})
    ).status_code == 404
    assert (await other_team.client.delete(f"/v1/templates/{tid}")).status_code == 404
    foreign = await other_team.client.post("/v1/templates", json={"workflow_id": wid})
    assert foreign.status_code == 422
    assert "workflow_id" in foreign.json()["message"]

    assert (await team.client.delete(f"/v1/templates/{tid}")).status_code == 204
    assert (await team.client.get(f"/v1/templates/{tid}")).status_code == 404
    assert (await team.client.delete(f"/v1/templates/{tid}")).status_code == 404


async def test_template_validation_and_schema(team: Team):
    bad_level = await team.client.post("/v1/templates", json={"access_level": "world"})
    assert bad_level.status_code == 422
    assert "access_level" in bad_level.json()["message"]
    bad_id = await team.client.post("/v1/templates", json={"workflow_id": "nope"})
    assert bad_id.status_code == 422 and "workflow_id" in bad_id.json()["message"]
    bad_list = await team.client.post("/v1/templates", json={"access_list": ["x"]})
    assert bad_list.status_code == 422 and "access_list.0" in bad_list.json()["message"]
    assert (await team.client.post("/v1/templates", json=[1])).status_code == 422
    system = await team.client.post("/v1/templates", json={"access_level": "system"})
    assert system.status_code == 403
    bad_filter = await team.client.get("/v1/templates", params={"access_level": "x"})
    assert bad_filter.status_code == 422
    schema = (await team.client.get("/v1/templates/schema")).json()
    assert "workflow_id" in schema["config_schema"]["properties"]
    assert (await team.client.get(f"/v1/templates/{MISSING}")).status_code == 404


async def test_template_access_levels(store: Store, team: Team, teammate: Team):
    personal = (await team.client.post("/v1/templates", json={})).json()
    pid = personal["workflow_template"]["_id"]
    shared = await team.client.post(
        "/v1/templates", json={"access_list": [teammate.user_id]}
    )
    sid = shared.json()["workflow_template"]["_id"]
    team_wide = await team.client.post("/v1/templates", json={"access_level": "team"})
    tid = team_wide.json()["workflow_template"]["_id"]
    system_id = await reuse.seed_system(
        store, "workflow_templates", {"logical_id": "system_intake"}
    )

    # Personal: the teammate cannot see it; with access_list it may read only.
    assert (await teammate.client.get(f"/v1/templates/{pid}")).status_code == 404
    assert (await teammate.client.get(f"/v1/templates/{sid}")).status_code == 200
    read_only = await teammate.client.patch(f"/v1/templates/{sid}", json={})
    assert read_only.status_code == 403
    assert (await teammate.client.delete(f"/v1/templates/{sid}")).status_code == 403
    # Team: every member reads and writes.
    assert (await teammate.client.get(f"/v1/templates/{tid}")).status_code == 200
    assert (
        await teammate.client.patch(f"/v1/templates/{tid}", json={"name": "Ours"})
    ).status_code == 200
    # System: everyone reads, nobody writes; nobody raises an item to system.
    seen = await teammate.client.get(f"/v1/templates/{system_id}")
    assert seen.status_code == 200
    assert (
        seen.json()["workflow_template"]["workflow_template_config"]["access_level"]
        == "system"
    )
    assert (await team.client.delete(f"/v1/templates/{system_id}")).status_code == 403
    raise_it = await team.client.patch(
        f"/v1/templates/{pid}", json={"access_level": "system"}
    )
    assert raise_it.status_code == 403

    mine = (await team.client.get("/v1/templates")).json()
    assert mine["total"] == 4
    theirs = (await teammate.client.get("/v1/templates")).json()
    assert {t["_id"] for t in theirs["workflow_templates"]} == {sid, tid, system_id}
    only_system = await teammate.client.get(
        "/v1/templates", params={"access_level": "system"}
    )
    assert [t["_id"] for t in only_system.json()["workflow_templates"]] == [system_id]
    paged = await team.client.get("/v1/templates", params={"page": 2, "size": 3})
    assert len(paged.json()["workflow_templates"]) == 1
    assert paged.json()["total"] == 4


# ------------------------------------------------------------- node libraries


async def _node_ids(team: Team, wid: str) -> list[str]:
    got = await team.client.get(f"/v1/workflows/{wid}")
    return list(got.json()["workflow"]["workflow_config"]["nodes"])


async def test_node_library_crud_access_and_isolation(
    team: Team, teammate: Team, other_team: Team
):
    wid = await child_workflow(team)
    nodes = await _node_ids(team, wid)
    assert len(nodes) == 2
    created = await team.client.post(
        "/v1/node-libraries",
        json={"name": "Commons", "description": "shared", "nodes": nodes},
    )
    assert created.status_code == 200, created.text
    lib = created.json()["node_library"]
    assert set(lib) >= {
        "team_id",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
        "_id",
        "node_library_config",
    }
    assert (lib["name"], lib["nodes"]) == ("Commons", nodes)
    config = lib["node_library_config"]
    assert config["nodes"] == nodes and config["access_level"] == "personal"
    assert config["logical_id"].startswith("node_library_")
    lid = lib["_id"]
    assert (await team.client.get(f"/v1/node-libraries/{lid}")).json() == {
        "node_library": lib
    }
    listing = (await team.client.get("/v1/node-libraries")).json()
    assert listing["total"] == 1 and listing["node_libraries"] == [lib]
    assert (await teammate.client.get(f"/v1/node-libraries/{lid}")).status_code == 404
    assert (await teammate.client.get("/v1/node-libraries")).json()["total"] == 0

    patched = await team.client.patch(
        f"/v1/node-libraries/{lid}", json={"access_level": "team", "nodes": nodes[:1]}
    )
    assert patched.status_code == 200
    assert patched.json()["node_library"]["node_library_config"]["nodes"] == nodes[:1]
    assert patched.json()["node_library"]["node_library_config"]["name"] == "Commons"
    assert (await teammate.client.get(f"/v1/node-libraries/{lid}")).status_code == 200
    team_only = await teammate.client.get(
        "/v1/node-libraries", params={"access_level": "team"}
    )
    assert team_only.json()["total"] == 1

    # Other teams: invisible, and they cannot collect this team's nodes.
    assert (await other_team.client.get(f"/v1/node-libraries/{lid}")).status_code == 404
    assert (await other_team.client.get("/v1/node-libraries")).json()["total"] == 0
    stolen = await other_team.client.post("/v1/node-libraries", json={"nodes": nodes})
    assert stolen.status_code == 422
    assert "nodes.0" in stolen.json()["message"]

    assert (
        await teammate.client.delete(f"/v1/node-libraries/{lid}")
    ).status_code == 204
    assert (await team.client.get(f"/v1/node-libraries/{lid}")).status_code == 404


async def test_node_library_validation_and_schema(team: Team):
    bad = await team.client.post("/v1/node-libraries", json={"nodes": ["abc"]})
    assert bad.status_code == 422 and "nodes.0" in bad.json()["message"]
    missing = await team.client.post("/v1/node-libraries", json={"nodes": [MISSING]})
    assert missing.status_code == 422 and MISSING in missing.json()["message"]
    system = await team.client.post(
        "/v1/node-libraries", json={"access_level": "system"}
    )
    assert system.status_code == 403
    schema = (await team.client.get("/v1/node-libraries/schema")).json()
    assert {"nodes", "access_level", "access_list"} <= set(
        schema["config_schema"]["properties"]
    )
    assert (await team.client.get(f"/v1/node-libraries/{MISSING}")).status_code == 404
    assert (
        await team.client.patch(f"/v1/node-libraries/{MISSING}", json={})
    ).status_code == 404


async def test_the_sdk_guide_access_level_names_are_accepted(team: Team):
    # The SDK's reusable-assets guide writes "public" (team-wide) and "private".
    public = await team.client.post(
        "/v1/templates", json={"name": "Support", "access_level": "public"}
    )
    assert public.status_code == 200, public.text
    config = public.json()["workflow_template"]["workflow_template_config"]
    assert config["access_level"] == "team"
    listed = await team.client.get("/v1/templates", params={"access_level": "public"})
    assert listed.status_code == 200 and listed.json()["total"] == 1
    private = await team.client.post(
        "/v1/node-libraries", json={"name": "Mine", "access_level": "private"}
    )
    assert private.status_code == 200, private.text
    assert private.json()["node_library"]["node_library_config"]["access_level"] == (
        "personal"
    )
    libraries = await team.client.get(
        "/v1/node-libraries", params={"access_level": "private"}
    )
    assert libraries.status_code == 200 and libraries.json()["total"] == 1


async def test_the_sdk_guide_interface_shorthand_publishes_input_fields(team: Team):
    child = await child_workflow(team)
    shorthand = {
        "field_values": [
            {
                "name": "topic",
                "type": "string",
                "description": "What to talk about",
                "map_to": "dynamic_variable:topic",
            }
        ]
    }
    published = await publish(team, child, shorthand)
    assert published.status_code == 200, published.text
    assert published.json()["num_input_fields"] == 1
    detail = (await team.client.get(f"/v1/super-nodes/{child}")).json()
    [field] = detail["super_node_interface"]["input_fields"]
    assert (field["name"], field["value_type"]) == ("topic", "string")
    assert field["mappings"] == [
        {
            "target_type": "dynamic_variable",
            "target_node_or_edge_logical_id": None,
            "target_field_path": None,
            "target_variable_name": "topic",
        }
    ]
    # Embedded as the SDK's SuperNodeConfig does: no copy of the interface.
    parent = await parent_workflow(team, child, super_node_interface=None)
    turn = await team.client.post(
        f"/v1/workflows/{parent}/execute",
        json={
            "run_input": {
                "command": "start",
                "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
            }
        },
    )
    said = [
        e["content"] for e in turn.json()["events"] if e["type"] == "assistant_response"
    ]
    assert "child says billing" in said

    bad = await publish(
        team, child, {"field_values": [{"name": "x", "map_to": "somewhere"}]}
    )
    assert bad.status_code == 422
    assert "interface.field_values.0.map_to" in bad.json()["message"]


async def test_field_values_reference_the_callers_dynamic_variables(team: Team):
    child = await child_workflow(team)
    shorthand = {
        "field_values": [
            {"name": "topic", "type": "string", "map_to": "dynamic_variable:topic"}
        ]
    }
    assert (await publish(team, child, shorthand)).status_code == 200
    # The SDK guide's form: the value names a variable of the calling workflow.
    parent = await parent_workflow(
        team,
        child,
        super_node_interface=None,
        field_values={"topic": "dynamic_variable:caller_topic"},
    )

    async def start(variables: dict[str, Any]) -> list[dict[str, Any]]:
        turn = await team.client.post(
            f"/v1/workflows/{parent}/execute",
            json={
                "run_input": {
                    "command": "start",
                    "dynamic_variables": variables,
                    "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
                }
            },
        )
        assert turn.status_code == 200, turn.text
        events: list[dict[str, Any]] = turn.json()["events"]
        return events

    def said(events: list[dict[str, Any]]) -> list[str]:
        return [e["content"] for e in events if e["type"] == "assistant_response"]

    events = await start({"caller_topic": "refunds"})
    assert "child says refunds" in said(events)
    assert not [e for e in events if e["type"] == "workflow_warning"]

    # Not given: the child's variable stays unset, and the run says why.
    events = await start({})
    assert not any("dynamic_variable:" in text for text in said(events))
    [warning] = [e for e in events if e["type"] == "workflow_warning"]
    assert "dynamic_variable:caller_topic" in warning["warning_message"]
    assert "has no value" in warning["warning_message"]

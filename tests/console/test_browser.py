"""The console in a real browser: the whole path of a workflow author, and what a
second team (and a page's source) may never see."""

import os
import re
from pathlib import Path
from subprocess import run as run_command
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.api.test_execute import chat_workflow
from tests.console.browser import (
    chromium,
    console_server,
    require_browser,
    sign_in,
    wait_for,
)
from tests.security.server import THREADLINE

SCREENSHOT = Path(__file__).parent.parent.parent / "docs" / "console-run.png"


@pytest.fixture(autouse=True)
def _browser() -> None:
    require_browser()


def by(kind: str) -> Any:
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def chat(driver: Any, text: str, replies: int) -> None:
    box = driver.find_element(by("ID"), "play-message")
    wait_for(driver, lambda d: box.is_enabled(), "the run to wait for input")
    box.send_keys(text)
    driver.find_element(by("ID"), "play-send").click()
    wait_for(
        driver,
        lambda d: (
            len(d.find_elements(by("CSS_SELECTOR"), '[data-role="reply"]')) >= replies
            and d.find_element(by("ID"), "play-message").is_enabled()
        ),
        f"reply {replies}",
    )


def test_sign_in_chat_in_the_playground_then_debug_and_rerun_the_run(tmp_path: Path):
    with console_server(tmp_path) as server, chromium() as driver:
        # 1. sign in
        sign_in(driver, server.base_url, server.key)
        # 2. a workflow through the API
        created = httpx.post(
            f"{server.base_url}/v1/workflows",
            json=chat_workflow(),
            headers={"Authorization": f"Bearer {server.key}"},
        )
        assert created.status_code == 200, created.text
        wid = created.json()["workflow"]["_id"]
        # 3. chat with it in the playground
        driver.get(f"{server.base_url}/ui/workflows/{wid}/play")
        variables = driver.find_element(by("ID"), "play-variables")
        variables.clear()
        variables.send_keys('{"clinic": "Northside", "patient": "Ann"}')
        driver.find_element(by("ID"), "play-start").click()
        wait_for(
            driver,
            lambda d: (
                "Welcome to Northside, Ann!"
                in d.find_element(by("ID"), "play-transcript").text
            ),
            "the greeting",
        )
        waiting = driver.find_element(
            by("CSS_SELECTOR"), '#play-graph [data-node="node_chat"]'
        )
        wait_for(driver, lambda d: "waiting" in waiting.get_attribute("class"), "hl")
        chat(driver, "I need an appointment", 2)
        chat(driver, "Tomorrow morning please", 3)
        assert "node_chat" in driver.find_element(by("ID"), "play-events").text or (
            "Node Chat" in driver.find_element(by("ID"), "play-events").text
        )
        driver.find_element(by("ID"), "play-stop").click()
        wait_for(
            driver,
            lambda d: d.find_element(by("ID"), "play-state").text == "cancelled",
            "the stop",
        )
        link = driver.find_element(by("ID"), "run-link")
        run_url = link.get_attribute("href")
        # 4. the run: every user message and reply, a token count, the path
        driver.get(run_url)
        page = driver.find_element(by("TAG_NAME"), "main").text
        for said in (
            "I need an appointment",
            "Tomorrow morning please",
            "Welcome to Northside, Ann!",
            "(fake model) You said: I need an appointment",
            "(fake model) You said: Tomorrow morning please",
        ):
            assert said in page, said
        assert re.search(r"tokens \d+ in / \d+ out / \d+ total", page)
        turn = driver.find_element(by("ID"), "turn-0")
        on_path = turn.find_elements(by("CSS_SELECTOR"), "svg g.node.on-path")
        assert {g.get_attribute("data-node") for g in on_path} == {"node_greet"}
        edges = turn.find_elements(by("CSS_SELECTOR"), "svg g.edge.on-path")
        assert [g.get_attribute("data-edge") for g in edges] == ["edge_greet"]
        if os.environ.get("THREADLINE_CONSOLE_SCREENSHOT"):
            driver.save_screenshot(str(SCREENSHOT))
        # 5. a comment
        box = driver.find_element(
            by("CSS_SELECTOR"), '#run-comments input[name="content"]'
        )
        box.send_keys("Checked by the browser test")
        box.submit()
        wait_for(
            driver,
            lambda d: (
                "Checked by the browser test"
                in d.find_element(by("ID"), "run-comments").text
            ),
            "the comment",
        )
        # 6. re-run from turn 1 and follow the link to the new run
        driver.find_element(by("CSS_SELECTOR"), "#turn-1 a.rerun-link").click()
        wait_for(driver, lambda d: d.find_elements(by("ID"), "rerun-form"), "preflight")
        assert "EXACT" in driver.find_element(by("ID"), "preflight").text
        driver.find_element(by("ID"), "message").send_keys("Actually, next week")
        driver.find_element(by("ID"), "start-rerun").click()
        wait_for(driver, lambda d: d.find_elements(by("ID"), "source-run"), "new run")
        new_url = driver.current_url
        assert new_url != run_url
        assert "(fake model) You said: Actually, next week" in driver.page_source
        driver.get(run_url)
        driver.find_element(
            by("CSS_SELECTOR"), f'#reruns a[href$="{new_url.rsplit("/", 1)[1]}"]'
        ).click()
        wait_for(driver, lambda d: d.current_url == new_url, "the link to the new run")


def test_a_second_team_sees_nothing_of_the_first_and_no_page_holds_a_secret(
    tmp_path: Path,
):
    secret_key = Fernet.generate_key().decode()
    secret = "sk-console-" + os.urandom(8).hex()
    with console_server(tmp_path, secret_key=secret_key) as server:
        with httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {server.key}"},
        ) as api:
            body = chat_workflow()
            body["name"] = "Team one's workflow"
            wid = api.post("/v1/workflows", json=body).json()["workflow"]["_id"]
            made = api.post(
                "/v1/global-variables",
                json={"name": "clinic_token", "value": secret, "is_secret": True},
            )
            assert made.status_code in (200, 201), made.text
            run = api.post(
                f"/v1/workflows/{wid}/execute",
                json={
                    "run_input": {
                        "command": "start",
                        "dynamic_variables": {"patient": secret},
                        "thread_to_node_inputs": {"0": {"node_run_inputs": []}},
                    }
                },
            ).json()
        other = "b" * 24
        created = run_command(
            [THREADLINE, "api-key", "create", "--team-id", other, "--user-id", "u2"],
            env={
                **os.environ,
                "THREADLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
            },
            capture_output=True,
            text=True,
            check=True,
        )
        other_key = created.stdout.strip().splitlines()[-1]
        with chromium() as driver:
            sign_in(driver, server.base_url, other_key)
            for path in ("/ui/workflows", "/ui/runs", "/ui/team"):
                driver.get(server.base_url + path)
                assert "Team one" not in driver.page_source
                assert (
                    wid not in driver.page_source
                    and run["run_id"] not in driver.page_source
                )
            for path in (
                f"/ui/workflows/{wid}",
                f"/ui/runs/{run['run_id']}",
                f"/ui/workflows/{wid}/play",
            ):
                driver.get(server.base_url + path)
                assert "not found" in driver.page_source.lower()
                assert "Team one" not in driver.page_source
        with chromium() as driver:
            sign_in(driver, server.base_url, server.key)
            for path in (
                "/ui/workflows",
                f"/ui/workflows/{wid}",
                "/ui/runs",
                f"/ui/runs/{run['run_id']}",
                f"/ui/workflows/{wid}/play",
                "/ui/team",
            ):
                driver.get(server.base_url + path)
                assert (
                    "Team one" in driver.page_source
                    or path in ("/ui/team",)
                    or "runs" in path
                )
                assert secret not in driver.page_source, path

"""The ``threadline`` command: migrate and API key management."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from threadline.cli.main import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("THREADLINE_DATABASE_URL", f"sqlite:///{db}")
    return db


def test_migrate_creates_the_database(env: Path):
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert env.exists()


def test_a_key_is_created_listed_without_its_value_and_revoked(env: Path):
    runner = CliRunner()
    team = "aaaaaaaaaaaaaaaaaaaaaaaa"
    created = runner.invoke(
        app, ["api-key", "create", "--team-id", team, "--user-id", "u1", "--name", "ci"]
    )
    assert created.exit_code == 0, created.output
    key_id = created.output.split()[0].removeprefix("id=")
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("tl_")
    listed = runner.invoke(app, ["api-key", "list", "--team-id", team])
    assert key_id in listed.output and "active" in listed.output
    assert secret not in listed.output
    revoked = runner.invoke(app, ["api-key", "revoke", key_id])
    assert revoked.exit_code == 0
    assert "revoked" in runner.invoke(app, ["api-key", "list"]).output


def test_bad_input_is_reported_without_a_traceback(env: Path):
    runner = CliRunner()
    bad_team = runner.invoke(
        app, ["api-key", "create", "--team-id", "nope", "--user-id", "u"]
    )
    assert bad_team.exit_code == 2
    assert "team_id" in bad_team.output
    missing = runner.invoke(app, ["api-key", "revoke", "000000000000000000000000"])
    assert missing.exit_code == 2
    assert "no active API key" in missing.output


def test_serve_prints_a_development_key_once_on_an_empty_database(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    runner = CliRunner()
    first = runner.invoke(app, ["serve", "--port", "8790"])
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8790/ui/" in first.output
    secret = next(w for w in first.output.split() if w.startswith("tl_"))
    listed = runner.invoke(app, ["api-key", "list"]).output
    assert "000000000000000000000001" in listed and secret not in listed
    again = runner.invoke(app, ["serve", "--port", "8790"])
    assert again.exit_code == 0 and "tl_" not in again.output


def test_no_development_key_when_turned_off_or_keys_exist(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)
    runner = CliRunner()
    monkeypatch.setenv("THREADLINE_CONSOLE_DEV_KEY", "0")
    assert "tl_" not in runner.invoke(app, ["serve"]).output
    monkeypatch.delenv("THREADLINE_CONSOLE_DEV_KEY")
    monkeypatch.setenv("THREADLINE_BOOTSTRAP_API_KEY", "tl_given")
    assert "First run" not in runner.invoke(app, ["serve"]).output
    monkeypatch.delenv("THREADLINE_BOOTSTRAP_API_KEY")
    runner.invoke(app, ["api-key", "create", "--team-id", "a" * 24, "--user-id", "u"])
    assert "tl_" not in runner.invoke(app, ["serve"]).output


def test_serve_uses_httptools_and_uvloop_unless_told_otherwise(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    import uvicorn

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    monkeypatch.setenv("THREADLINE_CONSOLE_DEV_KEY", "0")
    runner = CliRunner()
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert (calls[-1]["http"], calls[-1]["loop"]) == ("httptools", "uvloop")
    fallback = runner.invoke(app, ["serve", "--http", "h11", "--loop", "asyncio"])
    assert fallback.exit_code == 0
    assert (calls[-1]["http"], calls[-1]["loop"]) == ("h11", "asyncio")
    assert runner.invoke(app, ["serve", "--http", "nope"]).exit_code == 2


def test_serve_falls_back_to_h11_and_asyncio_when_not_installed(
    monkeypatch: pytest.MonkeyPatch,
):
    from threadline.cli import main

    monkeypatch.setattr(main, "_installed", lambda module: False)
    assert main.server_http(main.HttpParser.auto) == "h11"
    assert main.server_loop(main.EventLoop.auto) == "asyncio"


def test_the_worker_loop_is_uvloop_when_installed_else_asyncios(
    monkeypatch: pytest.MonkeyPatch,
):
    import asyncio

    import uvloop

    from threadline.cli import main

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert main.run_on_loop(loop_type()) is uvloop.Loop
    monkeypatch.setattr(main, "_installed", lambda module: False)
    assert main.run_on_loop(loop_type()) is not uvloop.Loop
    assert main.loop_name() == "asyncio"


def test_the_worker_freezes_its_start_up_heap_once_running(
    env: Path, monkeypatch: pytest.MonkeyPatch
):
    import os
    import signal
    import threading

    from threadline.api import app as api_app

    frozen: list[bool] = []

    def freeze_then_stop() -> None:  # the real one would freeze this test process
        frozen.append(True)
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's own stop signal

    monkeypatch.setattr(api_app, "freeze_heap", freeze_then_stop)
    # A worker that never freezes would wait for its signal forever.
    late = threading.Timer(30, os.kill, (os.getpid(), signal.SIGTERM))
    late.start()
    try:
        result = CliRunner().invoke(app, ["worker"])
    finally:
        late.cancel()
    assert result.exit_code == 0, result.output
    assert "running" in result.output
    assert frozen == [True]

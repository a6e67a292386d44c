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

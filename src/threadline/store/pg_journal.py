"""A turn's step journal written in one statement on PostgreSQL.

Journaling a step is a unit of its own: the fence (the command's ``updated_at``,
only while this worker owns it), the steps, and a look for a pending interrupt.
As separate statements in a transaction that is ``BEGIN``, three statements and
``COMMIT``; here it is one statement sent alone, which PostgreSQL runs as its own
transaction: its ``INSERT`` takes effect only with the fence's ``UPDATE`` (it
inserts nothing when that matched no row) and the whole commits or fails as one.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect

from threadline.store import schema
from threadline.store.base import Command
from threadline.store.pg_prepared import PgConnection

JsonDict = dict[str, Any]

_SQL = """\
WITH owned AS (
    UPDATE run_commands SET updated_at = $1
    WHERE run_commands.id = $2 AND run_commands.worker_id = $3
    RETURNING run_commands.id
), added AS (
    INSERT INTO run_steps (command_id, seq, team_id, body, created_at)
    SELECT $2, $4::integer + step.n::integer - 1, $5, step.body::json, $1
    FROM unnest($6::text[]) WITH ORDINALITY AS step(body, n)
    WHERE EXISTS (SELECT 1 FROM owned)
)
SELECT EXISTS (SELECT 1 FROM owned) AS owned,
    EXISTS (
        SELECT 1 FROM run_commands
        WHERE run_commands.run_id = $7 AND run_commands.status = 'pending'
            AND run_commands.interrupt
    ) AS interrupt"""


async def journal(
    pg: PgConnection,
    dialect: Dialect,
    command: Command,
    worker_id: str,
    first_seq: int,
    bodies: list[JsonDict],
    at: datetime,
) -> tuple[bool, bool]:
    """Whether ``worker_id`` still owns ``command`` (else nothing is written), and
    whether a pending command of its run asks for an interrupt."""
    body = schema.run_steps.c.body.type._cached_bind_processor(dialect)
    texts = [body(b) for b in bodies] if body is not None else bodies
    args = (at, command.id, worker_id, first_seq, command.team_id, texts)
    rows = await pg.fetch_alone(_SQL, (*args, command.run_id))
    row = rows[0]
    return bool(row["owned"]), bool(row["owned"] and row["interrupt"])

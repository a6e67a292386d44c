"""``GET /metrics``: the Prometheus text exposition (docs/telemetry.md).

Any valid API key authenticates it as a bearer token (Prometheus'
``authorization`` setting); with ``THREADLINE_METRICS_PUBLIC=1`` none is needed.
The series are operator-level (every team): labels carry no team id unless
``THREADLINE_METRICS_PER_TEAM=1``.
"""

from typing import Annotated

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST

from threadline.api.deps import SettingsDep, StoreDep
from threadline.service import processes
from threadline.service.team import auth
from threadline.telemetry import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def scrape(
    store: StoreDep,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """The process's counters and the database-wide gauges."""
    if not settings.metrics_public:
        await auth.authenticate(store, authorization, None, None)
    gauges = await processes.read_gauges(store)
    return Response(metrics.render(gauges), media_type=CONTENT_TYPE_LATEST)

"""Integration-backed authentication reference."""

from threadline.config.base import WireModel


class IntegrationAuthConfig(WireModel):
    """Points at an integration whose OAuth token is injected as a bearer header."""

    integration_id: str | None = None

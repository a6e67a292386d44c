"""The say_static node."""

from typing import Literal

from threadline.config.condition import StaticMessagesConfig
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory


class SayStaticNodeConfig(BaseNodeConfig):
    """Emits one pre-written message; no LLM."""

    type: Literal["say_static"] = "say_static"
    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.STATIC_MESSAGE.value
    static_messages_config: StaticMessagesConfig | None = None

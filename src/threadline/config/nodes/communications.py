"""Communication and conversation nodes: send_sms, start/end_conversation."""

from typing import Literal

from threadline.config.llm import LLMOrGroupConfig
from threadline.config.nodes.base import BaseNodeConfig, NodeCategory
from threadline.config.prompt import PromptConfig


class SendSMSNodeConfig(BaseNodeConfig):
    """Sends an SMS (E.164 destination, templated message)."""

    type: Literal["send_sms"] = "send_sms"
    primary_category: str | None = NodeCategory.COMMUNICATIONS.value
    secondary_category: str | None = NodeCategory.SMS.value
    destination_phone_number: str | None = None
    message: str | None = None


class StartConversationNodeConfig(BaseNodeConfig):
    """Starts (outbound call) or polls a voice/text conversation."""

    type: Literal["start_conversation"] = "start_conversation"
    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.CONVERSATION.value
    is_voice_conversation: bool = False
    is_outbound_call: bool = True
    bearer_token: str | None = None
    assistant_number: str | None = None
    assistant_id: str | None = None
    user_number: str | None = None
    conversation_id: str | None = None
    polling_interval_seconds: int | None = 2


class EndConversationNodeConfig(BaseNodeConfig):
    """Ends the conversation, optionally post-processing the transcript."""

    type: Literal["end_conversation"] = "end_conversation"
    primary_category: str | None = NodeCategory.SYSTEM.value
    secondary_category: str | None = NodeCategory.CONVERSATION.value
    process_transcript_prompt: PromptConfig | None = None
    process_transcript_llms_config: LLMOrGroupConfig | None = None

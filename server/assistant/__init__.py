"""The booking assistant: book, move and cancel in plain words, through the same validated RPC path."""

from .conversation import ConversationStore
from .engine import RuleEngine, Turn
from .llm import LlmConfig, LlmEngine, LlmUnusable
from .service import AssistantService

__all__ = ["AssistantService", "ConversationStore", "LlmConfig", "LlmEngine", "LlmUnusable", "RuleEngine", "Turn"]

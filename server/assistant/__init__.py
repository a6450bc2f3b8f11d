"""The booking assistant: book, move and cancel in plain words, through the same validated RPC path.

The engine never touches the database. The server wires `assistant.message` like this::

    service = AssistantService(llm=LlmConfig(url, model) if configured else None)

    async def assistant_message(session, params):
        async def call(method, call_params):  # re-enters the dispatcher as the same session
            return await dispatch(session, method, call_params, source="assistant")
        return await service.handle(user=session.user, text=params["text"],
                                    conversation_id=params.get("conversation_id"), call=call,
                                    acting_for_patient_id=params.get("patient_id"))

`call` raises server.protocol.RpcError on errors; every rule (ownership, working hours, notice,
staff-only types, rate limits) therefore applies to the assistant exactly as to the user.
"""

from .conversation import ConversationStore
from .engine import RuleEngine, Turn
from .llm import LlmConfig, LlmEngine, LlmUnusable
from .service import AssistantService

__all__ = ["AssistantService", "ConversationStore", "LlmConfig", "LlmEngine", "LlmUnusable", "RuleEngine", "Turn"]

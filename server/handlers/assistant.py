"""`assistant.message`: the booking assistant, with exactly the rights of the signed-in user."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictStr

from ..protocol import Reason, RpcError
from .common import (
    Id,
    Params,
    _require,
    _retry_after,
)


class AssistantParams(Params):
    text: StrictStr = Field(min_length=1, max_length=2000)
    conversation_id: StrictStr | None = Field(default=None, max_length=100)
    patient_id: Id | None = None


async def assistant_message(app, session, p: AssistantParams) -> dict[str, Any]:
    ident = _require(session)
    if p.patient_id is not None and ident.role == "patient" and p.patient_id != ident.patient_id:
        raise RpcError.app(Reason.FORBIDDEN, "You can only book for yourself.")
    wait = await app.assistant_limiter.take(await app.db.pool(), ident.user_id)
    if wait > 0:
        raise RpcError.app(Reason.RATE_LIMITED, "You are sending messages too quickly. Please wait a moment.",
                           retry_after=_retry_after(wait))

    async def call(method: str, params: dict[str, Any]) -> Any:
        return await app.dispatch_internal(session, method, params, via_assistant=True)

    return await app.assistant.handle(user=ident.as_user(), text=p.text, conversation_id=p.conversation_id,
                                      call=call, acting_for_patient_id=p.patient_id)

"""`POST /api/v1/screen` as a lean route (`web/lean.py`): the hot path of the police–bank API.

Banks screen every counter transaction, so this route skips the framework's stack, which costs
more per call than the screening itself. It parses the body with `schemas.parse_screen`, which
answers exactly as the pydantic model does, then checks the credential, then calls
`service.screen` (index lookup, answer once the screening record is committed): the order the
FastAPI endpoint in `endpoints.py` checks them in. Nearly every call is a miss, answered with one
shared, pre-rendered body.
"""

from __future__ import annotations

from typing import Any

from quanzu.banks import service
from quanzu.banks.schemas import MISS, parse_screen
from quanzu.web.edge import machine_actor_of
from quanzu.web.lean import LeanRoute, json_bytes

PATH = "/api/v1/screen"
_MISS = json_bytes(MISS.model_dump(mode="json"))


class ScreenRoute(LeanRoute):
    async def answer(self, authorization: str, body: Any) -> tuple[int, bytes]:
        screen = parse_screen(body)
        actor = await machine_actor_of(self.st, authorization)
        answer = await service.screen(self.st.reader, self.st.rt, actor, screen)
        return 200, _MISS if answer is MISS else json_bytes(answer.model_dump(mode="json"))

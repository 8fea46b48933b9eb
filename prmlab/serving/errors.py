"""A request the server refuses: a 4xx status and a reason the client reads."""

from __future__ import annotations


class RequestError(Exception):
    """Refuse one request (never the server): `status` (400 unless said), a one-line reason
    and the request field it is about."""

    def __init__(self, message: str, *, status: int = 400, field: str | None = None):
        self.message, self.status, self.field = message, status, field
        super().__init__((f"{field}: " if field else "") + message)

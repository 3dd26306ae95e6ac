"""Signed links in digest emails: confirm (expiring), unsubscribe and manage, each bound to one subscription."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from broadsheet.digest.errors import BadToken

Purpose = Literal["confirm", "unsubscribe", "manage"]


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says: which subscription, the address it was issued for, and the nonce then."""

    subscription_id: int
    email: str
    nonce: str


class DigestTokens:
    """Makes and checks tokens; each purpose has its own salt so a token is valid for one purpose only."""

    def __init__(self, secret_key: str) -> None:
        self._secret_key = secret_key

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret_key, salt=f"broadsheet.digest.{purpose}")

    def make(self, purpose: Purpose, subscription_id: int, email: str, nonce: str) -> str:
        return str(self._serializer(purpose).dumps([subscription_id, email, nonce]))

    def read(self, purpose: Purpose, token: str, max_age_s: int | None = None) -> TokenClaims:
        """The claims of a token; BadToken when it is forged, altered, of another purpose or too old."""
        try:
            payload = self._serializer(purpose).loads(token, max_age=max_age_s)
        except SignatureExpired:
            raise BadToken("This link has expired. Subscribe again to get a new one.") from None
        except BadSignature:
            raise BadToken("This link is not valid. Check that it was copied whole.") from None
        if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], int)):
            raise BadToken("This link is not valid.")
        return TokenClaims(int(payload[0]), str(payload[1]), str(payload[2]))

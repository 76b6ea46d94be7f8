"""Signed unsubscribe links: a subscriber's id and an HMAC of it and the address, keyed by VEILLE_SECRET.

Nobody can unsubscribe someone else by guessing, and a link stays valid without any state kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from config.errors import VeilleError


def _signature(secret: str, subscriber_id: int, email: str) -> str:
    digest = hmac.new(secret.encode(), f"unsubscribe:{subscriber_id}:{email}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def unsubscribe_token(secret: str, subscriber_id: int, email: str) -> str:
    if not secret:
        raise VeilleError("VEILLE_SECRET (ou « secret » dans settings.yaml) manque : "
                          "les liens de désabonnement doivent être signés")
    return f"{subscriber_id}.{_signature(secret, subscriber_id, email)}"


def token_subscriber_id(token: str) -> int | None:
    """The subscriber id a token claims (to be checked with `token_is_valid`)."""
    head, _, _ = token.partition(".")
    return int(head) if head.isdigit() else None


def token_is_valid(secret: str, token: str, email: str) -> bool:
    subscriber_id = token_subscriber_id(token)
    if not secret or subscriber_id is None:
        return False
    return hmac.compare_digest(token, f"{subscriber_id}.{_signature(secret, subscriber_id, email)}")


def unsubscribe_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/-/unsubscribe/{token}"

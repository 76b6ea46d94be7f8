"""Each subscriber's letter: their copy of the bulletin, capped per section, with a signed unsubscribe link."""

from __future__ import annotations

from collections.abc import Callable
from email.utils import parseaddr

from newsletter.bulletin import Bulletin, capped, personalise, render_bulletin
from newsletter.send import Letter
from newsletter.subscribers import Subscriber
from newsletter.unsubscribe import unsubscribe_token, unsubscribe_url
from pipeline.places import Gazetteer, load_gazetteer
from config.schema import Settings
from config.errors import VeilleError


def letter_composer(bulletin: Bulletin, settings: Settings,
                    gazetteer: Gazetteer | None = None) -> Callable[[Subscriber], Letter]:
    """Refuses at once (before any message) when no secret can sign the unsubscribe links."""
    secret = settings.secret.get_secret_value()
    if not secret:
        raise VeilleError("VEILLE_SECRET (ou « secret » dans settings.yaml) manque : "
                          "les liens de désabonnement doivent être signés ; rien n'a été envoyé")
    labels = (gazetteer or load_gazetteer()).region_departements
    sender = parseaddr(settings.smtp.from_)[1]

    def compose(subscriber: Subscriber) -> Letter:
        token = unsubscribe_token(secret, subscriber.id, subscriber.email)
        url = unsubscribe_url(settings.public_url, token)
        copy = capped(personalise(bulletin, subscriber.departements, subscriber.themes, labels),
                      settings.bulletin.section_cap)
        copy.unsubscribe_url = url
        html, text = render_bulletin(copy)
        return Letter(subject=f"{bulletin.title} — {bulletin.period}", html=html, text=text, unsubscribe_url=url,
                      unsubscribe_mailto=f"mailto:{sender}?subject=unsubscribe%20{token}" if sender else None)

    return compose

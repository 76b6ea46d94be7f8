"""Each subscriber's letter: their copy of the bulletin, capped per section, with a signed unsubscribe link.

Every copy's HTML stays under `MAX_HTML_BYTES`: Gmail clips a message whose HTML passes 102 KB
(« Message tronqué ») and hides the end of the bulletin, the unsubscribe link with it. The markup is
lean enough for a full week at `settings.bulletin.section_cap` items a section; a copy that would
still pass the limit (an extreme week, a large cap) shows fewer items a section, then fewer
highlights and agenda entries, the rest counted as « de plus » in the online issue, until it fits.
`letter_composer` records those copies (`LetterComposer.shortened`) and logs a warning for each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from email.utils import parseaddr

from newsletter.bulletin import Bulletin, capped, personalise, render_bulletin
from newsletter.send import Letter
from newsletter.subscribers import Subscriber
from newsletter.unsubscribe import unsubscribe_token, unsubscribe_url
from pipeline.places import Gazetteer, load_gazetteer
from config.schema import Settings
from config.errors import VeilleError

MAX_HTML_BYTES = 100_000  # Gmail clips past 102 KB (decimal kilobytes, of the HTML part): a margin below it

log = logging.getLogger("veille.letters")

# Copies are fitted with the longest unsubscribe link a subscriber can have (id, dot, 24 characters
# of signature), so that one copy fits every subscriber of the same preferences.
_WIDEST_TOKEN = "9" * 12 + "." + "x" * 24


def html_bytes(html: str) -> int:
    """The size Gmail counts: the HTML part's bytes in UTF-8, before any transfer encoding."""
    return len(html.encode("utf-8"))


def _labels(gazetteer: Gazetteer | None) -> dict[str, str]:
    return (gazetteer or load_gazetteer()).region_departements


def _caps(bulletin: Bulletin, section_cap: int) -> list[tuple[int, int | None]]:
    """The (per-section cap, highlights and agenda cap) a copy may be shown with, from the fullest to
    the shortest: the setting's cap, then fewer items a section down to one, then fewer highlights
    and agenda entries down to none, then no section item at all (headings and « de plus » only)."""
    biggest = max((len(s.items) for s in bulletin.sections), default=0)
    section_caps = range(min(section_cap, max(biggest, 1)), 0, -1)
    others = max(len(bulletin.highlights), len(bulletin.agenda))
    return ([(n, None) for n in section_caps] + [(1, m) for m in range(others - 1, -1, -1)] + [(0, 0)])


def _fit(personal: Bulletin, section_cap: int, measured_with: str | None) -> tuple[Bulletin, str, str, bool]:
    """The fullest capping of `personal` whose HTML, rendered with the unsubscribe link
    `measured_with`, is at most MAX_HTML_BYTES: (copy without the link, html, text, whether it had to
    show less than `section_cap` allows)."""
    levels = _caps(personal, section_cap)

    def render(level: int) -> tuple[Bulletin, str, str, bool]:
        per_section, others = levels[level]
        copy = capped(personal, per_section, others, others)
        html, text = render_bulletin(replace(copy, unsubscribe_url=measured_with))
        return copy, html, text, level > 0

    fullest = render(0)
    if html_bytes(fullest[1]) <= MAX_HTML_BYTES:
        return fullest
    # The sizes shrink along `levels`: bisect for the fullest that fits (the last one, with no item
    # shown, always does unless a title of the configuration is absurdly long).
    low, high, best = 1, len(levels) - 1, None
    while low <= high:
        middle = (low + high) // 2
        attempt = render(middle)
        if html_bytes(attempt[1]) <= MAX_HTML_BYTES:
            best, high = attempt, middle - 1
        else:
            low = middle + 1
    return best or render(len(levels) - 1)


def _widest_url(settings: Settings) -> str:
    return unsubscribe_url(settings.public_url, _WIDEST_TOKEN)


def _fitted(personal: Bulletin, settings: Settings, url: str | None) -> tuple[Bulletin, str, str, bool]:
    """The copy `subscriber_copy` gives for `personal`, rendered with the unsubscribe link `url`:
    (copy, html, text, whether it was shortened below the cap). One render when the copy fits with
    the widest link (the usual case), more only to shorten it."""
    cap, widest = settings.bulletin.section_cap, _widest_url(settings)
    if url is not None and len(url) <= len(widest):
        copy = capped(personal, cap)
        html, text = render_bulletin(replace(copy, unsubscribe_url=url))
        if html_bytes(html) + len(widest) - len(url) <= MAX_HTML_BYTES:  # it fits with the widest link too
            return copy, html, text, False
    copy, html, text, shortened = _fit(personal, cap, widest)
    if url != widest:
        html, text = render_bulletin(replace(copy, unsubscribe_url=url))
    return copy, html, text, shortened


def subscriber_copy(bulletin: Bulletin, settings: Settings, departements: list[str], themes: list[str],
                    gazetteer: Gazetteer | None = None) -> Bulletin:
    """Exactly the copy a subscriber with these preferences receives (without their unsubscribe
    link): their items, at most `section_cap` a section, shortened further if it would not fit."""
    personal = personalise(bulletin, list(departements), list(themes), _labels(gazetteer))
    return _fit(personal, settings.bulletin.section_cap, _widest_url(settings))[0]


def render_copy(bulletin: Bulletin, settings: Settings, departements: Iterable[str] = (), themes: Iterable[str] = (),
                gazetteer: Gazetteer | None = None, unsubscribe_url: str | None = None) -> tuple[str, str]:
    """(HTML, text) of that copy as e-mailed, with `unsubscribe_url` when given."""
    personal = personalise(bulletin, list(departements), list(themes), _labels(gazetteer))
    return _fitted(personal, settings, unsubscribe_url)[1:3]


def largest_copy(bulletin: Bulletin, settings: Settings, profiles: Iterable[tuple[list[str], list[str]]],
                 gazetteer: Gazetteer | None = None) -> tuple[int, tuple[list[str], list[str]]]:
    """(bytes, profile) of the largest HTML copy among the (départements, themes) `profiles` and the
    no-preference one, each measured as e-mailed with the longest unsubscribe link."""
    labels, widest = _labels(gazetteer), _widest_url(settings)
    sizes = []
    for departements, themes in [([], [])] + [(list(d), list(t)) for d, t in profiles]:
        personal = personalise(bulletin, departements, themes, labels)
        sizes.append((html_bytes(_fit(personal, settings.bulletin.section_cap, widest)[1]), (departements, themes)))
    return max(sizes, key=lambda size: size[0])


class LetterComposer:
    """`compose(subscriber)` → their Letter. `shortened` maps the address of each subscriber whose
    copy had to show less than the setting's cap allows to the number of articles it moved online
    for that reason (agenda entries apart)."""

    def __init__(self, bulletin: Bulletin, settings: Settings, gazetteer: Gazetteer | None = None):
        self.secret = settings.secret.get_secret_value()
        if not self.secret:
            raise VeilleError("VEILLE_SECRET (ou « secret » dans settings.yaml) manque : "
                              "les liens de désabonnement doivent être signés ; rien n'a été envoyé")
        self.bulletin, self.settings = bulletin, settings
        self.labels = _labels(gazetteer)
        self.sender = parseaddr(settings.smtp.from_)[1]
        self.shortened: dict[str, int] = {}

    def __call__(self, subscriber: Subscriber) -> Letter:
        token = unsubscribe_token(self.secret, subscriber.id, subscriber.email)
        url = unsubscribe_url(self.settings.public_url, token)
        personal = personalise(self.bulletin, subscriber.departements, subscriber.themes, self.labels)
        cap = self.settings.bulletin.section_cap
        copy, html, text, shortened = _fitted(personal, self.settings, url)
        if html_bytes(html) > MAX_HTML_BYTES:  # a link longer than the widest token: never with ours
            copy, html, text, shortened = _fit(personal, cap, url)
        if shortened:
            moved = _articles_online(copy) - _articles_online(capped(personal, cap))
            self.shortened[subscriber.email] = moved
            log.warning("bulletin %s : copie de %s raccourcie pour rester sous %d octets (%d article(s) de plus en ligne)",
                        self.bulletin.week, subscriber.email, MAX_HTML_BYTES, moved)
        return Letter(subject=f"{self.bulletin.title} — {self.bulletin.period}", html=html, text=text,
                      unsubscribe_url=url,
                      unsubscribe_mailto=f"mailto:{self.sender}?subject=unsubscribe%20{token}" if self.sender else None)


def _articles_online(copy: Bulletin) -> int:
    """Articles of a copy left to the online issue."""
    return copy.highlights_more + sum(s.more for s in copy.sections)


def letter_composer(bulletin: Bulletin, settings: Settings,
                    gazetteer: Gazetteer | None = None) -> Callable[[Subscriber], Letter]:
    """Refuses at once (before any message) when no secret can sign the unsubscribe links; the
    composer's `shortened` tells, after the run, which copies had to be shortened to fit."""
    return LetterComposer(bulletin, settings, gazetteer)

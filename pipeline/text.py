"""Pure text helpers: HTML fragments to plain text, content fingerprints, summaries, folding."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from bs4 import BeautifulSoup

from pipeline import folding

_BLOCKS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "section")
_SPACES = re.compile(r"[ \t\u00a0\u202f]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def html_to_text(fragment: str | None) -> str:
    """Readable plain text of an HTML fragment (feed summaries, titles): paragraphs kept,
    scripts and styles dropped, entities decoded, whitespace tidied."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return _tidy(fragment)
    soup = BeautifulSoup(fragment, "lxml")
    for tag in soup(["script", "style", "noscript", "iframe", "object", "embed", "template"]):
        tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n" if tag.name != "br" else "\n")
    return _tidy(soup.get_text())


def _tidy(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def content_hash(title: str, text: str) -> str:
    """Fingerprint of an article's words, blind to case, spacing and punctuation."""
    words = re.findall(r"\w+", f"{title}\n{text}".casefold())
    return hashlib.sha1(" ".join(words).encode("utf-8")).hexdigest()


# Folding and matching text (accents, case, typography): pipeline/folding.py, the one implementation,
# re-exported here where the rest of the text helpers live.
fold, match_text, word_key = folding.fold, folding.match_text, folding.word_key


SUMMARY_MAX_CHARS = 320


def summarize(text: str, max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """The first two or three sentences of a text, cut at a sentence end when possible."""
    text = " ".join((text or "").split())
    sentences = re.split(r"(?<=[.!?…»])\s+(?=[A-ZÀ-ÖØ-Þ«])", text)
    summary = ""
    for sentence in sentences[:3]:
        if summary and len(summary) + len(sentence) + 1 > max_chars:
            break
        summary = f"{summary} {sentence}".strip()
    if len(summary) > max_chars:
        summary = summary[:max_chars].rsplit(" ", 1)[0] + " …"
    return summary

"""Pure text helpers: HTML fragments to plain text, content fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from bs4 import BeautifulSoup

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


def _fold_table() -> dict[int, str]:
    table = {}
    for code in range(0x41, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0].lower()
        if len(base) == 1 and base.isascii() and base != char:
            table[code] = base
    for char in "’‘ʼ`´":
        table[ord(char)] = "'"
    for char in "‐‑‒–—―":
        table[ord(char)] = "-"
    for char in "\u00a0\u202f\t\n\r":
        table[ord(char)] = " "
    table.update({ord("Œ"): "œ", ord("Æ"): "æ"})
    return table


def _as_sequence(table: dict[int, str], size: int = 0x2100) -> str:
    """A translate table as one string indexed by code point: much faster than a dict for str.translate
    (code points beyond it raise IndexError, a LookupError: str.translate leaves them as they are)."""
    return "".join(table.get(code, chr(code)) for code in range(size))


_FOLD = _as_sequence(_fold_table())


def fold(text: str) -> str:
    """Lower case without accents, apostrophes and dashes unified, one space for any blank;
    the same length as `text`, so that an offset in the folded text points into the original."""
    return text.translate(_FOLD)


# Matching text: folded, and every character that is neither a letter, a digit nor a hyphen made a
# space; keys are written between two spaces, so an Aho-Corasick automaton only finds whole words,
# and a hyphen glues ("Vienne" is not found in "Haute-Vienne"). One space is added on each side:
# an offset in the matching text minus one is an offset in the original.
_WORDS = "".join(c if c.isalnum() or c == "-" else " " for c in _FOLD)


def match_text(text: str) -> str:
    return f" {text.translate(_WORDS)} "


def word_key(words: str, prefix: bool = False) -> str:
    """The automaton key of a word or phrase: " mot " (or " mot" for a prefix)."""
    key = " " + " ".join(fold(words).translate(_WORDS).split())
    return key if prefix else key + " "


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

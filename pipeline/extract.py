"""Article pages to article data: pure functions over bytes and text, no network.

- `decode_html`: bytes to text whatever the charset: declared, undeclared or wrongly declared
  (a Latin-1 header on a UTF-8 page, a UTF-8 header on a Windows-1252 page): no mojibake.
- `extract_article`: main text (trafilatura, without navigation, menus, footers or comments),
  title, publication date (page metadata, then French dates such as « Publié le 24 novembre 2025 »),
  language, author, canonical URL;
- `extract_pdf`: the text of a PDF (public bodies publish reports and calls as PDF), with pypdf.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

import trafilatura
from charset_normalizer import from_bytes
from lxml import html as lxml_html

from config.dates import FOLDED_WEEKDAYS, MONTH_NUMBERS
from pipeline.text import html_to_text

MAX_HTML_CHARS = 3_000_000  # trafilatura has no timeout: huge pages are cut before extraction

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_WESTERN = {"latin-1", "iso8859-1", "cp1252", "iso8859-15", "ascii"}


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def declared_encoding(body: bytes, content_type: str | None = None) -> str | None:
    """The charset the server or the page claims (header first, then <meta>), if Python knows it."""
    if content_type:
        match = re.search(r"charset\s*=\s*([^\s;]+)", content_type, re.I)
        if match and _codec(match[1]):
            return _codec(match[1])
    match = _META_CHARSET.search(body[:4096])
    return _codec(match[1].decode("ascii", "ignore")) if match else None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(encoding, errors="replace").lstrip("\ufeff")
    declared = declared_encoding(body, content_type)
    is_utf8 = _strict(body, "utf-8")
    if is_utf8 is not None and (declared in (None, "utf-8") or declared in _WESTERN):
        # Valid UTF-8 with non-ASCII bytes is almost never Latin-1 text: trust the bytes.
        return is_utf8
    if declared and declared not in ("utf-8",) and declared not in _WESTERN:
        text = _strict(body, declared)
        if text is not None:
            return text
        guess = from_bytes(body).best()
        if guess is not None:
            return str(guess)
    # Declared or undeclared Western page, or "UTF-8" that is not: Windows-1252 covers Latin-1.
    return _strict(body, "cp1252") or body.decode("latin-1")


def _strict(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


# ------------------------------------------------------------------- dates

_MONTH = "|".join(sorted(MONTH_NUMBERS, key=len, reverse=True))
_TIME = r"(?:\s*(?:à|a|,|-)?\s*(?P<hour>\d{1,2})\s*(?:h|:)\s*(?P<minute>\d{2})?)?"
_WORDS_DATE = rf"(?P<day>\d{{1,2}}|1er)\s+(?P<month>{_MONTH})\.?\s+(?P<year>\d{{4}})"
_NUMERIC_DATE = r"(?P<nday>\d{1,2})[/.-](?P<nmonth>\d{1,2})[/.-](?P<nyear>\d{4})"
_PUBLISHED = re.compile(
    rf"(?P<label>publi[ée]e?|mis\s+en\s+ligne|date\s+de\s+publication|mis\s+[àa]\s+jour|modifi[ée]e?)"
    rf"\s*(?:le|:)?\s*(?:(?:{'|'.join(FOLDED_WEEKDAYS)})\s+)?"
    rf"(?:{_WORDS_DATE}|{_NUMERIC_DATE}){_TIME}",
    re.I,
)


def french_date_in_text(text: str, tz: tzinfo) -> str | None:
    """ISO 8601 date of « Publié le 24 novembre 2025 à 10h30 », « mis en ligne le 1er sept. 2024 »,
    « Publié le 03/04/2024 »… A publication date wins over an update date; local time in `tz`."""
    found: dict[str, datetime] = {}
    for match in _PUBLISHED.finditer(text[:20000]):
        kind = "updated" if match["label"].lower().startswith(("mis à", "mis a", "modifi")) else "published"
        if kind in found:
            continue
        try:
            if match["day"]:
                day = 1 if match["day"] == "1er" else int(match["day"])
                month, year = MONTH_NUMBERS[match["month"].lower()], int(match["year"])
            else:
                day, month, year = int(match["nday"]), int(match["nmonth"]), int(match["nyear"])
            hour = int(match["hour"]) if match["hour"] else 0
            minute = int(match["minute"]) if match["minute"] else 0
            found[kind] = datetime(year, month, day, hour if hour < 24 else 0, minute if minute < 60 else 0,
                                   tzinfo=tz)
        except (ValueError, KeyError):
            continue
    moment = found.get("published") or found.get("updated")
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds") if moment else None


def _iso(value: str | None, tz: tzinfo) -> str | None:
    """A metadata date or datetime as ISO 8601 UTC (a date or time without offset is local in `tz`)."""
    if not value:
        return None
    value = value.strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        match = re.match(r"\d{4}-\d{2}-\d{2}", value)
        if not match:
            return None
        moment = datetime.fromisoformat(match[0])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if not 1990 <= moment.year <= 2100:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


_DATE_META = ("article:published_time", "og:published_time", "datePublished", "date", "dc.date",
              "dc.date.issued", "dcterms.created", "pubdate", "publishdate")


def _metadata_date(tree, tz: tzinfo) -> str | None:
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in (k.lower() for k in _DATE_META):
            iso = _iso(meta.get("content"), tz)
            if iso:
                return iso
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        for node in data if isinstance(data, list) else data.get("@graph", [data]) if isinstance(data, dict) else []:
            if isinstance(node, dict) and _iso(node.get("datePublished"), tz):
                return _iso(node.get("datePublished"), tz)
    for time_tag in tree.xpath("//article//time[@datetime] | //time[@pubdate]"):
        iso = _iso(time_tag.get("datetime"), tz)
        if iso:
            return iso
    return None


# --------------------------------------------------------------- extraction


@dataclass
class ExtractedArticle:
    title: str
    text: str
    published_at: str | None
    author: str | None
    lang: str | None
    canonical_url: str | None  # as declared by the page (rel=canonical, then og:url), not checked


def extract_article(page: str, url: str, tz: tzinfo) -> ExtractedArticle:
    """Main content and metadata of an HTML page (already decoded); dates written without an offset
    are local time in `tz` (the sources' time zone, the settings' `timezone`)."""
    page = page[:MAX_HTML_CHARS]
    try:
        tree = lxml_html.document_fromstring(page)
    except (ValueError, lxml_html.etree.ParserError):
        return ExtractedArticle("", html_to_text(page), None, None, None, None)
    canonical = next(iter(tree.xpath('//link[@rel="canonical"]/@href')), None) or next(
        iter(tree.xpath('//meta[@property="og:url"]/@content')), None)
    lang = (tree.get("lang") or "").split("-")[0].lower() or None
    published = _metadata_date(tree, tz)
    page_title = next(iter(tree.xpath("//title/text()")), "") or ""
    if not published:
        published = french_date_in_text(tree.text_content(), tz)
    # trafilatura prunes the tree it is given: it gets its own parse of the page.
    document = trafilatura.bare_extraction(
        page, url=url, include_comments=False, include_tables=True, with_metadata=True,
        date_extraction_params={"original_date": True, "extensive_search": False},
    )
    title = (document.title if document else None) or page_title
    text = _drop_leading_title((document.text if document else "") or "", title)
    return ExtractedArticle(
        title=" ".join(title.split()),
        text=text.strip(),
        published_at=published or _iso(document.date if document else None, tz),
        author=(document.author if document else None) or None,
        lang=lang or (document.language if document else None),
        canonical_url=canonical.strip() if canonical else None,
    )


_DATE_LABEL_LINE = re.compile(r"^\s*(publi[ée]e?|mis\s+en\s+ligne|mis\s+[àa]\s+jour|date\s+de\s+publication)\b",
                              re.I)


def _drop_leading_title(text: str, title: str) -> str:
    """Drop the title repeated as the first line, and a short « Publié le … » line near the top
    (the date is metadata, not the article's first sentence)."""
    lines = text.split("\n")
    if lines and title and lines[0].strip() == title.strip():
        lines = lines[1:]
    head = [line for line in lines[:3] if not (_DATE_LABEL_LINE.match(line) and len(line) < 80)]
    return "\n".join(head + lines[3:]).strip()


MAX_PDF_PAGES = 30


class UnreadableDocument(ValueError):
    """A document that cannot be read (message in French, for page_errors)."""


def extract_pdf(body: bytes) -> ExtractedArticle:
    """Title (metadata) and text of the first MAX_PDF_PAGES pages of a PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PDF_PAGES]]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as e:
        raise UnreadableDocument(f"PDF illisible ({type(e).__name__})") from None
    text = "\n\n".join(" ".join(page.split()) for page in pages if page.strip())
    if not text:
        raise UnreadableDocument("PDF sans texte (image scannée ?)")
    return ExtractedArticle(title=" ".join(str(title).split()), text=text, published_at=None, author=None,
                            lang=None, canonical_url=None)

"""Feed parsing as a pure function, and robustness on feedparser's own corpus of odd feeds."""

from __future__ import annotations

import pytest

from crawlers.feeds import FeedError, parse_feed
from tests.corpora import CORPUS_MISSING, FEEDPARSER_CORPUS as CORPUS

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title>
<item><title>Un &lt;b&gt;PLIE&lt;/b&gt; à Bordeaux</title>
<link>/actus/plie.html?utm_source=rss</link>
<description>&lt;p&gt;Premier paragraphe.&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;p&gt;Second.&lt;/p&gt;</description>
<pubDate>Tue, 24 Nov 2026 10:00:00 +0100</pubDate><author>redaction@example.org (La rédaction)</author></item>
<item><title>Sans lien</title></item>
</channel></rss>"""


def test_rss_item_becomes_an_article():
    (article,) = parse_feed(RSS.encode(), "https://example.org/feed.xml", "src")
    assert article.raw_url == "https://example.org/actus/plie.html?utm_source=rss"  # relative link resolved
    assert article.title == "Un PLIE à Bordeaux"
    assert article.text == "Premier paragraphe.\n\nSecond." and "alert" not in article.text
    assert article.published_at == "2026-11-24T09:00:00+00:00"
    assert article.source_id == "src"


def test_atom_entry_with_content():
    atom = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <entry><title>Forum</title><link href="https://example.org/forum"/><updated>2026-11-20T08:00:00Z</updated>
    <summary>Court.</summary><content type="html">&lt;p&gt;Texte complet du forum.&lt;/p&gt;</content></entry></feed>"""
    (article,) = parse_feed(atom.encode(), "https://example.org/atom", "src")
    assert (article.summary, article.text) == ("Court.", "Texte complet du forum.")
    assert article.published_at == "2026-11-20T08:00:00+00:00"


def test_latin1_feed_is_decoded():
    body = ('<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>x</title>'
            '<item><title>Guéret : chantier d\'insertion</title><link>https://example.org/a</link></item>'
            "</channel></rss>").encode("latin-1")
    (article,) = parse_feed(body, "https://example.org/feed", "src")
    assert article.title == "Guéret : chantier d'insertion"


@pytest.mark.parametrize("body", [b"", b"<html><body><h1>Accueil</h1></body></html>", b"\x00\xff\xfe garbage"])
def test_not_a_feed_is_an_error(body):
    with pytest.raises(FeedError):
        parse_feed(body, "https://example.org/feed", "src", "text/html")


def test_empty_valid_feed_is_not_an_error():
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Vide</title></channel></rss>'
    assert parse_feed(body, "https://example.org/feed", "src") == []


@pytest.mark.skipif(CORPUS is None, reason=CORPUS_MISSING)
def test_every_corpus_feed_yields_articles_or_a_feed_error():
    files = sorted(CORPUS.rglob("*.xml"))
    assert len(files) > 1000
    outcomes = {"articles": 0, "empty": 0, "error": 0}
    for path in files:
        try:
            articles = parse_feed(path.read_bytes(), f"http://example.org/{path.name}", "corpus")
        except FeedError:
            outcomes["error"] += 1
            continue
        for article in articles:
            assert isinstance(article.raw_url, str) and article.raw_url
            assert "<script" not in article.title.lower() and "<script" not in article.text.lower()
        outcomes["articles" if articles else "empty"] += 1
    # Most corpus files test feed-level elements and have no entry with a link: a valid, empty feed.
    assert outcomes["articles"] >= 80 and outcomes["error"] >= 10, outcomes

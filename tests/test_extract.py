"""Extraction as pure functions: charsets, French dates, main text and metadata."""

from __future__ import annotations

import pytest

from zoneinfo import ZoneInfo

from pipeline.extract import decode_html, extract_article, french_date_in_text
from pipeline.text import content_hash, html_to_text
from pipeline.urls import canonical_url

PARIS = ZoneInfo("Europe/Paris")
TEXT = "Guéret : « l'œuvre » coûte 5 € – déjà"


@pytest.mark.parametrize("body, content_type", [
    (TEXT.encode("utf-8"), "text/html; charset=utf-8"),
    (TEXT.encode("utf-8"), "text/html; charset=iso-8859-1"),      # UTF-8 served as Latin-1
    (TEXT.encode("cp1252"), "text/html; charset=utf-8"),          # Windows-1252 served as UTF-8
    (TEXT.encode("cp1252"), "text/html"),                         # undeclared
    (TEXT.encode("cp1252"), "text/html; charset=windows-1252"),
    (f'<meta charset="windows-1252">{TEXT}'.encode("cp1252"), None),
    (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "text/html; charset=iso-8859-1"),  # BOM wins
    (TEXT.encode("utf-8"), "text/html; charset=no-such-charset"),
])
def test_decode_html_never_gives_mojibake(body, content_type):
    assert TEXT in decode_html(body, content_type)


def test_decode_other_declared_charset():
    text = "Привет, мир"
    assert decode_html(text.encode("koi8-r"), "text/html; charset=koi8-r") == text


@pytest.mark.parametrize("text, expected", [
    ("Publié le 24 novembre 2025", "2025-11-23T23:00:00+00:00"),
    ("publié le 24 novembre 2025 à 10h30", "2025-11-24T09:30:00+00:00"),
    ("Mis en ligne le 1er sept. 2024", "2024-08-31T22:00:00+00:00"),
    ("Publié le mardi 3 juin 2025, 14:05", "2025-06-03T12:05:00+00:00"),
    ("Mis à jour le 03/04/2024", "2024-04-02T22:00:00+00:00"),
    ("Mis à jour le 03/04/2024 — Publié le 01/02/2024", "2024-01-31T23:00:00+00:00"),  # publication wins
    ("Date de publication : 15 févr. 2026", "2026-02-14T23:00:00+00:00"),
    ("Le forum aura lieu le 4 décembre 2026.", None),  # an event date is not a publication date
    ("Publié le 31 février 2026", None),
])
def test_french_dates(text, expected):
    assert french_date_in_text(text, PARIS) == expected


PAGE = """<!doctype html><html lang="fr-FR"><head><meta charset="utf-8">
<title>Forum emploi | Ville de Niort</title>
<link rel="canonical" href="https://www.niort.example/actualites/forum-emploi">
<meta name="author" content="Service communication">
</head><body>
<header><nav><ul><li><a href="/">Accueil</a></li><li><a href="/demarches">Démarches</a></li></ul></nav></header>
<main><article><h1>Forum de l'emploi à Niort</h1>
<p class="date">Publié le 12 mars 2026</p>
<p>La Ville de Niort et France Travail organisent le 2 avril un forum de l'emploi au parc des expositions.
Quarante employeurs du territoire y proposeront plus de trois cents postes dans l'industrie, le commerce et
les services à la personne.</p>
<p>Les candidats pourront aussi rencontrer la mission locale et les structures d'insertion par l'activité
économique du Niortais. Un espace sera consacré aux jeunes en contrat d'engagement jeune.</p>
</article></main>
<footer><p>Mentions légales — Plan du site — Cookies</p></footer>
<div class="comments"><h3>Commentaires</h3><p>Super initiative ! (commentaire d'un lecteur)</p></div>
</body></html>"""


def test_extract_article_main_text_and_metadata():
    article = extract_article(PAGE, "https://www.niort.example/actualites/forum-emploi?utm_source=x", PARIS)
    assert article.title in ("Forum de l'emploi à Niort", "Forum emploi | Ville de Niort")
    assert article.text.startswith("La Ville de Niort et France Travail")
    assert "contrat d'engagement jeune" in article.text
    for noise in ("Accueil", "Démarches", "Mentions légales", "commentaire d'un lecteur", "Publié le"):
        assert noise not in article.text
    assert article.published_at == "2026-03-11T23:00:00+00:00"
    assert article.lang == "fr" and article.author == "Service communication"
    assert article.canonical_url == "https://www.niort.example/actualites/forum-emploi"


def test_extract_prefers_metadata_dates():
    page = PAGE.replace('<meta name="author"', '<meta property="article:published_time" '
                        'content="2026-03-10T08:15:00+01:00"><meta name="author"')
    assert extract_article(page, "https://x.example/", PARIS).published_at == "2026-03-10T07:15:00+00:00"


def test_extract_garbage_does_not_raise():
    for page in ("", "<<<>>>", "plain text only", "<html><body></body></html>"):
        article = extract_article(page, "https://x.example/", PARIS)
        assert isinstance(article.text, str)


def test_canonical_urls():
    assert canonical_url("HTTPS://WWW.Example.ORG/a/B.html?utm_source=rss&id=3&fbclid=x&xtor=RSS-1#top") == \
        "https://www.example.org/a/B.html?id=3"
    assert canonical_url("http://example.org/p?b=2&a=1") == "http://example.org/p?a=1&b=2"
    # a key without a value identifies a SPIP article: kept (tests/test_urls.py has every CMS form)
    assert canonical_url("http://example.org/spip.php?article101&utm_source=rss") == \
        "http://example.org/spip.php?article101"
    for bad in ("javascript:alert(1)", "mailto:a@b.fr", "/relative", "ftp://example.org/x"):
        with pytest.raises(ValueError):
            canonical_url(bad)


def test_html_to_text_and_content_hash():
    assert html_to_text("<p>Un</p><script>x()</script><p>Deux&nbsp;mots</p>") == "Un\n\nDeux mots"
    assert content_hash("Titre", "Le  TEXTE, ici.") == content_hash("titre", "le texte ici")
    assert content_hash("Titre", "Un texte") != content_hash("Titre", "Un autre texte")

"""Canonical URLs: what identifies a page is kept (the URL forms of the CMSs French public bodies
and newspapers run), only known noise is dropped."""

from __future__ import annotations

import pytest

from pipeline.urls import canonical_url, is_noise_key, is_web_url


@pytest.mark.parametrize("url, expected", [
    # SPIP: a key without a value names the article; id_article / page forms too
    ("https://www.mission-locale.example/spip.php?article101", "https://www.mission-locale.example/spip.php?article101"),
    ("https://www.mission-locale.example/spip.php?article101&utm_source=rss&utm_medium=flux",
     "https://www.mission-locale.example/spip.php?article101"),
    ("http://ville.example/spip.php?page=article&id_article=12", "http://ville.example/spip.php?id_article=12&page=article"),
    ("http://ville.example/spip.php?rubrique7", "http://ville.example/spip.php?rubrique7"),
    ("http://ville.example/spip.php?breve3&lang=fr", "http://ville.example/spip.php?breve3&lang=fr"),
    # WordPress: ?p=, ?page_id=, pagination of a category
    ("https://asso.example/?p=4521", "https://asso.example/?p=4521"),
    ("https://asso.example/?page_id=77&fbclid=IwAR0abc", "https://asso.example/?page_id=77"),
    ("https://asso.example/?cat=3&paged=2", "https://asso.example/?cat=3&paged=2"),
    # Joomla: option, view, id, Itemid (case kept)
    ("https://cc.example/index.php?option=com_content&view=article&id=312&Itemid=101",
     "https://cc.example/index.php?Itemid=101&id=312&option=com_content&view=article"),
    # Drupal: ?q=node/12
    ("http://departement.example/?q=node/12", "http://departement.example/?q=node%2F12"),
    ("http://departement.example/index.php?q=actualites/forum-emploi&xtor=RSS-3",
     "http://departement.example/index.php?q=actualites%2Fforum-emploi"),
    # TYPO3: page id and the news extension's parameters (cHash included: the page needs it)
    ("https://region.example/index.php?id=45&tx_news_pi1[news]=1234&tx_news_pi1[controller]=News&cHash=9f8e",
     "https://region.example/index.php?cHash=9f8e&id=45&tx_news_pi1%5Bcontroller%5D=News&tx_news_pi1%5Bnews%5D=1234"),
])
def test_the_url_forms_of_french_cms_keep_what_identifies_a_page(url, expected):
    assert canonical_url(url) == expected


def test_spip_articles_stay_distinct():
    urls = {canonical_url(f"https://www.plie.example/spip.php?article{n}&utm_campaign=lettre") for n in range(101, 115)}
    assert len(urls) == 14


@pytest.mark.parametrize("url, expected", [
    # campaign, click and newsletter trackers
    ("https://a.example/x?utm_source=rss&utm_medium=flux&utm_campaign=c&utm_content=t&utm_term=k&id=3",
     "https://a.example/x?id=3"),
    ("https://a.example/x?fbclid=IwAR&gclid=Cj0&msclkid=9&dclid=1&yclid=2&igshid=3", "https://a.example/x"),
    ("https://presse.example/article.html?xtor=RSS-1&xtref=lien", "https://presse.example/article.html"),
    ("https://a.example/x?mc_cid=abc&mc_eid=def&at_medium=email&at_campaign=nl", "https://a.example/x"),
    ("https://a.example/x?pk_campaign=a&mtm_source=b&_ga=2.1&_gl=1*x", "https://a.example/x"),
    ("https://a.example/x?ref=lettre", "https://a.example/x"),
    # session ids, in the query or glued to the path
    ("https://a.example/x.php?PHPSESSID=0123abcd&id=7", "https://a.example/x.php?id=7"),
    ("https://a.example/forum/viewtopic.php?t=12&sid=9a8b7c", "https://a.example/forum/viewtopic.php?t=12"),
    ("https://a.example/page.do;jsessionid=ABC123?art=5", "https://a.example/page.do?art=5"),
    ("https://a.example/x?JSESSIONID=1&sessionid=2&session_id=3&art=5", "https://a.example/x?art=5"),
    # fragment, case, default ports, credentials, sorting, empty pairs, doubled slashes
    ("HTTPS://WWW.Example.ORG/a/B.html?utm_source=rss&id=3&fbclid=x&xtor=RSS-1#top", "https://www.example.org/a/B.html?id=3"),
    ("http://example.org:80/p?b=2&a=1#x", "http://example.org/p?a=1&b=2"),
    ("https://example.org:443/p", "https://example.org/p"),
    ("https://example.org:8443/p", "https://example.org:8443/p"),
    ("https://user:secret@example.org/p", "https://example.org/p"),
    ("http://example.org/p?&&a=1&", "http://example.org/p?a=1"),
    ("http://example.org//actus//forum.html", "http://example.org/actus/forum.html"),
    ("http://example.org", "http://example.org/"),
    ("http://example.org/a?x=&y", "http://example.org/a?x&y"),
])
def test_only_known_noise_is_dropped(url, expected):
    assert canonical_url(url) == expected


def test_keys_that_look_like_trackers_but_are_not_are_kept():
    # courlan dropped any key containing "source", "id" after "c", "uid"…: these identify pages
    for key in ("source", "cid", "uid", "campaign_id", "article", "id_rubrique", "Itemid", "news_id"):
        assert not is_noise_key(key), key
        assert f"{key}=5" in canonical_url(f"https://a.example/p?{key}=5")


def test_same_page_same_address_whatever_the_order_or_encoding():
    assert canonical_url("http://a.example/p?b=%c3%a9&a=1") == canonical_url("http://a.example/p?a=1&b=%C3%A9")
    assert canonical_url("http://a.example/résumé?q=é") == "http://a.example/r%C3%A9sum%C3%A9?q=%C3%A9"


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "mailto:a@b.fr", "/relative", "ftp://example.org/x", "",
                                 "http://", "https://example.org:99999/"])
def test_what_is_not_a_web_url_is_refused(bad):
    with pytest.raises(ValueError):
        canonical_url(bad)


def test_is_web_url():
    assert is_web_url("https://a.example/") and not is_web_url("data:text/html,x") and not is_web_url(None)

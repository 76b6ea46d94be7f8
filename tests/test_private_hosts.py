"""No request to private hosts: the address check, and crawls on loopback that must not leave their
source's own origin.

Only loopback is ever contacted: the other addresses below are classified, never fetched.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest

from crawlers.runs import PRIVATE_ADDRESS, PrivateAddressRefused, describe_failure
from pipeline.urls import ip_literal, is_public_address, origin
from tests.conftest import ROOT, write_sources
from tests.test_crawl import crawl, last_runs, server_log


@pytest.mark.parametrize("address", [
    "10.0.0.1", "10.255.3.4", "172.16.0.1", "172.31.255.254", "192.168.1.10", "127.0.0.1", "127.8.9.10",
    "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1", "255.255.255.255", "240.0.0.1",
    "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:192.168.0.1",
    "2002:7f00:1::1",  # 6to4 carrying 127.0.0.1
    "64:ff9b::7f00:1",  # NAT64 prefix (reserved range)
])
def test_private_loopback_link_local_reserved_and_mapped_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "185.15.58.224", "2606:4700:4700::1111",
                                     "2001:4860:4860::8888", "::ffff:93.184.216.34"])
def test_public_addresses_are_allowed(address):
    assert is_public_address(address)  # classified only: nothing is sent there


@pytest.mark.parametrize("value", ["localhost", "intranet", "", "127.0.0.1.example.org"])
def test_a_name_is_not_an_address(value):
    assert ip_literal(value) is None and not is_public_address(value)


def test_ip_literals_and_origins():
    assert str(ip_literal("[::1]")) == "::1" and str(ip_literal("10.0.0.1")) == "10.0.0.1"
    assert origin("HTTP://LocalHost:8080/flux.xml?x=1") == ("http", "localhost", 8080)
    assert origin("https://exemple.fr/") == ("https", "exemple.fr", 443)
    assert origin("http://[::1]/") == ("http", "::1", 80)
    assert origin("http://127.0.0.1:8080/a") != origin("http://127.0.0.1:8081/a")
    with pytest.raises(ValueError):
        origin("ftp://exemple.fr/")


def test_a_refusal_is_named_in_french():
    from twisted.python.failure import Failure

    status, message, http_status = describe_failure(Failure(PrivateAddressRefused("127.0.0.1", "127.0.0.1")))
    assert (status, message, http_status) == (PRIVATE_ADDRESS, "adresse privée refusée : 127.0.0.1", None)
    assert describe_failure(Failure(PrivateAddressRefused("::1", "localhost")))[1] == \
        "adresse privée refusée : ::1 (localhost)"


# ------------------------------------------------------------------ crawls on loopback


@pytest.fixture(scope="module")
def other_server():
    """A second loopback server, on another port: another host of the 'private network'."""
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "mockserver.py")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    yield url
    process.stdin.close()
    process.wait(timeout=10)


def test_a_feed_linking_to_another_loopback_port_fetches_nothing_there(mockserver, other_server, config_dir):
    port = other_server.rsplit(":", 1)[1]
    targets = [
        f"{other_server}/copies/original.html",             # an IP literal on another port
        f"http://localhost:{port}/copies/exact.html",        # a name that resolves to loopback
        f"{mockserver}/elsewhere/redirect?to={quote(f'{other_server}/copies/near.html', safe='')}",  # a redirect
        f"{mockserver}/plie-test/job-dating-lormont.html",  # the source's own origin: fetched
    ]
    feed = f"{mockserver}/elsewhere/feed.xml?" + "&".join(f"to={quote(t, safe='')}" for t in targets)
    write_sources(config_dir, [{"id": "flux", "name": "Flux", "type": "rss", "url": feed, "fetch_full": True}])
    before = len(server_log(mockserver))
    result, db = crawl(config_dir)

    assert server_log(other_server) == []  # not a page, not a robots.txt
    fetched = {r["path"] for r in server_log(mockserver)[before:]}
    assert "/plie-test/job-dating-lormont.html" in fetched and "/robots.txt" in fetched
    run = last_runs(db)["flux"]
    assert (run["status"], run["items_seen"], run["items_failed"]) == ("ok", 4, 3)
    errors = {e["url"]: e for e in db["page_errors"].rows}
    assert {e["status"] for e in errors.values()} == {PRIVATE_ADDRESS}
    assert set(errors) == {f"{other_server}/copies/original.html", f"http://localhost:{port}/copies/exact.html",
                           f"{other_server}/copies/near.html"}  # the redirect: refused at its target
    assert errors[f"{other_server}/copies/original.html"]["error"] == "adresse privée refusée : 127.0.0.1"
    assert errors[f"http://localhost:{port}/copies/exact.html"]["error"].startswith("adresse privée refusée : ")
    assert "(localhost)" in errors[f"http://localhost:{port}/copies/exact.html"]["error"]
    # Nothing of the private pages reaches the archive: their entries keep the feed's own text only.
    texts = {r["title"]: r["text"] for r in db["items"].rows}
    assert "Quatre cent douze personnes" not in " ".join(texts.values())  # the text of the /copies/ pages
    assert texts["Un article ailleurs (1)"] == "Le résumé que donne le flux de l'article 1."
    assert "3 page(s) en échec" in result.stdout


def test_a_source_redirected_to_another_loopback_port_is_refused(mockserver, other_server, config_dir):
    moved = f"{mockserver}/elsewhere/redirect?to={quote(f'{other_server}/plie-test/feed.xml', safe='')}"
    write_sources(config_dir, [
        {"id": "deplace", "name": "Déplacé", "type": "rss", "url": moved},
        # configured on the other port: that origin is its own, so it is collected
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{other_server}/presse-test/feed.xml"},
    ])
    before_other = len(server_log(other_server))
    _, db = crawl(config_dir)
    runs = last_runs(db)
    assert runs["deplace"]["status"] == PRIVATE_ADDRESS
    assert runs["deplace"]["error"] == "adresse privée refusée : 127.0.0.1"
    assert (runs["plie-test"]["status"], runs["plie-test"]["items_new"]) == ("ok", 3)
    paths = [r["path"] for r in server_log(other_server)[before_other:]]
    assert "/plie-test/feed.xml" not in paths  # only the other source's own requests went there
    assert sorted(paths) == ["/presse-test/feed.xml", "/robots.txt"]

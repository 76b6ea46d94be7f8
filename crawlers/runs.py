"""The outcome of one source in one crawl, how failures are named, and when it is recorded.

The spider owns the runs (`spider.runs`, one `SourceRun` per source) and fills them as it parses;
it sends `source_done` once a source's last request and last item have ended. `RunRecorder`, a
Scrapy extension, writes them to the archive: each run once as the crawl opens (`running`) and
once as its source ends, then the crawl's figures as it closes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectionRefusedError,
    ConnectionLost,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError as TwistedTimeoutError,
)
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from config.dates import utcnow
from pipeline.archive import open_db
from pipeline.storage import INTERRUPTED, INTERRUPTED_MESSAGE, finish_source_run, save_crawl, start_source_runs

source_done = object()  # signal: a source's last request and last item have ended (kwargs: run)

# Status values of source_runs.status.
OK = "ok"
HTTP_ERROR = "http_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
PARSE_ERROR = "parse_error"
TOO_LARGE = "too_large"
BLOCKED_BY_ROBOTS = "blocked_by_robots"
REDIRECT_LOOP = "redirect_loop"
NOT_HTML = "not_html"  # an article link to a PDF, an image…: not extracted
PRIVATE_ADDRESS = "private_address"  # a host on the private network or loopback: never requested
ERROR = "error"
# And, written by the storage only: `running` (from the crawl's start until the source ends) and
# `interrupted` (a source that never ended: its crawl was killed or stopped).


class PrivateAddressRefused(IgnoreRequest):
    """A request to a host on the private network or loopback, refused before it went out."""

    def __init__(self, address: str, host: str):
        self.address, self.host = address, host
        where = address if host.strip("[]") == address else f"{address} ({host})"
        super().__init__(f"adresse privée refusée : {where}")


class UnresolvedHost(IgnoreRequest):
    """A host whose addresses could not be looked up (so not checked): not requested."""

    def __init__(self, host: str):
        self.host = host
        super().__init__(f"nom de domaine introuvable : {host}")


@dataclass
class SourceRun:
    crawl_id: str
    source_id: str
    started_at: str = field(default_factory=utcnow)
    finished_at: str | None = None
    status: str = OK
    http_status: int | None = None
    items_seen: int = 0
    items_new: int = 0
    error: str | None = None
    page_errors: list[dict] = field(default_factory=list)  # per-article failures
    validators: list[dict] = field(default_factory=list)  # ETag/Last-Modified to keep once collected

    def fail(self, status: str, error: str, http_status: int | None = None) -> None:
        self.status, self.error = status, error
        if http_status is not None:
            self.http_status = http_status

    def add_page_error(self, url: str, status: str, error: str, http_status: int | None = None) -> None:
        self.page_errors.append({"url": url, "status": status, "http_status": http_status, "error": error})

    def as_row(self) -> dict:
        """The source_runs row: page errors are counted, and summarised when the source itself is ok."""
        row = {k: v for k, v in asdict(self).items() if k not in ("page_errors", "validators")}
        row["items_failed"] = len(self.page_errors)
        if self.page_errors and self.status == OK:
            first = self.page_errors[0]
            row["error"] = (f"{len(self.page_errors)} page(s) en échec, dont {first['url']} : "
                            f"{first['status']} ({first['error']})")
        return row


def describe_failure(failure: Failure) -> tuple[str, str, int | None]:
    """(status, French message, HTTP status) for a failed request."""
    exc = failure.value
    if isinstance(exc, PrivateAddressRefused):
        return PRIVATE_ADDRESS, str(exc), None
    if isinstance(exc, UnresolvedHost):
        return CONNECTION_ERROR, str(exc), None
    if isinstance(exc, HttpError):
        code = exc.response.status
        return HTTP_ERROR, f"réponse HTTP {code}", code
    if isinstance(exc, (DownloadTimeoutError, TwistedTimeoutError, TCPTimedOutError, TimeoutError)):
        return TIMEOUT, "pas de réponse dans le délai imparti", None
    if isinstance(exc, (CannotResolveHostError, DNSLookupError)):
        return CONNECTION_ERROR, "nom de domaine introuvable", None
    if isinstance(exc, (DownloadConnectionRefusedError, DownloadFailedError, ResponseDataLossError,
                        ConnectionRefusedError, ConnectionLost, ResponseNeverReceived)):
        return CONNECTION_ERROR, f"connexion impossible ou interrompue ({type(exc).__name__})", None
    if isinstance(exc, DownloadCancelledError) and "max size" in str(exc):
        return TOO_LARGE, "réponse trop volumineuse, abandonnée", None
    if isinstance(exc, IgnoreRequest) and "DOWNLOAD_MAXSIZE" in str(exc):
        return TOO_LARGE, "réponse compressée trop volumineuse une fois décompressée, refusée", None
    if isinstance(exc, IgnoreRequest):
        message = str(exc)
        if "robots.txt" in message:
            return BLOCKED_BY_ROBOTS, "interdit par robots.txt", None
        if "redirections" in message:
            return REDIRECT_LOOP, "trop de redirections (boucle)", None
        return ERROR, f"requête abandonnée : {message}", None
    return ERROR, f"{type(exc).__name__} : {exc}", None


class RunRecorder:
    """Writes the source runs of a crawl and its figures, fed by signals (a Scrapy extension).

    A source-run row is written twice: as the crawl opens, `running` (a killed crawl leaves that
    trace, marked `interrupted` by the next one), and as its source ends (`source_done`), with its
    final counts, page errors and HTTP validators. The spider sends `source_done` only once the
    source's items have gone through the item pipelines, so the counts are final then.
    """

    def __init__(self, crawler):
        self.crawler, self.db_path = crawler, crawler.settings["VEILLE_DB"]
        self.recorded: set[str] = set()
        crawler.signals.connect(self.open, signal=signals.spider_opened)
        crawler.signals.connect(self.record, signal=source_done)
        crawler.signals.connect(self.close, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open(self, spider) -> None:
        self.db = open_db(self.db_path)
        self.cpu_at_start = time.process_time()
        start_source_runs(self.db, [run.as_row() for run in spider.runs.values()])

    def record(self, run: SourceRun) -> None:
        finish_source_run(self.db, run.as_row(), run.page_errors, run.validators)
        self.recorded.add(run.source_id)

    def close(self, spider) -> None:
        """Record the sources that never ended (a crawl stopped early) as interrupted, without their
        validators so they are collected in full next time; then the crawl's figures."""
        for run in spider.runs.values():
            if run.source_id not in self.recorded:
                run.finished_at = run.finished_at or utcnow()
                if run.status == OK:
                    run.fail(INTERRUPTED, INTERRUPTED_MESSAGE)
                self.record(run)
        save_crawl(self.db, self.figures(spider))
        self.db.close()

    def figures(self, spider) -> dict:
        """The `crawls` row: Scrapy's request and byte counts, new items, CPU seconds (all, and in
        Veille's own code: `veille/cpu_seconds`, counted by the pipelines and the spider)."""
        stats = self.crawler.stats.get_stats()
        return {
            "id": spider.crawl_id,
            "started_at": stats["start_time"].isoformat() if stats.get("start_time") else None,
            "finished_at": utcnow(),
            "sources": len(spider.runs),
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            "bytes": stats.get("downloader/response_bytes", 0),
            "items_new": sum(run.items_new for run in spider.runs.values()),
            "cpu_seconds": time.process_time() - self.cpu_at_start,
            "cpu_seconds_veille": stats.get("veille/cpu_seconds", 0.0),
        }

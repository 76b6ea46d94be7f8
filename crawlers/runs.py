"""The outcome of one source in one crawl, and how failures are named."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
ERROR = "error"


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

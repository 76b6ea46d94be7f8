"""Scrapy settings, in one place, built from Veille's `crawl:` settings.

Settings built in code do not inherit the startproject template's politeness (Scrapy's own
defaults are robots.txt ignored, no delay, 1 GiB responses, 180 s timeouts): every politeness
setting is therefore set here explicitly.
"""

from __future__ import annotations

from pathlib import Path

from config.schema import DEFAULT_TIMEZONE, CrawlSettings


def scrapy_settings(crawl: CrawlSettings, db_path: Path | str, timezone: str = DEFAULT_TIMEZONE) -> dict:
    max_bytes = int(crawl.max_size_mb * 1024 * 1024)
    return {
        "BOT_NAME": "veille",
        "USER_AGENT": crawl.full_user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "CONCURRENT_REQUESTS": 16,
        # Items of one response processed in parallel: the pipelines are synchronous, and Scrapy
        # starts this many tasks for every response, so the default (100) only costs CPU.
        "CONCURRENT_ITEMS": 8,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "RANDOMIZE_DOWNLOAD_DELAY": True,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(crawl.download_delay, 0.5),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": max_bytes,
        "DOWNLOAD_WARNSIZE": max_bytes // 2,
        "RETRY_ENABLED": crawl.retry_times > 0,
        "RETRY_TIMES": crawl.retry_times,
        "REDIRECT_MAX_TIMES": 5,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "ERROR",
        "DOWNLOADER_MIDDLEWARES": {
            # Before robots.txt (100): a private host's robots.txt is never asked for. Every request
            # passes here, redirects too (RedirectMiddleware, 600, sends their new request through
            # the whole chain again), and robots.txt requests themselves.
            "crawlers.middlewares.PrivateHostsMiddleware": 90,
            "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
            "crawlers.middlewares.SharedRobotsTxtMiddleware": 100,
            "crawlers.middlewares.KnownArticlesMiddleware": 110,
            # Between robots.txt and the HTTP layer: sees the final request, and 304s before retries.
            "crawlers.middlewares.ConditionalGetMiddleware": 560,
        },
        # Writes each source's run as the crawl opens and as the source ends, and the crawl's figures.
        "EXTENSIONS": {"crawlers.runs.RunRecorder": 0},
        "ITEM_PIPELINES": {
            "crawlers.pipelines.CanonicalUrlPipeline": 100,
            "crawlers.pipelines.FingerprintPipeline": 200,
            "crawlers.pipelines.DuplicatesPipeline": 300,
            "crawlers.pipelines.ArchivePipeline": 900,
        },
        "VEILLE_DB": str(db_path),
        "VEILLE_TIMEZONE": timezone,  # of dates the pages write without an offset
    }

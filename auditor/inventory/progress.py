"""Crawl progress: one updating line on a terminal, plain log lines otherwise (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from auditor.inventory.crawler import CrawlStats


class Progress:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.quiet = quiet
        self._last = 0.0

    def __call__(self, event: str, stats: CrawlStats) -> None:
        if self.quiet:
            return
        quota = "?" if stats.quota_remaining is None else str(stats.quota_remaining)
        line = (f"crawl: streams {stats.streams_done}/{stats.streams_total}, {stats.rows:,} rows, "
                f"{stats.pages:,} pages, {stats.requests:,} requests, quota left {quota}, "
                f"{stats.retries} retries, {stats.throttled} throttled, {stats.seconds:.0f}s")
        if self.interactive:
            now = time.monotonic()
            if now - self._last >= 0.2:
                self.stream.write("\r\033[K" + line + " | " + event[:60])
                self.stream.flush()
                self._last = now
        else:
            self.stream.write(f"{line} | {event}\n")
            self.stream.flush()

    def done(self) -> None:
        if self.interactive and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()

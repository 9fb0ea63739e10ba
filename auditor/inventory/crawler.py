"""Crawl Azure Resource Graph into a snapshot: scopes, batches, paging, pacing, retries.

Every query runs per batch of subscriptions as an independent *stream* that pages with $skipToken;
streams run concurrently so that latency does not waste quota, and one pacer shared by all of them
spends exactly the quota Resource Graph reports (x-ms-user-quota-remaining / -resets-after).
A stream's rows go to its own temporary file and join the snapshot only when the stream completes,
so a stream that fails half-way or must be re-split never leaves a row twice or half a result.

Fail closed: what cannot be read (403, retries exhausted, truncated results) is recorded per
subscription with the reason; it is never silently dropped.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import json
import logging
import math
import os
import random
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceExistsError,
                                   ResourceNotFoundError, ServiceRequestError, ServiceResponseError, map_error)
from azure.mgmt.core.exceptions import ARMErrorFormat

from auditor import __version__
from auditor.errors import InputError
from auditor.inventory.queries import QUERIES, QUERY_VERSION, SUBSCRIPTIONS_KQL, Query
from auditor.inventory.snapshot import METADATA_KEY

log = logging.getLogger("dr-audit.crawl")

RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Scope:
    subscriptions: tuple[str, ...] = ()
    management_groups: tuple[str, ...] = ()
    tenant: bool = False

    def describe(self) -> str:
        if self.tenant:
            return "the tenant"
        parts = [f"subscription {s}" for s in self.subscriptions]
        parts += [f"management group {m}" for m in self.management_groups]
        return ", ".join(parts)


@dataclass
class CrawlSettings:
    page_size: int = 1000            # Resource Graph's maximum $top
    batch_size: int = 100            # subscriptions per request
    workers: int = 6                 # concurrent streams; the pacer keeps them within quota
    quota_requests: int = 15         # assumed until the first response reports the real quota
    quota_window_seconds: float = 5.0
    max_attempts: int = 8            # per request
    retry_budget_seconds: float = 300.0  # per request, across its retries
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0
    read_timeout_seconds: float = 60.0
    connection_timeout_seconds: float = 10.0
    seed: int | None = None          # jitter seed (tests and benchmarks)


@dataclass
class CrawlStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    pages: int = 0
    rows: int = 0
    minimum_requests: int = 0        # ceil(rows / page size) per completed stream
    streams_total: int = 0
    streams_done: int = 0
    quota_remaining: int | None = None  # as Resource Graph last reported it
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


@dataclass
class CrawlResult:
    path: Path
    scopes: list[dict[str, Any]]
    stats: CrawlStats

    @property
    def incomplete(self) -> list[dict[str, Any]]:
        return [scope for scope in self.scopes if scope["status"] != "complete"]


class QuotaPacer:
    """Shares one identity's Resource Graph quota between concurrent streams.

    Requests are spaced so that no `window` seconds ever hold more than the quota (a sliding log of
    send times): a server that counts in fixed windows can then never see too many. The quota itself
    is learned from x-ms-user-quota-remaining (remaining + what we sent in the window bounds it from
    above). A 429 blocks until the reported reset, and so does a response saying nothing remains,
    unless our own requests in the window spent the whole quota: the log then holds the next request
    back exactly as long as needed, where the header (whole seconds, rounded, counted from when the
    server saw the request, read a latency later) would idle up to a third of every window.
    """

    SAFETY_SECONDS = 0.1  # latency jitter between our clock and the server's window

    def __init__(self, requests: int, window_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._limit = max(1, requests)
        self._window = window_seconds + self.SAFETY_SECONDS
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._condition = threading.Condition()
        self._waiting: list[tuple[float, int]] = []  # (-priority, arrival): a heap of the requests waiting
        self._arrivals = itertools.count()
        # Within the log, requests are also spread evenly (a token bucket at quota/window with a small
        # burst): a quota spent in a burst at the start of each window leaves the long streams, which
        # send one page per latency, nothing to send with for the rest of it.
        self._tokens = self._burst = float(max(1, self._limit // 3))
        self._refilled = clock()

    def acquire(self, priority: float = math.inf) -> None:
        """Wait for a slot in the quota. Of the requests waiting, the one with the highest priority goes
        first (then the earliest): the crawler gives each page its stream's remaining pages, so the
        longest stream never waits behind short ones and does not end the crawl alone, one latency per
        page, far below the quota."""
        ticket = (-priority, next(self._arrivals))
        with self._condition:
            heapq.heappush(self._waiting, ticket)
            try:
                while True:
                    now = self._clock()
                    while self._sent and self._sent[0] <= now - self._window:
                        self._sent.popleft()
                    rate = self._limit / self._window
                    self._tokens = min(self._burst, self._tokens + (now - self._refilled) * rate)
                    self._refilled = now
                    logged = now >= self._blocked_until and len(self._sent) < self._limit
                    free = logged and self._tokens >= 1
                    if free and self._waiting[0] == ticket:
                        heapq.heappop(self._waiting)
                        self._sent.append(now)
                        self._tokens -= 1
                        return
                    if free:  # a slot, but for a request ahead of this one: let it take it
                        self._condition.notify_all()
                        self._condition.wait(timeout=0.05)
                        continue
                    if now < self._blocked_until:
                        wake = self._blocked_until
                    elif not logged:
                        wake = self._sent[0] + self._window
                    else:
                        wake = now + (1 - self._tokens) / rate
                    self._condition.wait(timeout=max(wake - now, 0.005))
            except BaseException:
                self._waiting.remove(ticket)
                heapq.heapify(self._waiting)
                self._condition.notify_all()
                raise
            finally:
                self._condition.notify_all()

    def release(self, headers: Any) -> None:
        with self._condition:
            now = self._clock()
            remaining = _header_int(headers, "x-ms-user-quota-remaining")
            resets_after = _parse_resets_after(_header(headers, "x-ms-user-quota-resets-after"))
            if remaining is not None:
                recent = sum(1 for sent in self._sent if sent > now - self._window)
                ours = recent >= self._limit  # our own requests in the window account for the whole quota
                # remaining + 1 <= quota <= remaining + what we sent within the window
                self._limit = max(remaining + 1, min(self._limit, remaining + recent))
                if remaining <= 0 and resets_after is not None and not ours:
                    # Someone else spends this identity's quota too: the log cannot tell when it frees.
                    self._blocked_until = max(self._blocked_until, now + resets_after + self.SAFETY_SECONDS)
            self._condition.notify_all()

    def throttle(self, seconds: float) -> None:
        with self._condition:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
            self._condition.notify_all()

    @property
    def limit(self) -> int:
        return self._limit


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        return headers.get(name)
    except AttributeError:
        return None


def _header_int(headers: Any, name: str) -> int | None:
    value = _header(headers, name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_resets_after(value: str | None) -> float | None:
    """`hh:mm:ss` (as Resource Graph sends it) → seconds."""
    if not value:
        return None
    try:
        hours, minutes, seconds = value.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class StreamFailed(Exception):
    def __init__(self, reason: str, *, forbidden: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.forbidden = forbidden


@dataclass
class Stream:
    query: Query
    subscriptions: tuple[str, ...]
    split: bool = False  # half of a stream split for the critical path (not split again)


class SnapshotWriter:
    """gzip JSON Lines: a metadata line, the rows of every completed stream, a metadata trailer.
    Written under a temporary name and renamed at the end: an interrupted crawl leaves the previous
    snapshot untouched."""

    def __init__(self, path: Path, metadata: dict[str, Any]):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
        self._temporary = Path(handle.name)
        self._gzip = gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=6)
        self._file = handle
        self._lock = threading.Lock()
        self._line({METADATA_KEY: metadata})

    def _line(self, value: Any) -> None:
        self._gzip.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")

    def append_stream(self, rows_file: Path) -> None:
        with self._lock, open(rows_file, "rb") as source:
            while chunk := source.read(1 << 20):
                self._gzip.write(chunk)

    def append_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            for row in rows:
                self._line(row)

    def finish(self, trailer: dict[str, Any]) -> None:
        with self._lock:
            self._line({METADATA_KEY: trailer})
            self._gzip.close()
            self._file.close()
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._temporary, 0o666 & ~umask)
            os.replace(self._temporary, self.path)

    def abandon(self) -> None:
        try:
            self._gzip.close()
            self._file.close()
        finally:
            self._temporary.unlink(missing_ok=True)


class Crawler:
    def __init__(self, client: Any, settings: CrawlSettings | None = None,
                 progress: Callable[[str, CrawlStats], None] | None = None):
        """`client` is an azure.mgmt.resourcegraph.ResourceGraphClient built with retries off
        (retry_total=0): the crawler retries itself, 429 without Retry-After included."""
        self.client = client
        self.settings = settings or CrawlSettings()
        self.stats = CrawlStats()
        self.pacer = QuotaPacer(self.settings.quota_requests, self.settings.quota_window_seconds)
        self._random = random.Random(self.settings.seed)
        self._progress = progress or (lambda event, stats: None)
        self._stats_lock = threading.Lock()
        self._api_version = getattr(getattr(client, "_config", None), "api_version", None) or API_VERSION
        self._latency = 1.0  # seconds a query takes to answer (moving average), for the critical path
        self._pages_left: dict[int, float] = {}  # running streams' pages still to fetch (inf: not known yet)
        self._pending = 0  # streams not started yet
        self._sizes: list[float] = []  # pages of each stream, known from its first page
        self._known = threading.Condition(self._stats_lock)  # notified as streams' sizes become known

    # ------------------------------------------------------------ one request, retried

    def _request(self, query: str, subscriptions: Iterable[str] | None, management_groups: Iterable[str] | None,
                 skip_token: str | None, top: int, priority: float = math.inf) -> tuple[QueryPage, Any]:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        body = QueryRequest(
            subscriptions=list(subscriptions) if subscriptions else None,
            management_groups=list(management_groups) if management_groups else None,
            query=query,
            options=QueryRequestOptions(top=top, skip_token=skip_token, result_format="objectArray"),
        ).serialize()
        settings = self.settings
        deadline = time.monotonic() + settings.retry_budget_seconds
        attempt = 0
        while True:
            attempt += 1
            self.pacer.acquire(priority)
            headers = None
            try:
                with self._stats_lock:
                    self.stats.requests += 1
                response, headers = self._post(body)
                remaining = _header_int(headers, "x-ms-user-quota-remaining")
                if remaining is not None:
                    self.stats.quota_remaining = remaining
                return response, headers
            except HttpResponseError as error:
                headers = error.response.headers if error.response is not None else None
                status = error.status_code or 0
                codes = _error_codes(error)
                code = codes[0] if codes else ""
                if status == 403:
                    # Resource Graph answers 403 AccessDenied without naming the subscription: the caller
                    # isolates it by splitting the batch.
                    raise StreamFailed(f"403 {code or 'Forbidden'}: {_short(error)}", forbidden=True) from None
                if status == 400 and "ResponsePayloadTooLarge" in codes and top > 1:
                    raise _PageTooLarge() from None
                if status not in RETRYABLE_STATUS:
                    raise StreamFailed(f"{status} {code}: {_short(error)}") from None
                wait_seconds = self._backoff(attempt)
                if status == 429:
                    retry_after = _retry_after(headers)
                    wait_seconds = retry_after if retry_after is not None else wait_seconds
                    self.pacer.throttle(wait_seconds)
                    with self._stats_lock:
                        self.stats.throttled += 1
                reason = f"{status} {code}".strip()
            except (ServiceRequestError, ServiceResponseError) as error:
                wait_seconds = self._backoff(attempt)
                reason = f"connection error ({type(error).__name__})"
            finally:
                self.pacer.release(headers)
            if attempt >= settings.max_attempts or time.monotonic() + wait_seconds > deadline:
                raise StreamFailed(f"gave up after {attempt} attempts: {reason}")
            with self._stats_lock:
                self.stats.retries += 1
            self._progress(f"retry in {wait_seconds:.1f}s after {reason}", self.stats)
            time.sleep(wait_seconds)

    def _post(self, body: dict[str, Any]) -> tuple[QueryPage, Any]:
        """One Resource Graph query through the client's own pipeline (credential, ARM policies, transport,
        timeouts), its JSON read with orjson. The client's `resources()` deserialises every row of `data`
        object by object (typed `object`, so msrest walks it): about 0.25 s of CPU per 1,000-row page,
        which at the quota's 3 pages a second kept the worker threads queued on the GIL."""
        from azure.mgmt.resourcegraph.operations._resource_graph_client_operations import build_resources_request

        request = build_resources_request(api_version=self._api_version, content_type="application/json", json=body)
        sent = time.monotonic()
        response = self.client._send_request(request, read_timeout=self.settings.read_timeout_seconds,
                                             connection_timeout=self.settings.connection_timeout_seconds)
        with self._stats_lock:
            self._latency += 0.2 * (time.monotonic() - sent - self._latency)
        if response.status_code != 200:
            map_error(status_code=response.status_code, response=response, error_map=_ERROR_MAP)
            raise HttpResponseError(response=response, error_format=ARMErrorFormat)
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise StreamFailed("Resource Graph answered 200 with a body that is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("data") or [], list):
            raise StreamFailed("Resource Graph answered 200 without a list of rows in `data`")
        return QueryPage(data=document.get("data") or [], skip_token=document.get("$skipToken"),
                         result_truncated=document.get("resultTruncated"),
                         total_records=document.get("totalRecords")), response.headers

    def _backoff(self, attempt: int) -> float:
        """Full jitter exponential backoff."""
        ceiling = min(self.settings.backoff_cap_seconds, self.settings.backoff_base_seconds * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)

    # ------------------------------------------------------------ scopes

    def resolve_subscriptions(self, scope: Scope) -> tuple[list[str], list[dict[str, Any]]]:
        """The subscriptions to crawl, and the scopes that could not be listed."""
        if scope.subscriptions and not scope.management_groups and not scope.tenant:
            return sorted(dict.fromkeys(s.strip().lower() for s in scope.subscriptions)), []
        found: dict[str, None] = {s.strip().lower(): None for s in scope.subscriptions}
        problems: list[dict[str, Any]] = []
        lookups = [(None, "the tenant")] if scope.tenant else [(m, f"management group {m}")
                                                                for m in scope.management_groups]
        for group, label in lookups:
            token = None
            try:
                while True:
                    response, headers = self._request(SUBSCRIPTIONS_KQL, None, [group] if group else None, token,
                                                      self.settings.page_size)
                    for row in response.data or []:
                        subscription = str(row.get("subscriptionId") or "").strip().lower()
                        if subscription:
                            found[subscription] = None
                    if _truncated(response):
                        problems.append({"scope": label, "status": "incomplete",
                                         "reason": "the subscription list was truncated"})
                        break
                    token = response.skip_token
                    if not token:
                        break
            except StreamFailed as failure:
                problems.append({"scope": label, "status": "incomplete",
                                 "reason": f"subscriptions could not be listed: {failure.reason}"})
            except _PageTooLarge:
                problems.append({"scope": label, "status": "incomplete", "reason": "subscription list too large"})
        return sorted(found), problems

    # ------------------------------------------------------------ streams

    def _run_stream(self, stream: Stream, work_dir: Path, observe: Callable[[dict[str, Any]], None] | None) -> Path:
        handle = tempfile.NamedTemporaryFile(dir=work_dir, suffix=".jsonl", delete=False)
        rows_file = Path(handle.name)
        rows = 0
        top = self.settings.page_size
        token = None
        priority = math.inf  # until the first page tells how many rows the stream has
        try:
            with handle:
                while True:
                    try:
                        response, _ = self._request(stream.query.kql, stream.subscriptions, None, token, top,
                                                    priority)
                    except _PageTooLarge:
                        top = max(1, top // 2)  # a page over the 16 MiB response limit: ask for fewer rows
                        continue
                    data = response.data or []
                    for row in data:
                        if observe is not None:
                            observe(row)
                        handle.write(_row_line(row))
                    rows += len(data)
                    with self._stats_lock:
                        self.stats.pages += 1
                    token = response.skip_token
                    first = priority == math.inf
                    priority = _pages_left(response.total_records, rows, top)
                    with self._known:
                        self._pages_left[id(stream)] = priority if token else 0.0
                        self._known.notify_all()
                    if first and token and self._critical(stream, priority):
                        raise _SplitStream()
                    if _truncated(response) and not token:
                        raise StreamFailed("Resource Graph truncated the result (resultTruncated) without a "
                                           "$skipToken to continue")
                    if not token:
                        break
            with self._stats_lock:
                self.stats.rows += rows
                self.stats.minimum_requests += max(1, -(-rows // self.settings.page_size))
            return rows_file
        except BaseException:
            rows_file.unlink(missing_ok=True)
            raise
        finally:
            with self._stats_lock:
                self._pages_left.pop(id(stream), None)

    def _critical(self, stream: Stream, pages_left: float) -> bool:
        """Whether a stream, seen after its first page, would hold the crawl up: its pages, one latency
        each, take longer than 60 % of the time the quota needs for all the work there is (streams not
        seen yet counted at the average size of those seen; the first pages of the streams running
        are awaited for up to one latency, as they arrive together). Its batch is then fetched as two
        streams (the first page is spent again: 1-2 % of the requests at 100k rows), so that the crawl
        ends at the quota's pace instead of with one stream fetching a page per latency, alone."""
        with self._known:
            self._sizes.append(pages_left)
            self._known.notify_all()
            if stream.split or len(stream.subscriptions) < 2 or pages_left < 4:
                return False
            self._known.wait_for(lambda: math.inf not in self._pages_left.values(), timeout=self._latency)
            average = sum(self._sizes) / len(self._sizes)
            work = sum(left if left != math.inf else average for left in self._pages_left.values())
            work += self._pending * average
            latency = self._latency
        rate = self.pacer.limit / (self.settings.quota_window_seconds + QuotaPacer.SAFETY_SECONDS)
        return pages_left * latency > 0.6 * work / rate

    def crawl(self, scope: Scope, output: Path, deep: Callable[[Any], Any] | None = None) -> CrawlResult:
        """`deep(needs)` (see enrich.py) reads per-resource facts for the rows that lack them."""
        captured_at = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        subscriptions, scope_problems = self.resolve_subscriptions(scope)
        if not subscriptions and not scope_problems:
            raise InputError(f"no subscriptions found in {scope.describe()}; check the scope and the identity's "
                             "Reader role.")
        writer = SnapshotWriter(output, {
            "version": 1, "captured_at": captured_at, "tool": {"name": "dr-audit", "version": __version__},
            "query_version": QUERY_VERSION, "queries": {q.name: q.kql for q in QUERIES},
            "requested_scope": scope.describe(),
        })
        failures: dict[str, list[str]] = {}
        try:
            with tempfile.TemporaryDirectory(dir=output.parent, prefix=".dr-audit-crawl-") as work:
                # Longest streams first: each pages one request at a time, so a long one started last
                # would finish alone, far below the quota.
                pending = deque(Stream(query, tuple(subscriptions[i:i + self.settings.batch_size]))
                                for query in sorted(QUERIES, key=_expected_size)
                                for i in range(0, len(subscriptions), self.settings.batch_size))
                needs = None
                if deep is not None:
                    from auditor.inventory.enrich import EnrichmentNeeds

                    needs = EnrichmentNeeds()
                self.stats.streams_total = len(pending)
                self._run_all(pending, Path(work), writer, failures, needs.observe if needs else None)
                if needs is not None:
                    result = deep(needs)
                    writer.append_rows(result.rows)
                    for failure in result.failures:
                        subscription = failure.split("/")[2].lower() if failure.startswith("/subscriptions/") else ""
                        failures.setdefault(subscription, []).append(f"--deep read failed for {failure}")
            statuses = [
                {"subscription_id": s, "status": "incomplete", "reason": "; ".join(sorted(set(failures[s])))}
                if s in failures else {"subscription_id": s, "status": "complete"}
                for s in subscriptions
            ] + scope_problems
            self.stats.finished = time.monotonic()
            writer.finish({"scopes": statuses, "finished_at": _now(), "requests": self.stats.requests,
                           "retries": self.stats.retries, "rows": self.stats.rows})
        except BaseException:
            writer.abandon()
            raise
        return CrawlResult(path=output, scopes=statuses, stats=self.stats)

    def _run_all(self, pending: deque[Stream], work_dir: Path, writer: SnapshotWriter,
                 failures: dict[str, list[str]], observe: Callable[[dict[str, Any]], None] | None) -> None:
        with ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="crawl") as pool:
            running: dict[Future, Stream] = {}
            while pending or running:
                while pending and len(running) < self.settings.workers:
                    stream = pending.popleft()
                    with self._stats_lock:
                        self._pages_left[id(stream)] = math.inf
                    running[pool.submit(self._run_stream, stream, work_dir, observe)] = stream
                with self._stats_lock:
                    self._pending = len(pending)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    stream = running.pop(future)
                    try:
                        rows_file = future.result()
                    except _SplitStream:
                        half = len(stream.subscriptions) // 2
                        pending.appendleft(Stream(stream.query, stream.subscriptions[half:], split=True))
                        pending.appendleft(Stream(stream.query, stream.subscriptions[:half], split=True))
                        self.stats.streams_total += 1
                        continue
                    except StreamFailed as failure:
                        if failure.forbidden and len(stream.subscriptions) > 1:
                            # Find the subscription(s) the identity cannot read: split the batch.
                            half = len(stream.subscriptions) // 2
                            pending.append(Stream(stream.query, stream.subscriptions[:half]))
                            pending.append(Stream(stream.query, stream.subscriptions[half:]))
                            self.stats.streams_total += 1
                            continue
                        self.stats.streams_done += 1
                        for subscription in stream.subscriptions:
                            failures.setdefault(subscription, []).append(f"{stream.query.name}: {failure.reason}")
                        self._progress(f"{stream.query.name} incomplete for {len(stream.subscriptions)} "
                                       f"subscription(s): {failure.reason}", self.stats)
                        continue
                    writer.append_stream(rows_file)
                    rows_file.unlink(missing_ok=True)
                    self.stats.streams_done += 1
                    self._progress(f"{stream.query.name} done for {len(stream.subscriptions)} subscription(s)",
                                   self.stats)


# Typical share of an estate's rows per query (disks outnumber VMs about two to one, then backup
# items, snapshots and images, storage and vaults): the order streams start in.
_EXPECTED_ORDER = ("disks", "virtual-machines", "backup", "snapshots-and-images", "storage-and-vaults")


def _expected_size(query: Query) -> int:
    return _EXPECTED_ORDER.index(query.name) if query.name in _EXPECTED_ORDER else len(_EXPECTED_ORDER)


def _row_line(row: Any) -> bytes:
    """A row as a JSON Lines record. orjson writes what json.dumps(ensure_ascii=False, separators=(",",
    ":")) writes (up to the spelling of exponents) a few times faster, which matters because the
    crawler's own CPU (the SDK deserialising each page, then this) is what limits it at the quota.
    What orjson cannot write (integers beyond 64 bits) goes through json; NaN, which JSON from Azure
    never holds, would be written as null."""
    try:
        return orjson.dumps(row) + b"\n"
    except TypeError:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class _PageTooLarge(Exception):
    pass


class _SplitStream(Exception):
    """A stream on the crawl's critical path: its batch is fetched as two streams instead."""


API_VERSION = "2021-03-01"  # the SDK client's default
_ERROR_MAP = {401: ClientAuthenticationError, 404: ResourceNotFoundError, 409: ResourceExistsError}


@dataclass
class QueryPage:
    """One Resource Graph answer: the fields of QueryResponse the crawler reads."""

    data: list[Any]
    skip_token: str | None = None
    result_truncated: Any = None
    total_records: Any = None


def _pages_left(total_records: Any, rows: int, top: int) -> float:
    """The pages a stream still needs, from the totalRecords of its last answer (its pacing priority)."""
    try:
        total = int(total_records)
    except (TypeError, ValueError):
        return math.inf
    return float(max(1, -(-(total - rows) // max(1, top))))


def _truncated(response: Any) -> bool:
    return str(getattr(response, "result_truncated", "false")).lower() == "true"


def _retry_after(headers: Any) -> float | None:
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = _header(headers, name)
        if value:
            try:
                return float(value) / 1000
            except ValueError:
                pass
    value = _header(headers, "retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _error_codes(error: HttpResponseError) -> list[str]:
    """The ARM error code and its details' codes (ResponsePayloadTooLarge hides in details)."""
    top = getattr(error, "error", None)
    codes = [getattr(top, "code", None)] + [getattr(detail, "code", None) for detail in getattr(top, "details", None) or []]
    return [code for code in codes if code]


def _short(error: HttpResponseError) -> str:
    text = " ".join(str(error.message or error).split())
    return text[:300]


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")

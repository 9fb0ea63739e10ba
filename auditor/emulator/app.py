"""The emulator's transport-independent core: one request in, one response out, as Azure Resource Manager
answers the three calls the tool makes.

    POST /providers/Microsoft.ResourceGraph/resources                                   (Resource Graph)
    GET  /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}/instanceView
    GET  /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}

Shapes, codes and headers follow the azure-rest-api-specs examples and errors Azure is seen to return;
where Azure's exact answer is unknown the choice is marked "emulator's choice" below.
`handle` is thread-safe; the HTTPS server and the in-process azure-core transport both call it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from auditor.emulator import kql
from auditor.emulator.estate import Estate
from auditor.emulator.faults import EmulatorSettings, Fault

Response = tuple[int, dict[str, str], bytes]

RESOURCE_GRAPH_API_VERSIONS = ("2021-03-01", "2022-10-01")
RESOURCE_GRAPH_ACTION = "Microsoft.ResourceGraph/resources/read"
INSTANCE_VIEW_ACTION = "Microsoft.Compute/virtualMachines/instanceView/read"
VAULT_READ_ACTION = "Microsoft.RecoveryServices/vaults/read"
EMULATOR_CLIENT_ID = "00000000-0000-0000-0000-00000000c11e"

_RESOURCE_GRAPH = re.compile(r"^/providers/microsoft\.resourcegraph/resources/?$", re.IGNORECASE)
_INSTANCE_VIEW = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/"
                            r"microsoft\.compute/virtualmachines/(?P<name>[^/]+)/instanceview/?$", re.IGNORECASE)
_VAULT = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/"
                    r"microsoft\.recoveryservices/vaults/(?P<name>[^/]+)/?$", re.IGNORECASE)
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_SERVER_ERRORS = {
    500: ("InternalServerError", "Encountered internal server error."),
    502: ("BadGateway", "The gateway received an invalid response from the upstream server."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry the request."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time period."),
}
_RESULT_CACHE_SIZE = 8


class ConnectionReset(Exception):
    """The `reset` fault: the transport must drop the connection without sending any response."""


class ResponseTimeout(Exception):
    """The answer would come later than the caller's read timeout (only when `handle` is given one)."""


@dataclass(frozen=True)
class EmulatorStats:
    """What the emulator saw. `requests` counts (endpoint, outcome): the status code as a string, or
    "reset"/"timeout". `actions` are the (RBAC action, scope) pairs the requests needed; `queried` the
    (table, lower-cased type or "*") pairs Resource Graph was asked for."""

    requests: dict[tuple[str, str], int]
    rows_served: int
    throttled: int  # 429 answers, quota and injected
    peak_concurrency: int
    faults: dict[str, int]
    actions: frozenset[tuple[str, str]]
    queried: frozenset[tuple[str, str]]

    def count(self, endpoint: str | None = None, outcome: str | None = None) -> int:
        return sum(number for (name, result), number in self.requests.items()
                   if endpoint in (None, name) and outcome in (None, result))


@dataclass(frozen=True)
class _Scope:
    subscriptions: list[str]  # lower-cased, sorted
    scope_ids: list[str]  # ARM scopes named: subscriptions, management groups, or "/" for the tenant
    limit_hit: bool


@dataclass(frozen=True)
class _Token:
    page_size: int
    offset: int
    digest: str


class EmulatorApp:
    def __init__(self, estate: Estate, settings: EmulatorSettings | None = None) -> None:
        self.estate = estate
        self.settings = settings or EmulatorSettings()
        self._forbidden = {subscription.lower() for subscription in self.settings.forbidden_subscriptions}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._quota: dict[str, tuple[float, int]] = {}  # sha256(token) -> (window start, queries used)
        self._numbers: Counter[str] = Counter()
        self._in_flight = 0
        self._peak = 0
        self._requests: Counter[tuple[str, str]] = Counter()
        self._rows_served = 0
        self._throttled = 0
        self._faults: Counter[str] = Counter()
        self._actions: set[tuple[str, str]] = set()
        self._queried: set[tuple[str, str]] = set()
        self._results: OrderedDict[tuple[kql.Query, tuple[str, ...]], list[Mapping[str, Any]]] = OrderedDict()

    def stats(self) -> EmulatorStats:
        with self._lock:
            return EmulatorStats(dict(self._requests), self._rows_served, self._throttled, self._peak,
                                 dict(self._faults), frozenset(self._actions), frozenset(self._queried))

    def close(self) -> None:
        """Wake every request sleeping on latency or a slow fault, so a server can stop promptly."""
        self._stop.set()

    def handle(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
               *, timeout: float | None = None) -> Response:
        """Answer one request. Raises ConnectionReset for the reset fault, and ResponseTimeout when an
        answer would take longer than `timeout` seconds (in-process callers pass their read timeout)."""
        with self._lock:
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            return self._handle(method.upper(), url, {key.lower(): value for key, value in headers.items()}, body,
                                timeout)
        finally:
            with self._lock:
                self._in_flight -= 1

    # ------------------------------------------------------------------ dispatch

    def _handle(self, method: str, url: str, headers: dict[str, str], body: bytes, timeout: float | None) -> Response:
        parts = urlsplit(url)
        path = unquote(parts.path)
        params = {key.lower(): values[-1] for key, values in parse_qs(parts.query).items()}
        endpoint, match, expected = self._route(path)
        self._wait(self.settings.latency_seconds, timeout, endpoint)
        if endpoint == "unknown":
            return self._finish(endpoint, _error(404, "NotFound", f"The emulator does not serve {method} {path}."))
        token = _bearer(headers.get("authorization", ""))
        if token is None:
            # ARM's answer to a request without a usable bearer token; the token itself is never echoed.
            problem = "missing" if "authorization" not in headers else "provided in an invalid format"
            code = "AuthenticationFailed" if problem == "missing" else "AuthenticationFailedInvalidHeader"
            response = _error(401, code, f"Authentication failed. The 'Authorization' header is {problem}.")
            response[1]["WWW-Authenticate"] = ('Bearer authorization_uri="https://login.microsoftonline.com/common", '
                                               'error="invalid_token", error_description="The authentication failed '
                                               f'because the \'Authorization\' header is {problem}."')
            return self._finish(endpoint, response)
        if method != expected:
            return self._finish(endpoint, _error(405, "MethodNotAllowed",
                                                 f"The requested method {method} is not allowed for {path}."))
        api_version = params.get("api-version")
        if not api_version:
            return self._finish(endpoint, _error(400, "MissingApiVersionParameter",
                                                 "The api-version query parameter (?api-version=) is required for all "
                                                 "requests."))
        with self._lock:
            self._numbers[endpoint] += 1
            number = self._numbers[endpoint]
        key = hashlib.sha256(token.encode()).hexdigest()  # quota is per identity; the token is not kept
        fault = self.settings.faults.fault_for(endpoint, number)
        if fault is not None:
            with self._lock:
                self._faults[fault.kind] += 1
            response = self._inject(endpoint, fault, timeout, key)
            if response is not None:
                return self._finish(endpoint, response)
        if endpoint == "resourcegraph":
            return self._finish(endpoint, self._resource_graph(api_version, body, key, fault))
        assert match is not None
        return self._finish(endpoint, self._resource_get(endpoint, api_version, match))

    def _route(self, path: str) -> tuple[str, re.Match[str] | None, str]:
        if _RESOURCE_GRAPH.match(path):
            return "resourcegraph", None, "POST"
        for name, pattern in (("instanceview", _INSTANCE_VIEW), ("vault", _VAULT)):
            match = pattern.match(path)
            if match:
                return name, match, "GET"
        return "unknown", None, ""

    def _inject(self, endpoint: str, fault: Fault, timeout: float | None, key: str) -> Response | None:
        if fault.kind == "reset":
            with self._lock:
                self._requests[(endpoint, "reset")] += 1
            raise ConnectionReset(f"emulated connection reset on {endpoint}")
        if fault.kind == "slow":
            self._wait(fault.seconds, timeout, endpoint)
            return None
        if fault.kind in ("429", "429-no-retry-after"):
            response = (self._throttle(key, fault.kind == "429") if endpoint == "resourcegraph"
                        else _arm_throttle(fault.kind == "429"))
            with self._lock:
                self._throttled += 1
            return response
        if fault.kind in ("500", "502", "503", "504"):
            code, message = _SERVER_ERRORS[int(fault.kind)]
            return _error(int(fault.kind), code, f"{message} {_support_info()}")
        return None  # truncated: applied to the Resource Graph page itself

    def _finish(self, endpoint: str, response: Response) -> Response:
        with self._lock:
            self._requests[(endpoint, str(response[0]))] += 1
        return response

    def _wait(self, seconds: float, timeout: float | None, endpoint: str) -> None:
        if seconds <= 0:
            return
        if timeout is not None and seconds > timeout:
            self._stop.wait(timeout)
            with self._lock:
                self._requests[(endpoint, "timeout")] += 1
            raise ResponseTimeout(f"no answer from {endpoint} within {timeout} s")
        self._stop.wait(seconds)

    # ------------------------------------------------------------------ Resource Graph

    def _quota_take(self, key: str) -> tuple[bool, int, float]:
        """A fixed window per identity that starts with its first query (as the documented headers behave:
        `remaining 10, resets after 00:00:03`, then 15 and 00:00:05 again)."""
        now = time.monotonic()
        window, quota = self.settings.quota_window_seconds, self.settings.quota_requests
        with self._lock:
            start, used = self._quota.get(key, (now, 0))
            if now - start >= window:
                start, used = now, 0
            allowed = used < quota
            used += allowed
            self._quota[key] = (start, used)
        return allowed, quota - used, window - (now - start)

    def _quota_headers(self, remaining: int, resets_after: float) -> dict[str, str]:
        return {"x-ms-user-quota-remaining": str(max(remaining, 0)),
                "x-ms-user-quota-resets-after": _hh_mm_ss(resets_after)}

    def _throttle(self, key: str, retry_after: bool) -> Response:
        """Resource Graph's 429 (azure-cli-extensions#3325): RateLimiting, quota headers at 0."""
        response = _error(429, "RateLimiting", _support_info(), [{
            "code": "RateLimiting",
            "message": "Client application has been throttled and should not attempt to repeat the request until an "
                       "amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.",
        }])
        with self._lock:
            start, _ = self._quota.get(key, (time.monotonic(), 0))
        resets_after = max(self.settings.quota_window_seconds - (time.monotonic() - start), 0.0)
        response[1].update(self._quota_headers(0, resets_after))
        if retry_after:
            response[1]["Retry-After"] = str(max(1, math.ceil(resets_after)))
        return response

    def _resource_graph(self, api_version: str, body: bytes, key: str, fault: Fault | None) -> Response:
        if api_version not in RESOURCE_GRAPH_API_VERSIONS:
            return _error(400, "NoRegisteredProviderFound",
                          f"No registered resource provider found for location 'global' and API version "
                          f"'{api_version}' for type 'resources'. The supported api-versions are "
                          f"'{', '.join(RESOURCE_GRAPH_API_VERSIONS)}'.")
        allowed, remaining, resets_after = self._quota_take(key)
        if not allowed:
            with self._lock:
                self._throttled += 1
            return self._throttle(key, self.settings.retry_after_on_429)
        response = self._query(body, fault)
        response[1].update(self._quota_headers(remaining, resets_after))
        return response

    def _query(self, body: bytes, fault: Fault | None) -> Response:
        try:
            request = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            return _invalid_content(f"not JSON ({exc})")
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return _invalid_content("the body must be a QueryRequest object with a 'query' string")
        options = request.get("options") or {}
        problem = _options_problem(options)
        if problem:
            return _invalid_content(problem)
        scope = self._scope(request, bool(options.get("allowPartialScopes")))
        if not isinstance(scope, _Scope):
            return scope
        text = request["query"]
        try:
            query = kql.parse(text)
        except kql.QueryError as exc:
            # Azure's InvalidQuery detail, then the reason (Azure adds ParserFailure details with a position).
            return _bad_request([
                {"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the "
                                                    "Azure Resource Graph service and fix the error before retrying."},
                {"code": "ParserFailure", "message": str(exc), "line": 1 + text.count("\n", 0, exc.position),
                 "characterPositionInLine": exc.position - (text.rfind("\n", 0, exc.position) + 1), "token": exc.token},
            ])
        with self._lock:
            self._actions.update((RESOURCE_GRAPH_ACTION, scope_id) for scope_id in scope.scope_ids)
            self._queried.update((query.table, type_key) for type_key in (query.type_keys() or ["*"]))
        rows = self._result(query, scope.subscriptions)

        digest = _query_context(request)
        token = None
        if options.get("$skipToken"):
            token = _decode_token(options["$skipToken"])
            if token is None or token.digest != digest:
                # Emulator's choice of code: Azure's answer to a foreign token is not documented.
                return _bad_request([{"code": "InvalidSkipToken",
                                      "message": "The $skipToken is invalid or belongs to another query or scope; send "
                                                 "it with the same query and scopes as the request that returned it."}])
        size = options.get("$top") or (token.page_size if token else self.settings.default_page_size)
        size = min(size, self.settings.page_size_cap)
        offset = options["$skip"] if options.get("$skip") is not None else (token.offset if token else 0)
        page = rows[offset:offset + size]
        more = offset + len(page) < len(rows)
        truncated = more and ((fault is not None and fault.kind == "truncated") or not query.pageable)
        result: dict[str, Any] = {"totalRecords": len(rows), "count": len(page),
                                  "resultTruncated": "true" if truncated else "false"}
        if more and not truncated:
            result["$skipToken"] = _encode_token(_Token(size, offset + size, digest))
        projected = [query.project(row) for row in page]
        result["data"] = _table(query, projected) if options.get("resultFormat") == "table" else projected
        result["facets"] = []
        payload = json.dumps(result, separators=(",", ":")).encode()
        if len(payload) > self.settings.max_response_bytes:
            return _bad_request([{
                "code": "ResponsePayloadTooLarge",
                "message": f"Response payload size is {len(payload)}, and has exceeded the limit of "
                           f"{self.settings.max_response_bytes}. Please consider querying less data at a time and "
                           "make paginated call if needed.",
            }])
        with self._lock:
            self._rows_served += len(page)
        response = _json(200, payload)
        if scope.limit_hit:
            response[1]["x-ms-tenant-subscription-limit-hit"] = "true"
        return response

    def _scope(self, request: dict[str, Any], allow_partial: bool) -> Response | _Scope:
        """The subscriptions a request reads: those named, those under the named management groups, or
        (neither named) every subscription of the tenant. Unreadable ones cannot be named (403) and are
        silently outside management-group and tenant scopes, as RBAC filtering does."""
        named = request.get("subscriptions") or []
        groups = request.get("managementGroups") or []
        if not isinstance(named, list) or not isinstance(groups, list) \
                or not all(isinstance(item, str) for item in [*named, *groups]):
            return _invalid_content("'subscriptions' and 'managementGroups' must be lists of strings")
        known = self.estate.subscriptions
        for subscription in named:
            if subscription.lower() in self._forbidden or subscription.lower() not in known:
                return _access_denied()
        wide: list[str] = []
        scopes = [f"/subscriptions/{subscription}" for subscription in named]
        for group in groups:
            members = self.estate.management_group_subscriptions(group)
            if members is None:
                return _access_denied()
            wide += members
            scopes.append(f"/providers/Microsoft.Management/managementGroups/{group}")
        if not named and not groups:
            wide = list(known)
            scopes.append("/")
        wide = sorted({member for member in wide if member in known and member not in self._forbidden})
        limit = self.settings.tenant_subscription_limit
        limit_hit = len(wide) > limit
        if limit_hit and not allow_partial:
            return _bad_request([{
                "code": "TooManySubscriptionsUnderScope",
                "message": f"The number of subscriptions under provided tenant or management groups in the request has "
                           f"exceeded the allowed limit {limit}. Please select a more granular scope or allow partial "
                           "scopes results by passing AllowPartialScopes flag in the query options.",
            }])
        chosen = sorted({subscription.lower() for subscription in named} | set(wide[:limit]))
        return _Scope(chosen, scopes, limit_hit)

    def _result(self, query: kql.Query, subscriptions: list[str]) -> list[Mapping[str, Any]]:
        """The whole ordered result of a query over a scope, cached so paging does not re-run it."""
        key = (query, tuple(subscriptions))
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        wanted = query.subscription_filter()
        in_scope = [subscription for subscription in subscriptions if wanted is None or subscription in wanted]
        rows = query.evaluate(self.estate.rows(query.table, in_scope, query.type_keys()))
        with self._lock:
            self._results[key] = rows
            while len(self._results) > _RESULT_CACHE_SIZE:
                self._results.popitem(last=False)
        return rows

    # ------------------------------------------------------------------ compute and recovery services

    def _resource_get(self, endpoint: str, api_version: str, match: re.Match[str]) -> Response:
        if not _API_VERSION.match(api_version):
            return _error(400, "InvalidApiVersionParameter", f"The api-version '{api_version}' is invalid.")
        subscription, group, name = match["sub"], match["rg"], match["name"]
        provider, action = (("Microsoft.Compute/virtualMachines", INSTANCE_VIEW_ACTION) if endpoint == "instanceview"
                            else ("Microsoft.RecoveryServices/vaults", VAULT_READ_ACTION))
        resource_id = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{provider}/{name}"
        with self._lock:
            self._actions.add((action, resource_id))
        if subscription.lower() in self._forbidden:
            return _error(403, "AuthorizationFailed",
                          f"The client '{EMULATOR_CLIENT_ID}' with object id '{EMULATOR_CLIENT_ID}' does not have "
                          f"authorization to perform action '{action}' over scope '{resource_id}' or the scope is "
                          "invalid. If access was recently granted, please refresh your credentials.")
        if subscription.lower() not in self.estate.subscriptions:
            return _error(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")
        if not self.estate.has_resource_group(subscription, group):
            return _error(404, "ResourceGroupNotFound", f"Resource group '{group}' could not be found.")
        now = datetime.now(timezone.utc).isoformat()
        found = (self.estate.instance_view(resource_id, now) if endpoint == "instanceview"
                 else self.estate.vault(resource_id))
        if found is None:
            return _error(404, "ResourceNotFound",
                          f"The Resource '{provider}/{name}' under resource group '{group}' was not found. For more "
                          "details please go to https://aka.ms/ARMResourceNotFoundFix")
        return _json(200, json.dumps(found).encode())


# ---------------------------------------------------------------------- helpers

def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _hh_mm_ss(seconds: float) -> str:
    # Rounded up, so a client that waits as long as the header says is never throttled for waiting too little.
    whole = max(0, math.ceil(seconds))
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _support_info() -> str:
    return (f"Please provide below info when asking for support: timestamp = "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}, correlationId = {uuid.uuid4()}.")


def _json(status: int, payload: bytes) -> Response:
    request_id = str(uuid.uuid4())
    return status, {"Content-Type": "application/json; charset=utf-8", "x-ms-request-id": request_id,
                    "x-ms-correlation-request-id": request_id}, payload


def _error(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return _json(status, json.dumps({"error": error}).encode())


def _bad_request(details: list[dict[str, Any]]) -> Response:
    """Resource Graph's 400: code BadRequest, a support message, the reason in `details`."""
    return _error(400, "BadRequest", _support_info(), details)


def _arm_throttle(retry_after: bool) -> Response:
    """ARM's own read throttling, for the compute and vault GETs."""
    response = _error(429, "TooManyRequests",
                      "Number of 'read' requests exceeded. Please try again after '5' seconds after additional tokens "
                      "are available. Refer to https://aka.ms/arm-throttling")
    if retry_after:
        response[1]["Retry-After"] = "5"
    return response


def _access_denied() -> Response:
    # Resource Graph's 403 as returned to clients (azure-sdk-for-java#29924, aztfexport#410): it does not say
    # which subscription was denied, so a crawler isolates it by splitting the batch.
    return _error(403, "AccessDenied", _support_info(), [{
        "code": "AccessDenied",
        "message": "Access is denied to the requested resource. The user might not have enough permission.",
    }])


def _invalid_content(reason: str) -> Response:
    return _error(400, "InvalidRequestContent",
                  f"The request content was invalid and could not be deserialized: {reason}.")


def _options_problem(options: Any) -> str | None:
    if not isinstance(options, dict):
        return "'options' must be an object"
    for name, minimum in (("$top", 1), ("$skip", 0)):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            return f"options.{name} must be an integer >= {minimum}"
    if options.get("$skipToken") is not None and not isinstance(options["$skipToken"], str):
        return "options.$skipToken must be a string"
    if options.get("resultFormat") not in (None, "objectArray", "table"):
        return "options.resultFormat must be 'objectArray' or 'table'"
    return None


def _query_context(request: dict[str, Any]) -> str:
    """What a $skipToken is bound to: the query text and the scopes as the request named them."""
    context = [request["query"], sorted(name.lower() for name in request.get("subscriptions") or []),
               sorted(name.lower() for name in request.get("managementGroups") or [])]
    return hashlib.sha256(json.dumps(context).encode()).hexdigest()[:32]


def _encode_token(token: _Token) -> str:
    # Opaque to clients, like Azure's (base64 JSON carrying page size, offset and the query's context).
    document = {"$id": "1", "MaxRows": token.page_size, "RowsToSkip": token.offset, "QueryContext": token.digest}
    return base64.b64encode(json.dumps(document).encode()).decode()


def _decode_token(text: str) -> _Token | None:
    try:
        document = json.loads(base64.b64decode(text.encode(), validate=True))
        return _Token(int(document["MaxRows"]), int(document["RowsToSkip"]), str(document["QueryContext"]))
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None


def _table(query: kql.Query, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The `table` result format: column descriptors and rows of values."""
    names = list(query.columns) if query.columns is not None else list(rows[0]) if rows else []
    columns = [{"name": name, "type": "object" if name in kql.DYNAMIC_COLUMNS else "string"} for name in names]
    return {"columns": columns, "rows": [[row.get(name) for name in names] for row in rows]}

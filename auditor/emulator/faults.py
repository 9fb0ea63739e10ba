"""Emulator settings and the deterministic fault plan.

A fault plan says which requests fail and how. Each fault names a kind and when it fires: on given
request numbers, on every k-th request, or with a probability. Request numbers count per endpoint
from 1; probabilities are drawn from a generator seeded by (seed, endpoint, request number), so the
same plan fails the same requests in every run, whatever the thread interleaving.

    FaultPlan.parse("503@10%, reset@5%, seed=7")      # 10% 503s and 5% connection resets
    FaultPlan.parse("500@1|2, 429@every4, slow=30@3")  # the 1st and 2nd fail, every 4th is throttled...
    FaultPlan((Fault("reset", on=(2,), endpoint="instanceview"),))
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

FAULT_KINDS = ("429", "429-no-retry-after", "500", "502", "503", "504", "reset", "slow", "truncated")
ENDPOINTS = ("resourcegraph", "instanceview", "vault", "any")
_ITEM = re.compile(r"^(?P<kind>[a-z0-9-]+)(?:=(?P<seconds>\d+(?:\.\d+)?))?@(?P<when>[^:]+)(?::(?P<endpoint>[a-z]+))?$")


@dataclass(frozen=True)
class Fault:
    """One kind of failure and when it fires.

    kind: 429 (RateLimiting with Retry-After), 429-no-retry-after, 500/502/503/504, reset (the connection
    is dropped without a response), slow (answer only after `seconds`), truncated (a Resource Graph page
    with resultTruncated "true" and no $skipToken although rows remain).
    """

    kind: str
    on: tuple[int, ...] = ()  # 1-based request numbers on the endpoint
    every: int = 0  # every k-th request
    probability: float = 0.0
    endpoint: str = "resourcegraph"
    seconds: float = 30.0  # how long `slow` waits before answering

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind '{self.kind}'; use one of {', '.join(FAULT_KINDS)}.")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown fault endpoint '{self.endpoint}'; use one of {', '.join(ENDPOINTS)}.")
        if not 0.0 <= self.probability <= 1.0 or self.every < 0 or any(number < 1 for number in self.on):
            raise ValueError(f"fault '{self.kind}': probability must be in [0, 1], every >= 0, request numbers >= 1.")
        if not (self.on or self.every or self.probability):
            raise ValueError(f"fault '{self.kind}' never fires: give on=, every= or probability=.")


@dataclass(frozen=True)
class FaultPlan:
    faults: tuple[Fault, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for endpoint in ENDPOINTS:
            total = sum(fault.probability for fault in self.faults if fault.endpoint in (endpoint, "any"))
            if total > 1.0 + 1e-9:
                raise ValueError(f"fault probabilities for '{endpoint}' add up to {total:.2f}, more than 100%.")

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> FaultPlan:
        """`kind[=seconds]@when[:endpoint]` items separated by commas, plus an optional `seed=N`.

        when: `10%` (probability), `3` or `3|7` (request numbers), `every4` (every 4th request).
        """
        faults = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            if item.startswith("seed="):
                seed = int(item[5:])
                continue
            match = _ITEM.match(item)
            if not match:
                raise ValueError(f"fault '{item}' is not kind[=seconds]@when[:endpoint], e.g. 503@10% or reset@3.")
            when, options = match["when"], {}
            if when.endswith("%"):
                options["probability"] = float(when[:-1]) / 100
            elif when.startswith("every"):
                options["every"] = int(when[5:])
            else:
                options["on"] = tuple(int(number) for number in when.split("|"))
            if match["seconds"]:
                options["seconds"] = float(match["seconds"])
            faults.append(Fault(match["kind"], endpoint=match["endpoint"] or "resourcegraph", **options))
        return cls(tuple(faults), seed)

    def fault_for(self, endpoint: str, number: int) -> Fault | None:
        """The fault (if any) for request `number` on `endpoint`: scheduled faults first, then one draw."""
        applicable = [fault for fault in self.faults if fault.endpoint in (endpoint, "any")]
        for fault in applicable:
            if number in fault.on or (fault.every and number % fault.every == 0):
                return fault
        if not any(fault.probability for fault in applicable):
            return None
        # Mutually exclusive bands of one draw: "10% 503 and 5% resets" fails exactly 15% of requests.
        draw = random.Random(f"{self.seed}/{endpoint}/{number}").random()
        for fault in applicable:
            if draw < fault.probability:
                return fault
            draw -= fault.probability
        return None


@dataclass
class EmulatorSettings:
    quota_requests: int = 15  # Resource Graph queries per window per identity (bearer token)
    quota_window_seconds: float = 5.0
    latency_seconds: float = 0.0  # added to every request, real time, so concurrent clients overlap
    page_size_cap: int = 1000  # the most rows a Resource Graph page holds, whatever $top says
    default_page_size: int = 100  # rows per page when the request has no $top (Resource Graph's default)
    max_response_bytes: int = 16 * 1024 * 1024  # larger pages answer ResponsePayloadTooLarge
    retry_after_on_429: bool = True
    forbidden_subscriptions: set[str] = field(default_factory=set)
    tenant_subscription_limit: int = 10_000  # subscriptions a tenant or management-group query may cover
    faults: FaultPlan = field(default_factory=FaultPlan)

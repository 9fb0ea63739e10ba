"""Serve an estate from the Azure emulator over HTTPS until stopped, for benchmarks and manual runs.

    python -m auditor.emulator --estate estate.jsonl.gz --latency 0.6
    DR_AUDIT_EMULATOR_URL=https://127.0.0.1:40123
    REQUESTS_CA_BUNDLE=/tmp/dr-audit-emulator-.../ca.pem

The two lines on stdout can be eval'd by a shell; then, in another terminal:

    DR_AUDIT_ACCESS_TOKEN=any REQUESTS_CA_BUNDLE=... dr-audit crawl --tenant \\
        --arm-endpoint "$DR_AUDIT_EMULATOR_URL" --output snapshot.jsonl.gz

It stops on Ctrl-C or SIGTERM; with --stats FILE it then writes what the clients did (requests by
endpoint and outcome, rows served, 429s, peak concurrency) as JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import threading
from pathlib import Path

from auditor.emulator.estate import Estate
from auditor.emulator.faults import EmulatorSettings, FaultPlan
from auditor.emulator.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auditor.emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--estate", type=Path, required=True, help="any snapshot file dr-audit reads")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--quota", type=int, default=15, help="Resource Graph queries per window and identity")
    parser.add_argument("--window", type=float, default=5.0, help="quota window in seconds")
    parser.add_argument("--faults", default="", help="fault plan, e.g. '503@5%%,reset@2%%,seed=7'")
    parser.add_argument("--forbid", action="append", default=[], metavar="SUBSCRIPTION",
                        help="answer 403 for this subscription (repeatable)")
    parser.add_argument("--no-retry-after", action="store_true", help="429 answers without Retry-After")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--stats", type=Path, help="write the request statistics here (JSON) when stopped")
    args = parser.parse_args(argv)

    try:
        faults = FaultPlan.parse(args.faults)
    except ValueError as exc:
        parser.error(str(exc))
    estate = Estate.from_snapshot_file(args.estate)
    # The estate is read once and never changes: keep its millions of objects out of the collector's
    # full passes, which would otherwise stall every request now and then (Azure does not).
    gc.collect()
    gc.freeze()
    settings = EmulatorSettings(quota_requests=args.quota, quota_window_seconds=args.window,
                                latency_seconds=args.latency, retry_after_on_429=not args.no_retry_after,
                                forbidden_subscriptions=set(args.forbid), faults=faults)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with serve(estate, settings, port=args.port) as server:
        print(f"DR_AUDIT_EMULATOR_URL={server.url}", flush=True)
        print(f"REQUESTS_CA_BUNDLE={server.ca_bundle}", flush=True)
        print(f"serving {len(estate.subscriptions)} subscriptions from {args.estate} "
              f"(latency {args.latency:g} s, quota {args.quota} per {args.window:g} s); Ctrl-C stops", file=sys.stderr,
              flush=True)
        while not stop.wait(0.5):
            pass
        stats = server.app.stats()
    if args.stats:
        args.stats.write_text(json.dumps({
            "requests": {f"{endpoint} {outcome}": number for (endpoint, outcome), number in sorted(stats.requests.items())},
            "rows_served": stats.rows_served,
            "throttled": stats.throttled,
            "peak_concurrency": stats.peak_concurrency,
            "faults": stats.faults,
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

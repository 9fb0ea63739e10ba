"""Crawler at scale: `dr-audit crawl` against the Azure emulator in another process, over HTTPS, with
Azure-like latency and Resource Graph's quota.

    python benchmarks/crawl_scale.py                          # 10k and 100k rows, 0.6 s latency
    python benchmarks/crawl_scale.py --rows 1000000 --latency 0.6
    python benchmarks/crawl_scale.py --rows 100000 --faults "503@3%,reset@2%,seed=7"

For each size it generates the synthetic estate (benchmarks/synthetic.py, cached in --work), starts
`python -m auditor.emulator --estate FILE --latency L` and crawls the whole tenant with
`dr-audit crawl --tenant --arm-endpoint URL` (DR_AUDIT_ACCESS_TOKEN and REQUESTS_CA_BUNDLE set, as a
user would), then reports:

- requests sent (the emulator's count, every outcome) vs the minimum: ceil(rows / 1000) per stream
  (query x batch of 100 subscriptions, recomputed here from the crawled snapshot) plus the pages of
  the subscription list; "wasted" is the share above the minimum;
- the achieved request rate vs the quota (15 per 5 s = 3 requests/s), the same for the useful
  requests only (the minimum over the wall time: wasted requests do not count), and the wall time vs the least
  time the quota and latency allow: max(5 s per 15 requests after the first 15, the longest stream's
  pages one latency each);
- retries and 429s, and the crawler process's peak memory (RSS, from wait4).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import write_estate  # noqa: E402

from auditor.inventory.crawler import CrawlSettings  # noqa: E402
from auditor.inventory.queries import QUERIES  # noqa: E402

PAGE = 1000


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[int, float, float, str, str]:
    """Run a command; its exit code, wall seconds, peak RSS in MB (from wait4, the child's own) and
    its stdout and stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, seconds, usage.ru_maxrss / 1024, out.read().decode(), err.read().decode()


def minimum_requests(snapshot: Path) -> tuple[int, int, int]:
    """(minimum requests, streams, pages of the longest stream) for the crawler's streams: each query of
    queries.py over each batch of `batch_size` subscriptions (sorted, lower-cased), ceil(rows/1000)
    pages each (at least one), plus the subscription list's pages."""
    batch_size = CrawlSettings().batch_size
    query_of = {kind: query.name for query in QUERIES for kind in query.types}
    rows: Counter[tuple[str, str]] = Counter()
    subscriptions: set[str] = set()
    with gzip.open(snapshot, "rb") as handle:
        for line in handle:
            row = json.loads(line)
            if "dr_audit_snapshot" in row:
                for scope in row["dr_audit_snapshot"].get("scopes", []):
                    if scope.get("subscription_id"):
                        subscriptions.add(scope["subscription_id"].lower())
                continue
            rows[(query_of[row["type"].lower()], row["subscriptionId"].lower())] += 1
    ordered = sorted(subscriptions)
    batch_of = {subscription: index // batch_size for index, subscription in enumerate(ordered)}
    per_stream: Counter[tuple[str, int]] = Counter()
    for (query, subscription), number in rows.items():
        per_stream[(query, batch_of[subscription])] += number
    batches = math.ceil(len(ordered) / batch_size)
    pages = {(query.name, batch): max(1, math.ceil(per_stream[(query.name, batch)] / PAGE))
             for query in QUERIES for batch in range(batches)}
    listing = max(1, math.ceil(len(ordered) / PAGE))
    return sum(pages.values()) + listing, len(pages), max(pages.values())


def crawl_once(estate: Path, work: Path, latency: float, faults: str) -> dict[str, object]:
    stats_file = work / "emulator-stats.json"
    stats_file.unlink(missing_ok=True)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "auditor.emulator", "--estate", str(estate), "--latency", str(latency),
         "--faults", faults, "--stats", str(stats_file)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        lines = dict(emulator.stdout.readline().strip().split("=", 1) for _ in range(2))  # type: ignore[union-attr]
        env = dict(os.environ, DR_AUDIT_ACCESS_TOKEN="benchmark", REQUESTS_CA_BUNDLE=lines["REQUESTS_CA_BUNDLE"])
        output = work / f"crawl-{estate.stem}.jsonl.gz"
        code, seconds, rss, out, err = run_measured(
            ["dr-audit", "crawl", "--tenant", "--arm-endpoint", lines["DR_AUDIT_EMULATOR_URL"], "--output",
             str(output), "--quiet"], env)
    finally:
        emulator.terminate()
        emulator.wait(timeout=60)
    if code not in (0, 3):
        raise SystemExit(f"dr-audit crawl failed ({code}): {err.strip()}")
    server = json.loads(stats_file.read_text())
    requests = sum(number for outcome, number in server["requests"].items() if outcome.startswith("resourcegraph"))
    minimum, streams, longest = minimum_requests(output)
    crawl_seconds = float(out.rsplit(" and ", 1)[1].rstrip(".\n s"))
    quota_bound = (requests - 1) // 15 * 5 + latency
    chain_bound = (longest + 1) * latency  # the subscription list, then the longest stream page by page
    return {
        "rows": int(out.split(": ", 1)[1].split(" rows", 1)[0].replace(",", "")),
        "streams": streams,
        "requests": requests,
        "minimum": minimum,
        "wasted": requests / minimum - 1,
        "retries": int(out.split("requests (", 1)[1].split(" retries", 1)[0]),
        "throttled": server["throttled"],
        "seconds": crawl_seconds,
        "process_seconds": seconds,
        "rate": requests / crawl_seconds,
        "least_seconds": max(quota_bound, chain_bound),
        "rss_mb": rss,
        "exit": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--latency", type=float, default=0.6)
    parser.add_argument("--faults", default="")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dr-audit-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; latency "
          f"{args.latency:g} s, quota 15 per 5 s (3 requests/s){', faults ' + args.faults if args.faults else ''}")
    print("| rows | streams | requests | minimum | wasted | retries | 429s | wall | rate | rate / quota | "
          "minimum / wall / quota | least wall (quota, latency) | crawler peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        estate = args.work / f"estate-{rows}.jsonl.gz"
        if not estate.exists():
            write_estate(estate, rows)
        result = crawl_once(estate, args.work, args.latency, args.faults)
        print(f"| {result['rows']:,} | {result['streams']} | {result['requests']:,} | {result['minimum']:,} | "
              f"{result['wasted']:.1%} | {result['retries']} | {result['throttled']} | {result['seconds']:.1f} s | "
              f"{result['rate']:.2f}/s | {result['rate'] / 3:.0%} | {result['minimum'] / result['seconds'] / 3:.0%} | "
              f"{result['least_seconds']:.1f} s "
              f"({result['least_seconds'] / result['seconds']:.0%} of wall) | {result['rss_mb']:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()

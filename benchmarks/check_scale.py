"""`dr-audit check` at 10k, 100k and 1M rows: end to end against a bare JSON parse of the same file,
the stages (snapshot load, inventory, rules, findings, reports) and peak memory.

    python benchmarks/check_scale.py                       # 10k and 100k rows, 3 runs each
    python benchmarks/check_scale.py --rows 1000000 --runs 1
    python benchmarks/check_scale.py --stages FILE         # one in-process run, stage by stage (used above)

Every measurement is a separate process, timed by wall clock, with its peak RSS read from wait4 and,
for the check, in one more run, the peak memory of its process tree (the sum of the PSS of the process
and the copies it forks, sampled every 0.25 s: shared pages counted once, the copies' own pages counted
too):

- bare parse (json): `for line in gzip.open(FILE): json.loads(line)`, the standard library, rows discarded;
- bare parse (orjson): the same with orjson.loads;
- check: `dr-audit check --snapshot FILE --out DIR` with the default formats (report.html, findings.json);
- stages: the same pipeline in one process with a clock around each stage, the stages after the load
  under heap.long_lived() as audit() runs them: load (read_snapshot:
  decompress, parse, validate, extract the inventory's fields), inventory (tables and joins), rules
  (every rule's masks and unknown reasons), findings (the ranked findings document), reports
  (report.html and findings.json rendered and written).

The estates come from benchmarks/synthetic.py and are cached in --work.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BARE_JSON = "import gzip, json, sys\nfor line in gzip.open(sys.argv[1]): json.loads(line)"
BARE_ORJSON = "import gzip, orjson, sys\nfor line in gzip.open(sys.argv[1]): orjson.loads(line)"


def tree_pss(root: int) -> float:
    """MB of memory the process `root` and its descendants hold, each shared page counted once (the sum
    of their proportional set sizes): what forked copies add, which no single process's RSS shows.

    A sample taken while a copy exits would count the pages it shared twice (its share read before it
    exits, the parent's whole page after), so a sample during which the tree changed is taken again."""
    for _ in range(5):
        before = _tree(root)
        total = 0
        for pid in before:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as rollup:
                    total += sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
            except (OSError, ValueError):
                continue
        if _tree(root) == before:
            break
    return total / 1024


def _tree(root: int) -> dict[int, str]:
    """The living processes of the tree under `root` (itself included), each with its state letter."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = (int(fields[1]), fields[0])
            except (OSError, ValueError, IndexError):
                continue
    tree, grown = {root}, True
    while grown:
        grown = False
        for pid, (parent, _) in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grown = True
    return {pid: parents[pid][1] for pid in tree if pid in parents and parents[pid][1] not in "ZX"}


def run_measured(command: list[str], sampled: bool = False) -> tuple[int, float, float, str, float]:
    """Exit code, wall seconds, peak RSS in MB (the largest of the command and the processes it forked,
    from wait4), stdout, and with `sampled` the peak of the process tree's memory (tree_pss every 0.25 s;
    reading it costs the kernel a walk of the page tables, so timed runs are not sampled)."""
    peak = 0.0
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.DEVNULL)
        if sampled:
            while not (reaped := os.wait4(process.pid, os.WNOHANG))[0]:
                peak = max(peak, tree_pss(process.pid))
                time.sleep(0.25)
        else:
            reaped = os.wait4(process.pid, 0)
        _, status, usage = reaped
        seconds = time.perf_counter() - started
        out.seek(0)
        return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss / 1024, out.read().decode(), peak


def stages(path: Path) -> None:
    """One check, stage by stage, in this process; prints `name seconds` lines."""
    clock = time.perf_counter
    started = clock()
    from auditor.engine.run import run_rules
    from auditor.heap import long_lived
    from auditor.inventory.snapshot import read_snapshot
    from auditor.inventory.tables import build_inventory
    from auditor.pipeline import FILE_NAMES, load_rules, parse_as_of, render_format, write_atomically
    from auditor.report.findings import build_findings

    marks = [("import", clock() - started)]
    moment = clock()
    snapshot = read_snapshot(path)
    marks.append(("load", clock() - moment))
    with long_lived():  # as audit() runs every stage after the load
        moment = clock()
        rules = load_rules()
        marks.append(("catalog", clock() - moment))
        as_of = parse_as_of(snapshot.captured_at)
        moment = clock()
        inventory = build_inventory(snapshot.rows, as_of=as_of)
        marks.append(("inventory", clock() - moment))
        moment = clock()
        results = run_rules(inventory, rules)
        marks.append(("rules", clock() - moment))
        moment = clock()
        report = build_findings(snapshot=snapshot, inventory=inventory, results=results, as_of=as_of)
        marks.append(("findings", clock() - moment))
        del inventory, results  # as audit() does
        moment = clock()
        with tempfile.TemporaryDirectory() as out:
            rendered = {fmt: render_format(fmt, report, rules) for fmt in ("html", "json")}  # as audit() does
            write_atomically(Path(out), {FILE_NAMES[fmt]: text for fmt, text in rendered.items()})
        marks.append(("reports", clock() - moment))
    for name, seconds in marks:
        print(f"{name} {seconds:.3f}")
    print(f"findings_count {len(report['findings'])}")
    print(f"unknown_count {len(report['unknown'])}")


RUNS: dict[str, list[float]] = {}  # every run's wall seconds, by what ran, for the spread printed below the table


def median_run(command: list[str], runs: int, name: str = "") -> tuple[float, float, str, float]:
    """Median wall seconds, largest peak RSS, the median run's stdout, largest peak memory in use."""
    measured = [run_measured(command) for _ in range(runs)]
    RUNS[name] = [item[1] for item in measured]
    middle = sorted(measured, key=lambda item: item[1])[len(measured) // 2]
    return middle[1], max(item[2] for item in measured), middle[3], max(item[4] for item in measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is shown)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dr-audit-bench"))
    parser.add_argument("--stages", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stages:
        stages(args.stages)
        return
    from synthetic import write_estate

    args.work.mkdir(parents=True, exist_ok=True)
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"median of {args.runs} run(s)")
    header = ("| rows | gzip MB | bare parse json | bare parse orjson | check end to end | check / json parse | "
              "check / orjson parse | load | inventory | rules | findings | reports | rules / load | findings | "
              "peak RSS check | peak memory of check and its forks | peak RSS json parse |")
    print(header)
    print("|" + "---:|" * (header.count("|") - 1))
    spreads: list[str] = []
    for rows in args.rows:
        estate = args.work / f"estate-{rows}.jsonl.gz"
        if not estate.exists():
            write_estate(estate, rows)
        json_seconds, json_rss, _, _ = median_run([sys.executable, "-c", BARE_JSON, str(estate)], args.runs,
                                                  "bare json parse")
        orjson_seconds, _, _, _ = median_run([sys.executable, "-c", BARE_ORJSON, str(estate)], args.runs)
        with tempfile.TemporaryDirectory() as out:
            check = [sys.executable, "-m", "auditor.cli", "check", "--snapshot", str(estate), "--out", out]
            check_seconds, check_rss, _, _ = median_run(check, args.runs, "check")
            check_memory = run_measured(check, sampled=True)[4]  # one more run, for the memory
        stage_runs = []
        for _ in range(args.runs):
            _, _, _, text, _ = run_measured([sys.executable, str(Path(__file__).resolve()), "--stages", str(estate)])
            stage_runs.append(dict((line.split()[0], float(line.split()[1])) for line in text.splitlines()))
        stage = {key: statistics.median(run[key] for run in stage_runs) for key in stage_runs[0]}
        print(f"| {rows:,} | {estate.stat().st_size / 1e6:.1f} | {json_seconds:.2f} s | {orjson_seconds:.2f} s | "
              f"{check_seconds:.2f} s | {check_seconds / json_seconds:.2f}x | {check_seconds / orjson_seconds:.2f}x | "
              f"{stage['load']:.2f} s | {stage['inventory']:.2f} s | {stage['rules']:.2f} s | "
              f"{stage['findings']:.2f} s | {stage['reports']:.2f} s | {stage['rules'] / stage['load']:.2f} | "
              f"{int(stage['findings_count']):,} | {check_rss:,.0f} MB | {check_memory:,.0f} MB | {json_rss:,.0f} MB |", flush=True)
        spreads.append(f"# {rows:,} rows, every run: " + "; ".join(
            f"{name} " + ", ".join(f"{seconds:.2f}" for seconds in RUNS[name]) + " s" for name in ("bare json parse", "check")))
    for line in spreads:
        print(line)


if __name__ == "__main__":
    main()

"""--history FILE: the SQLite history store (embedded, no server) behind weekly runs.

Each run records its scope, time, tool version, counts and findings; each finding keeps its lifecycle
by stable id. A run gives every finding a status against the history:

- `new`: never seen before; `reopened`: seen before, recorded as fixed since, back now; `open`: open at
  its last observation.
- `fixed` (listed in the document's `fixed`, not a status of a current finding): open at its last
  observation and absent now, in a subscription this run read completely. A finding in a subscription
  that was not read, or not read completely, is never marked fixed: missing data is not a fix. A
  workload finding needs every subscription its VMs are in.
- `days_open`: whole days from the start of the finding's current open period to this run's as-of.

Runs are taken in the order they are recorded. The trend (`history` in findings.json) has one point per
recent run that covered any of this run's subscriptions, counting the findings in those subscriptions,
so one file can serve jobs of different scopes.

Safe for concurrent runs: WAL journal, and each run's whole recording is one `BEGIN IMMEDIATE`
transaction held until its reports are written, so a second run waits (busy timeout) and then sees the
first run's results; a failed run records nothing. The schema is versioned (`PRAGMA user_version`,
`application_id`) and migrated forward in a transaction when a newer dr-audit opens an older file; a
file from a newer dr-audit, or a SQLite file that is not a history store, is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from auditor.errors import InputError
from auditor.report.baseline import FIXED_FIELDS, coverage

APPLICATION_ID = 0x44524155  # "DRAU": marks the file as a dr-audit history store
BUSY_TIMEOUT_SECONDS = 120.0
TREND_RUNS = 12
SEVERITIES = ("critical", "high", "medium", "low")
WORKLOADS = "*workloads"  # scope row for workload findings whose VMs span several subscriptions

# One entry per schema version: the statements that migrate version N-1 to N. Never edit a released
# entry; append a new one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            recorded_at TEXT NOT NULL,
            generated_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            source TEXT,
            fail_on TEXT NOT NULL,
            exit_code INTEGER NOT NULL,
            subscriptions INTEGER NOT NULL,
            incomplete INTEGER NOT NULL,
            open_critical INTEGER NOT NULL, open_high INTEGER NOT NULL,
            open_medium INTEGER NOT NULL, open_low INTEGER NOT NULL,
            waived INTEGER NOT NULL, unknown INTEGER NOT NULL,
            new INTEGER NOT NULL, reopened INTEGER NOT NULL, fixed INTEGER NOT NULL,
            score REAL,
            details TEXT NOT NULL
        )""",
        """CREATE TABLE run_scopes (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            scope TEXT NOT NULL,
            complete INTEGER NOT NULL,
            reason TEXT,
            open_critical INTEGER NOT NULL DEFAULT 0, open_high INTEGER NOT NULL DEFAULT 0,
            open_medium INTEGER NOT NULL DEFAULT 0, open_low INTEGER NOT NULL DEFAULT 0,
            waived INTEGER NOT NULL DEFAULT 0, new INTEGER NOT NULL DEFAULT 0,
            reopened INTEGER NOT NULL DEFAULT 0, fixed INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, scope)
        ) WITHOUT ROWID""",
        "CREATE INDEX run_scopes_scope ON run_scopes(scope, run_id)",
        """CREATE TABLE findings (
            id INTEGER PRIMARY KEY,
            finding_id TEXT NOT NULL UNIQUE,
            rule_id TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT,
            resource_id TEXT NOT NULL,
            resource_type TEXT,
            resource_name TEXT,
            subscription_id TEXT,
            resource_group TEXT,
            location TEXT,
            coverage TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'fixed')),
            first_seen_run INTEGER NOT NULL REFERENCES runs(id),
            first_seen_as_of TEXT NOT NULL,
            opened_run INTEGER NOT NULL REFERENCES runs(id),
            opened_as_of TEXT NOT NULL,
            last_seen_run INTEGER NOT NULL REFERENCES runs(id),
            last_seen_as_of TEXT NOT NULL,
            fixed_run INTEGER REFERENCES runs(id),
            fixed_as_of TEXT,
            times_reopened INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX findings_open ON findings(state) WHERE state = 'open'",
        """CREATE TABLE run_findings (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            finding INTEGER NOT NULL REFERENCES findings(id),
            status TEXT NOT NULL CHECK (status IN ('new', 'open', 'reopened', 'fixed')),
            waived INTEGER NOT NULL,
            PRIMARY KEY (run_id, finding)
        ) WITHOUT ROWID""",
    ),
]


def schema_version() -> int:
    return len(MIGRATIONS)


# ------------------------------------------------------------------------------------ connection


def _connect(path: Path) -> sqlite3.Connection:
    name = str(path)
    if not path.parent.is_dir():
        raise InputError(f"--history {name}: directory {path.parent} does not exist.")
    try:
        connection = sqlite3.connect(name, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise InputError(f"history file {name} cannot be opened: {exc}.") from None
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        _retry_busy(lambda: connection.execute("PRAGMA journal_mode = WAL").fetchone())
        _migrate(connection, name)
    except BaseException:
        connection.close()
        raise
    return connection


def _retry_busy(action):
    """Switching a new file to WAL can meet another process doing the same; wait like the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_error(name: str, exc: sqlite3.Error) -> InputError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return InputError(f"history file {name} is not a dr-audit history store (not a readable SQLite database: "
                          f"{text}).")
    if "locked" in text or "busy" in text:
        return InputError(f"history file {name} stayed locked by another run for {BUSY_TIMEOUT_SECONDS:g} s; try "
                          "again when it has finished.")
    if "readonly" in text or "unable to open" in text or "disk I/O" in text:
        return InputError(f"history file {name} cannot be written: {text}.")
    return InputError(f"history file {name}: {text}.")


def _migrate(connection: sqlite3.Connection, name: str) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if application not in (0, APPLICATION_ID) or (
                application == 0 and connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]):
            raise InputError(f"history file {name} is a SQLite database but not a dr-audit history store; give "
                             "another --history file.")
        if version > schema_version():
            raise InputError(f"history file {name} has schema version {version}, written by a newer dr-audit "
                             f"(this one reads up to {schema_version()}); upgrade dr-audit.")
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        if version < schema_version():
            connection.execute(f"PRAGMA user_version = {schema_version()}")
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def check_history_path(path: str | Path) -> None:
    """Before anything is crawled or written: an existing file must be a history store this version can
    use (it is migrated now); a new file needs an existing, writable directory. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--history {path} is a directory; give a file such as {path / 'audit.db'}.")
    if not path.exists():
        if not path.parent.is_dir():
            raise InputError(f"--history {path}: directory {path.parent} does not exist.")
        if not os.access(path.parent, os.W_OK):
            raise InputError(f"--history {path}: directory {path.parent} is not writable.")
        return
    try:
        _connect(path).close()
    except sqlite3.Error as exc:
        raise _sqlite_error(str(path), exc) from None


@contextmanager
def recording(path: str | Path) -> Iterator["Recorder"]:
    """One run's recording, as one write transaction: committed when the block ends normally (after
    the reports are written), rolled back when it raises."""
    path = Path(path)
    name = str(path)
    try:
        connection = _connect(path)
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _sqlite_error(name, exc) from None
    try:
        yield Recorder(connection, name)
        connection.execute("COMMIT")
    except sqlite3.Error as exc:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise _sqlite_error(name, exc) from None
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


# ------------------------------------------------------------------------------------- recording


def parse_time(text: str) -> datetime:
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def days_between(start: str, end: str) -> int:
    return max((parse_time(end) - parse_time(start)).days, 0)


def _scope_key(scope: dict[str, Any]) -> str:
    if scope.get("subscription_id"):
        return str(scope["subscription_id"]).lower()
    return "scope:" + str(scope.get("scope") or scope.get("id") or scope.get("name") or "unnamed")


def _home(finding: dict[str, Any]) -> str:
    return str(finding["subscription_id"]).lower() if finding.get("subscription_id") else WORKLOADS


class Recorder:
    def __init__(self, connection: sqlite3.Connection, name: str):
        self.db = connection
        self.name = name

    def record(self, report: dict[str, Any], *, exit_code: int, fail_on: str, source: str | None = None) -> int:
        """Record this run and annotate the document in place: each finding's status, open_since and
        days_open; `fixed`; summary.changes; `history` (the trend). Returns the run id."""
        db = self.db
        as_of = report["as_of"]
        findings = report["findings"]
        scopes = [scope for scope in report.get("scopes") or [] if isinstance(scope, dict)]
        complete = {str(s["subscription_id"]).lower() for s in scopes
                    if s.get("subscription_id") and s.get("status") == "complete"}
        all_complete = all(s.get("status") == "complete" for s in scopes)
        run_id = db.execute(
            "INSERT INTO runs (recorded_at, generated_at, as_of, tool_version, source, fail_on, exit_code, subscriptions,"
            " incomplete, open_critical, open_high, open_medium, open_low, waived, unknown, new, reopened, fixed, score,"
            " details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?, '{}')",
            (_iso_now(), report["generated_at"], as_of, str(report["tool"]["version"]), source, fail_on, exit_code,
             sum(1 for s in scopes if s.get("subscription_id")), sum(1 for s in scopes if s.get("status") != "complete"),
             report["summary"].get("score"))).lastrowid

        # The state of every current finding, through a temporary table of their ids.
        db.execute("CREATE TEMP TABLE IF NOT EXISTS current_ids (finding_id TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("DELETE FROM current_ids")
        db.executemany("INSERT OR IGNORE INTO current_ids VALUES (?)", ((f["id"],) for f in findings))
        state = {row[0]: row[1:] for row in db.execute(
            "SELECT f.finding_id, f.state, f.opened_as_of FROM findings f JOIN current_ids c USING (finding_id)")}
        for finding in findings:
            previous = state.get(finding["id"])
            if previous is None:
                finding["status"], opened = "new", as_of
            elif previous[0] == "open":
                finding["status"], opened = "open", previous[1]
            else:
                finding["status"], opened = "reopened", as_of
            finding["open_since"] = opened
            finding["days_open"] = days_between(opened, as_of)

        # Open before, absent now, and every subscription that decides it read completely: fixed.
        fixed_rows = []
        for row in db.execute(
                "SELECT id, coverage, opened_as_of, " + ", ".join(FIXED_FIELDS[1:]) + ", finding_id FROM findings "
                "WHERE state = 'open' AND finding_id NOT IN (SELECT finding_id FROM current_ids)"):
            subscriptions = [s for s in row[1].split(",") if s]
            if subscriptions and all(s in complete for s in subscriptions) or (not subscriptions and all_complete):
                fixed_rows.append(row)
        fixed = []
        for row in fixed_rows:
            item = dict(zip(FIXED_FIELDS[1:], row[3:-1]), id=row[-1])
            item = {key: item.get(key) for key in FIXED_FIELDS}
            item.update(open_since=row[2], days_open=days_between(row[2], as_of), fixed_as_of=as_of)
            fixed.append(item)
        fixed.sort(key=lambda f: (SEVERITIES.index(f["severity"]) if f["severity"] in SEVERITIES else 9,
                                  f["rule_id"], str(f["resource_id"]).lower()))

        db.executemany(
            "INSERT INTO findings (finding_id, rule_id, severity, title, resource_id, resource_type, resource_name,"
            " subscription_id, resource_group, location, coverage, state, first_seen_run, first_seen_as_of, opened_run,"
            " opened_as_of, last_seen_run, last_seen_as_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (finding_id) DO UPDATE SET rule_id = excluded.rule_id, severity = excluded.severity,"
            " title = excluded.title, resource_id = excluded.resource_id, resource_type = excluded.resource_type,"
            " resource_name = excluded.resource_name, subscription_id = excluded.subscription_id,"
            " resource_group = excluded.resource_group, location = excluded.location, coverage = excluded.coverage,"
            " last_seen_run = excluded.last_seen_run, last_seen_as_of = excluded.last_seen_as_of,"
            " times_reopened = times_reopened + (state = 'fixed'),"
            " opened_run = CASE WHEN state = 'fixed' THEN excluded.opened_run ELSE opened_run END,"
            " opened_as_of = CASE WHEN state = 'fixed' THEN excluded.opened_as_of ELSE opened_as_of END,"
            " state = 'open', fixed_run = NULL, fixed_as_of = NULL",
            ((f["id"], f["rule_id"], f["severity"], f.get("title"), f["resource_id"], f.get("resource_type"),
              f.get("resource_name"), f.get("subscription_id"), f.get("resource_group"), f.get("location"),
              ",".join(coverage(f)), run_id, as_of, run_id, as_of, run_id, as_of) for f in findings))
        db.executemany("UPDATE findings SET state = 'fixed', fixed_run = ?, fixed_as_of = ? WHERE id = ?",
                       ((run_id, as_of, row[0]) for row in fixed_rows))
        internal = dict(db.execute("SELECT f.finding_id, f.id FROM findings f JOIN current_ids c USING (finding_id)"))
        db.executemany("INSERT OR IGNORE INTO run_findings (run_id, finding, status, waived) VALUES (?, ?, ?, ?)",
                       [(run_id, internal[f["id"]], f["status"], int(bool(f.get("waived")))) for f in findings]
                       + [(run_id, row[0], "fixed", 0) for row in fixed_rows])

        # Per scope counts: the trend of a later run sums the scopes it shares with this one.
        rows: dict[str, dict[str, Any]] = {}
        for scope in scopes:
            rows[_scope_key(scope)] = {"complete": int(scope.get("status") == "complete"), "reason": scope.get("reason")}

        def bucket(key: str) -> dict[str, Any]:
            return rows.setdefault(key, {"complete": int(key in complete or (key == WORKLOADS and all_complete)),
                                         "reason": None})

        for finding in findings:
            counts = bucket(_home(finding))
            if finding.get("waived"):
                counts["waived"] = counts.get("waived", 0) + 1
            elif finding["severity"] in SEVERITIES:
                counts[f"open_{finding['severity']}"] = counts.get(f"open_{finding['severity']}", 0) + 1
            if finding["status"] in ("new", "reopened"):
                counts[finding["status"]] = counts.get(finding["status"], 0) + 1
        for item in fixed:
            counts = bucket(_home(item))
            counts["fixed"] = counts.get("fixed", 0) + 1
        columns = [f"open_{s}" for s in SEVERITIES] + ["waived", "new", "reopened", "fixed"]
        db.executemany(
            f"INSERT INTO run_scopes (run_id, scope, complete, reason, {', '.join(columns)}) VALUES (?, ?, ?, ?"
            + ", ?" * len(columns) + ")",
            [(run_id, key, value["complete"], value["reason"], *(value.get(column, 0) for column in columns))
             for key, value in sorted(rows.items())])

        trend = self.trend(run_id, list(rows))
        changes = {
            "against": "history",
            "run": run_id,
            # The last earlier run that read any of these scopes: what "since the previous run" means.
            "previous_as_of": trend[-2]["as_of"] if len(trend) > 1 else None,
            "new": sum(1 for f in findings if f["status"] == "new"),
            "open": sum(1 for f in findings if f["status"] == "open"),
            "reopened": sum(1 for f in findings if f["status"] == "reopened"),
            "fixed": len(fixed),
        }
        by_severity = {s: 0 for s in SEVERITIES}
        for finding in findings:
            if not finding.get("waived") and finding["severity"] in by_severity:
                by_severity[finding["severity"]] += 1
        details = {"scopes": scopes, "gate": report["summary"].get("gate"), "waivers": report["summary"].get("waivers"),
                   "baseline": report["summary"].get("baseline")}
        db.execute(
            "UPDATE runs SET open_critical = ?, open_high = ?, open_medium = ?, open_low = ?, waived = ?, unknown = ?,"
            " new = ?, reopened = ?, fixed = ?, details = ? WHERE id = ?",
            (*(by_severity[s] for s in SEVERITIES), sum(1 for f in findings if f.get("waived")),
             len(report.get("unknown") or []), changes["new"], changes["reopened"], changes["fixed"],
             json.dumps(details, ensure_ascii=False, default=str), run_id))

        report["fixed"] = fixed
        report["summary"]["changes"] = changes
        report["history"] = trend
        return run_id

    def trend(self, run_id: int, scope_keys: list[str], limit: int = TREND_RUNS) -> list[dict[str, Any]]:
        """The last runs that covered any of these scopes, oldest first, counting only these scopes."""
        db = self.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS trend_scopes (scope TEXT PRIMARY KEY) WITHOUT ROWID")
        db.execute("DELETE FROM trend_scopes")
        db.executemany("INSERT OR IGNORE INTO trend_scopes VALUES (?)", ((key,) for key in scope_keys + [WORKLOADS]))
        runs = db.execute(
            "SELECT r.id, r.as_of, r.generated_at FROM runs r WHERE r.id <= ? AND EXISTS (SELECT 1 FROM run_scopes s"
            " JOIN trend_scopes t USING (scope) WHERE s.run_id = r.id AND s.scope != ?) ORDER BY r.id DESC LIMIT ?",
            (run_id, WORKLOADS, limit)).fetchall()
        points = []
        for rid, as_of, generated_at in reversed(runs):
            sums = db.execute(
                "SELECT " + ", ".join(f"coalesce(sum({column}), 0)" for column in (
                    [f"open_{s}" for s in SEVERITIES] + ["waived", "new", "reopened", "fixed"]))
                + " FROM run_scopes s JOIN trend_scopes t USING (scope) WHERE s.run_id = ?", (rid,)).fetchone()
            points.append({"run": rid, "as_of": as_of, "generated_at": generated_at,
                           "findings_by_severity": dict(zip(SEVERITIES, sums[:4])), "waived": sums[4],
                           "new": sums[5], "reopened": sums[6], "fixed": sums[7], "current": rid == run_id})
        return points


def _iso_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------- reading


@dataclass
class RunSummary:
    id: int
    recorded_at: str
    as_of: str
    tool_version: str
    subscriptions: int
    incomplete: int
    findings_by_severity: dict[str, int]
    waived: int
    unknown: int
    new: int
    reopened: int
    fixed: int
    fail_on: str
    exit_code: int
    score: float | None


def read_runs(path: str | Path, last: int | None = None) -> tuple[int, list[RunSummary]]:
    """(number of runs recorded, the last `last` runs oldest first) from an existing history file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--history {path} is a directory; give the history file.")
    if not path.exists():
        raise InputError(f"history file {path} does not exist; runs with --history {path} create it.")
    try:
        connection = _connect(path)
    except sqlite3.Error as exc:
        raise _sqlite_error(str(path), exc) from None
    try:
        total = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        rows = connection.execute(
            "SELECT id, recorded_at, as_of, tool_version, subscriptions, incomplete, open_critical, open_high,"
            " open_medium, open_low, waived, unknown, new, reopened, fixed, fail_on, exit_code, score FROM runs"
            " ORDER BY id DESC LIMIT ?", (last if last else -1,)).fetchall()
    except sqlite3.Error as exc:
        raise _sqlite_error(str(path), exc) from None
    finally:
        connection.close()
    runs = [RunSummary(id=r[0], recorded_at=r[1], as_of=r[2], tool_version=r[3], subscriptions=r[4], incomplete=r[5],
                       findings_by_severity=dict(zip(SEVERITIES, r[6:10])), waived=r[10], unknown=r[11], new=r[12],
                       reopened=r[13], fixed=r[14], fail_on=r[15], exit_code=r[16], score=r[17])
            for r in reversed(rows)]
    return total, runs


def gate_word(run: RunSummary) -> str:
    if run.exit_code == 3:
        return "incomplete"
    if run.exit_code == 1:
        return f"failed ({run.fail_on})"
    return "passed" if run.fail_on != "never" else "not gated"


def history_text(name: str, total: int, runs: list[RunSummary], width: int = 40) -> str:
    """`dr-audit history`: the runs as a table, then the trend of open findings as bars."""
    if not runs:
        return f"History {name}: no runs recorded yet."
    shown = f"the last {len(runs)}" if len(runs) < total else ("the one run" if total == 1 else f"all {total}")
    lines = [f"History {name}: {total} run{'s' if total != 1 else ''} recorded; {shown}, oldest first.", ""]
    header = (f"{'run':>5}  {'as of (UTC)':<16}  {'subs':>5}  {'critical':>8}  {'high':>5}  {'medium':>6}  {'low':>5}  "
              f"{'waived':>6}  {'new':>5}  {'fixed':>5}  {'reopened':>8}  {'score':>5}  gate")
    lines.append(header)
    for run in runs:
        counts = run.findings_by_severity
        subs = f"{run.subscriptions}" + ("!" if run.incomplete else "")
        score = "n/a" if run.score is None else f"{run.score:g}"
        lines.append(f"{run.id:>5}  {run.as_of[:16].replace('T', ' '):<16}  {subs:>5}  {counts['critical']:>8}  "
                     f"{counts['high']:>5}  {counts['medium']:>6}  {counts['low']:>5}  {run.waived:>6}  {run.new:>5}  "
                     f"{run.fixed:>5}  {run.reopened:>8}  {score:>5}  {gate_word(run)}")
    if any(run.incomplete for run in runs):
        lines.append("  ! some subscriptions could not be read completely in that run (missing data is never a pass)")
    lines += ["", "Trend: open (unwaived) findings per run, # = critical or high, + = medium or low"]
    peak = max(sum(run.findings_by_severity.values()) for run in runs) or 1
    for run in runs:
        counts = run.findings_by_severity
        severe, other = counts["critical"] + counts["high"], counts["medium"] + counts["low"]
        scale = width / peak
        bar = "#" * round(severe * scale) + "+" * round(other * scale)
        lines.append(f"  {run.as_of[:10]}  {bar:<{width}}  {severe + other} ({severe} critical/high)")
    first, latest = runs[0], runs[-1]
    change = sum(latest.findings_by_severity.values()) - sum(first.findings_by_severity.values())
    if len(runs) > 1:
        direction = "down" if change < 0 else "up" if change > 0 else "unchanged"
        lines += ["", f"Open findings {direction}" + (f" by {abs(change)}" if change else "")
                  + f" since {first.as_of[:10]}; the latest run: {latest.new} new, {latest.fixed} fixed, "
                  f"{latest.reopened} reopened."]
    return "\n".join(lines)

"""memtrace archive: keep runs, find the baseline, follow a program's memory
across releases.

An archive is a directory: traces/ holds the traces (each with a .json
beside it: its metadata, tags and summary, so the catalogue can be made
again from the files alone), catalogue.sqlite the catalogue (SQLite in WAL
mode: several processes may add at once). Adding a run reads its summary
once (memtrace analyze --json); every query after reads the catalogue
only, never a trace, except compare and the per-function conditions of
check, which run memtrace diff on two traces.

    memtrace archive add run.trace --tag release=1.4      # into ./memtrace-runs
    memtrace archive ls --tag release
    memtrace archive trend peak_heap --by release -o trend.html
    memtrace archive check --baseline release=1.3 --fail-if 'peak_heap>+10%'

In Python: Archive(path).add(trace, tags={...}), .runs(...), .trend(...).
This module is the archive itself; memtrace/archive_cmd.py is its command.
"""
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid

__all__ = ["Archive", "ArchiveError", "METRICS", "summarize", "parse_condition", "judge"]

SCHEMA_VERSION = 2  # 2: runs.closed
DEFAULT_DIR = "memtrace-runs"

# name -> (catalogue column, kind, what): the summary figures kept per run.
# kind: bytes, seconds or count (how a value prints and which units a
# threshold takes).
METRICS = {
    "peak_rss": ("peak_rss", "bytes", "the RSS's peak"),
    "start_rss": ("start_rss", "bytes", "the RSS at the start"),
    "end_rss": ("end_rss", "bytes", "the RSS at the end"),
    "peak_heap": ("peak_heap", "bytes", "the heap's peak (bytes of live blocks)"),
    "leaked": ("leaked", "bytes", "the heap at the end (bytes still allocated)"),
    "duration": ("duration", "seconds", "the recording's duration"),
    "events": ("events", "count", "records in the trace"),
    "lost": ("lost", "count", "events the recorder lost"),
    "calls": ("calls", "count", "Python calls recorded"),
    "size": ("size", "bytes", "the trace file's size in the archive"),
}
# memtrace diff's names for the same figures (check takes both)
ALIASES = {"peak": "peak_rss", "start": "start_rss", "end": "end_rss",
           "heap_peak": "peak_heap"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT UNIQUE NOT NULL,       -- the file's stem under traces/
    file TEXT NOT NULL,             -- relative to the archive
    added REAL NOT NULL,            -- UNIX time of add
    start REAL,                     -- UNIX time the recording began
    start_utc TEXT,
    command TEXT,                   -- JSON list
    host TEXT, python TEXT, producer TEXT, mode TEXT,
    git_commit TEXT, git_branch TEXT,
    damaged INTEGER NOT NULL DEFAULT 0,
    closed INTEGER NOT NULL DEFAULT 1,  -- 0: the recording had not finished
    heap_estimated INTEGER,         -- 1: sampled allocations, the heap scaled
    peak_rss INTEGER, start_rss INTEGER, end_rss INTEGER,
    peak_heap INTEGER, leaked INTEGER,
    duration REAL, events INTEGER, lost INTEGER, calls INTEGER, size INTEGER
);
CREATE INDEX IF NOT EXISTS runs_start ON runs (start);
CREATE TABLE IF NOT EXISTS tags (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (run, key));
CREATE INDEX IF NOT EXISTS tags_kv ON tags (key, value);
CREATE TABLE IF NOT EXISTS sites (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,             -- peak (heap at its peak by line), leak
    rank INTEGER NOT NULL,
    function TEXT, file TEXT, line INTEGER, bytes INTEGER, count INTEGER);
CREATE INDEX IF NOT EXISTS sites_run ON sites (run);
CREATE TABLE IF NOT EXISTS functions (
    run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    function TEXT, file TEXT, first_line INTEGER,
    calls INTEGER, incl_bytes INTEGER, self_bytes INTEGER, incl_time REAL);
CREATE INDEX IF NOT EXISTS functions_run ON functions (run);
"""

TOP_SITES = 20  # rows of each table kept per run
LOCK_TIMEOUT = 60.0  # seconds a writer waits for another ($MEMTRACE_ARCHIVE_LOCK_TIMEOUT)


class ArchiveError(Exception):
    """An archive command could not do what it was asked (the message says
    what and where)."""


_BUSY = ("%s: the catalogue is busy: another memtrace archive has held it for longer than "
         "the wait ($MEMTRACE_ARCHIVE_LOCK_TIMEOUT, default 60 s); try again")
_DAMAGED = "%s: the catalogue is damaged (%s): memtrace archive rebuild makes it again from " \
           "the traces"


def _busy(e):
    return "locked" in str(e) or "busy" in str(e)


def _stderr_log(msg):
    sys.stderr.write("memtrace archive: %s\n" % msg)


# ---- Units ---------------------------------------------------------------

_BYTE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
               "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
               "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40}
_TIME_UNITS = {"": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
               "d": 86400.0}


def parse_bytes(text):
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _BYTE_UNITS:
        raise ArchiveError("not a size: %r (e.g. 500MB, 2GiB, 1024)" % text)
    return int(float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()])


def parse_duration(text):
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _TIME_UNITS:
        raise ArchiveError("not a duration: %r (e.g. 30d, 12h, 90m, 3600)" % text)
    return float(m.group(1)) * _TIME_UNITS[m.group(2).lower()]


def fmt_bytes(n):
    if n is None:
        return "-"
    a, sign = abs(n), "-" if n < 0 else ""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if a < 1024 or unit == "TiB":
            return "%s%d %s" % (sign, a, unit) if unit == "B" else "%s%.1f %s" % (sign, a, unit)
        a /= 1024.0


def fmt_value(metric, v):
    if v is None:
        return "-"
    kind = METRICS[metric][1]
    if kind == "bytes":
        return fmt_bytes(v)
    if kind == "seconds":
        return "%.3f s" % v
    return "%d" % v


# ---- Reading a trace's summary ------------------------------------------

def _tool(name):
    """memtrace-<name>'s path (memtrace.results finds it)."""
    from . import results
    try:
        return results._tool(name)
    except results.TraceError as e:
        raise ArchiveError(str(e)) from None


def summarize(path):
    """The catalogue's figures of one trace, from memtrace analyze --json:
    a dict (run: metadata and metrics; sites; functions). Raises
    ArchiveError when the file is not a trace; a damaged trace gives its
    intact part, with damaged=1."""
    from . import results
    try:  # results' runner: a damaged trace's intact part is kept
        out = results._run("analyze", ["--json", "--top", str(TOP_SITES), "--", path])
    except results.TraceError as e:
        raise ArchiveError("%s: not a readable trace: %s" % (path, e)) from None
    try:
        a = json.loads(out)
    except ValueError:
        raise ArchiveError("%s: memtrace-analyze gave no JSON" % path) from None
    if "error" in a:
        msg = a["error"].get("message", "unreadable")
        if msg.startswith(path + ": "):
            msg = msg[len(path) + 2:]
        raise ArchiveError("%s: not a readable trace: %s" % (path, msg))
    run, rss, heap = a.get("run", {}), a.get("rss") or {}, a.get("heap") or {}
    if not rss.get("samples"):  # no RSS in the trace: no figure, not 0
        rss = {}
    start_ns = run.get("start_unix_ns")
    kinds = run.get("records_by_type") or {}
    r = {
        "start": start_ns / 1e9 if start_ns else None,
        "start_utc": run.get("start_utc"),
        "command": json.dumps(run.get("command") or []),
        "host": run.get("hostname"), "python": run.get("python"),
        "producer": run.get("producer"), "mode": run.get("mode"),
        "damaged": 1 if (a.get("damage") or {}).get("damaged") else 0,
        "closed": 1 if run.get("closed") else 0,
        "heap_estimated": (1 if heap.get("estimated") else 0) if heap else None,
        "peak_rss": rss.get("peak_bytes"), "start_rss": rss.get("start_bytes"),
        "end_rss": rss.get("end_bytes"),
        "peak_heap": heap.get("peak_bytes") if heap else None,
        "leaked": heap.get("end_bytes") if heap else None,
        "duration": run.get("duration_s"), "events": run.get("records"),
        "lost": run.get("lost_events"),
        # as memtrace diff counts them: Python and C calls
        "calls": kinds.get("call", 0) + kinds.get("ccall", 0),
    }
    sites = []
    for kind, rows in (("peak", heap.get("peak_by_location") or []),
                       ("leak", heap.get("leaks") or [])):
        for i, s in enumerate(rows[:TOP_SITES]):
            sites.append({"kind": kind, "rank": i + 1, "function": s.get("function"),
                          "file": s.get("file"), "line": s.get("line"),
                          "bytes": s.get("bytes"), "count": s.get("count")})
    functions = []
    for i, f in enumerate((a.get("functions") or [])[:TOP_SITES]):
        functions.append({"rank": i + 1, "function": f.get("function"),
                          "file": f.get("file"), "first_line": f.get("first_line"),
                          "calls": f.get("calls"), "incl_bytes": f.get("incl_bytes"),
                          "self_bytes": f.get("self_bytes"),
                          "incl_time": f.get("incl_s")})
    return {"run": r, "sites": sites, "functions": functions}


def git_info(cwd=None):
    """(commit, branch) of the work tree at cwd, or (None, None)."""
    def git(*args):
        try:
            p = subprocess.run(["git"] + list(args), cwd=cwd or None, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() or None if p.returncode == 0 else None
    commit = git("rev-parse", "HEAD")
    if not commit:
        return None, None
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    return commit, (branch if branch and branch != "HEAD" else None)


def parse_tags(items):
    """{KEY: VALUE} of KEY=VALUE (or KEY: value "") strings."""
    tags = {}
    for t in items or ():
        k, eq, v = t.partition("=")
        k = k.strip()
        if not k or not re.fullmatch(r"[A-Za-z0-9_.:/-]+", k):
            raise ArchiveError("bad tag %r: give KEY=VALUE (KEY: letters, digits, _.:/-)" % t)
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ArchiveError("tag %s: its value is not valid UTF-8" % k) from None
        tags[k] = v if eq else ""
    return tags


# ---- The archive ---------------------------------------------------------

class Archive:
    """A directory of traces and its catalogue (see the module's text).

    Writers (add, rm, gc, rebuild) take the archive's lock file
    (catalogue.lock, flock) for their transaction, so that a rebuild never
    runs beside an add; readers read the catalogue as SQLite lets them (WAL:
    never blocked)."""

    def __init__(self, path=None, create=False):
        self.path = os.path.abspath(path or os.environ.get("MEMTRACE_ARCHIVE") or DEFAULT_DIR)
        self.db_path = os.path.join(self.path, "catalogue.sqlite")
        self.traces = os.path.join(self.path, "traces")
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ArchiveError("%s: not a directory (an archive is a directory)" % self.path)
        if not os.path.isdir(self.traces) and not os.path.exists(self.db_path):
            if not create:
                raise ArchiveError("%s: no archive here (memtrace archive add makes one)"
                                   % self.path)
            try:
                os.makedirs(self.traces, exist_ok=True)
            except OSError as e:
                raise ArchiveError("%s: cannot make the archive: %s" % (self.path,
                                                                       e.strerror)) from None
        self._db = None
        self._ino = None
        self._fd = None
        self._locks = 0

    def _has_traces(self):
        try:
            return any(f.endswith(".trace") for f in os.listdir(self.traces))
        except OSError:
            return False

    @contextlib.contextmanager
    def _locked(self):
        """The archive's write lock (reentrant in this process)."""
        if self._locks:
            self._locks += 1
            try:
                yield
            finally:
                self._locks -= 1
            return
        import fcntl
        try:
            fd = os.open(os.path.join(self.path, "catalogue.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ArchiveError("%s: cannot lock the archive: %s" % (self.path,
                                                                   e.strerror)) from None
        try:
            try:
                wait = float(os.environ.get("MEMTRACE_ARCHIVE_LOCK_TIMEOUT", LOCK_TIMEOUT))
            except ValueError:
                wait = LOCK_TIMEOUT
            deadline = time.time() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.time() > deadline:
                        raise ArchiveError(_BUSY % self.db_path) from None
                    time.sleep(0.02)
            self._locks = 1
            yield
        finally:
            self._locks = 0
            os.close(fd)

    # The catalogue: opened on first use; made again from the traces when it
    # is missing; a damaged one is an error that names the way out.
    @property
    def db(self):
        if self._db is None:
            if not os.path.exists(self.db_path) and self._has_traces():
                with self._locked():
                    if not os.path.exists(self.db_path):  # (not done meanwhile)
                        n, skipped = self._rebuild_locked(log=_stderr_log)
                        _stderr_log("%s was missing: made again from %d traces%s" % (
                            self.db_path, n, " (%d unreadable, skipped)" % skipped
                            if skipped else ""))
            if self._db is None:
                self._db = self._connect()
        return self._db

    def _connect(self):
        try:
            db = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 60000")
            db.execute("PRAGMA foreign_keys = ON")
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
                with self._locked():
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode = WAL")
                    db.execute("BEGIN IMMEDIATE")
                    for stmt in _SCHEMA.split(";"):
                        if stmt.strip():
                            db.execute(stmt)
                    db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)",
                               (str(SCHEMA_VERSION),))
                    db.execute("COMMIT")
            v = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if v is None or int(v[0]) != SCHEMA_VERSION:
                db.close()
                newer = v is not None and int(v[0]) > SCHEMA_VERSION
                raise ArchiveError("%s: the catalogue's schema (%s) is %s this memtrace's (%d): %s"
                                   % (self.db_path, v[0] if v else "none",
                                      "newer than" if newer else "not", SCHEMA_VERSION,
                                      "upgrade memtrace" if newer else
                                      "memtrace archive rebuild makes it anew from the traces"))
            # held open: while it is, the file's inode cannot be reused, so a
            # catalogue made again is told apart from this one
            self._close_fd()
            self._fd = os.open(self.db_path, os.O_RDONLY | os.O_CLOEXEC)
            self._ino = os.fstat(self._fd).st_ino
            return db
        except sqlite3.OperationalError as e:
            if _busy(e):
                raise ArchiveError(_BUSY % self.db_path) from None
            raise ArchiveError(_DAMAGED % (self.db_path, e)) from None
        except sqlite3.DatabaseError as e:
            raise ArchiveError(_DAMAGED % (self.db_path, e)) from None

    @contextlib.contextmanager
    def _write(self):
        """A write transaction, under the archive's lock."""
        with self._locked():
            try:
                ino = os.stat(self.db_path).st_ino
            except FileNotFoundError:
                ino = None
            if self._db is not None and (ino != self._ino or self._fd is None or
                                         os.fstat(self._fd).st_nlink == 0):
                self.close()  # made again since opened: this connection's file is gone
            db = self.db
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                raise ArchiveError(_BUSY % self.db_path if _busy(e)
                                   else _DAMAGED % (self.db_path, e)) from None
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _close_fd(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self):
        if self._db is not None:
            self._db.close()
            self._db = None
        self._close_fd()

    # -- add ---------------------------------------------------------------

    def add(self, trace, tags=None, level=None, move=False, git_dir=None, summary=None):
        """Add a trace: copy it (or move it) under traces/, recompressed at
        zstd level `level` (1..19) if given, with its tags; returns the new
        run's id. The trace is read once for its summary."""
        if not os.path.isfile(trace):
            raise ArchiveError("%s: no such file" % trace)
        tags = dict(tags or {})
        parse_tags("%s=%s" % kv for kv in tags.items())  # checked before anything is written
        self.db  # the catalogue first: a damaged one is said before the trace is read
        s = summary or summarize(trace)
        uid = "%s-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), uuid.uuid4().hex[:10])
        rel = os.path.join("traces", uid + ".trace")
        dest = os.path.join(self.path, rel)
        side_path = os.path.join(self.traces, uid + ".json")
        tmp = os.path.join(self.traces, ".%s.tmp" % uid)  # (rebuild skips dot files)
        try:
            if level:
                p = subprocess.run([_tool("filter"), trace, "-o", tmp, "--level", str(level)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if p.returncode:
                    raise ArchiveError("%s: recompressing: %s" % (
                        trace, p.stderr.decode("utf-8", "replace").strip()))
            else:
                shutil.copyfile(trace, tmp)
            commit, branch = git_info(git_dir) if git_dir is not False else (None, None)
            run = dict(s["run"], uid=uid, file=rel, added=time.time(), git_commit=commit,
                       git_branch=branch, size=os.path.getsize(tmp))
            side = {"memtrace_archive": SCHEMA_VERSION, "run": run, "tags": tags,
                    "sites": s["sites"], "functions": s["functions"]}
            # the files and the row together, under the lock: a rebuild sees
            # both or neither
            with self._locked():
                try:
                    with self._write():
                        os.replace(tmp, dest)
                        _write_json(side_path, side)
                        rid = self._insert(side)
                except BaseException:
                    for p in (dest, side_path):  # nothing half-added
                        with contextlib.suppress(OSError):
                            os.unlink(p)
                    raise
                # committed: the id beside the trace, so that a rebuild keeps
                # it (a JSON without one, after a crash, gets a new id)
                side["run"]["id"] = rid
                with contextlib.suppress(OSError):
                    _write_json(side_path, side)
        except OSError as e:
            raise ArchiveError("%s: cannot add it to %s: %s" % (trace, self.traces,
                                                               e.strerror or e)) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if move:
            with contextlib.suppress(OSError):
                os.unlink(trace)
        return rid

    def _insert(self, side, keep_id=False):
        db = self.db
        run = side["run"]
        cols = ["uid", "file", "added", "start", "start_utc", "command", "host", "python",
                "producer", "mode", "git_commit", "git_branch", "damaged", "closed",
                "heap_estimated", "peak_rss", "start_rss", "end_rss", "peak_heap", "leaked",
                "duration", "events", "lost", "calls", "size"]
        vals = [run.get(c) for c in cols]
        vals[cols.index("closed")] = 1 if run.get("closed", 1) else 0
        vals[cols.index("damaged")] = 1 if run.get("damaged") else 0
        if keep_id and isinstance(run.get("id"), int):
            cols, vals = ["id"] + cols, [run["id"]] + vals
        cur = db.execute("INSERT INTO runs (%s) VALUES (%s)" % (
            ", ".join(cols), ", ".join("?" * len(cols))), vals)
        rid = cur.lastrowid
        db.executemany("INSERT INTO tags VALUES (?, ?, ?)",
                       [(rid, k, str(v)) for k, v in (side.get("tags") or {}).items()])
        db.executemany("INSERT INTO sites VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(rid, s["kind"], s["rank"], s["function"], s["file"], s["line"],
                         s["bytes"], s["count"]) for s in side.get("sites") or ()])
        db.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [(rid, f["rank"], f["function"], f["file"], f["first_line"], f["calls"],
                         f["incl_bytes"], f["self_bytes"], f["incl_time"])
                        for f in side.get("functions") or ()])
        return rid

    # -- queries -----------------------------------------------------------

    def runs(self, tags=None, since=None, until=None, limit=None, newest_first=False):
        """Runs (dicts with a "tags" dict), oldest first: those with every
        tag of tags ({key: value}, value None or "" for any value), started
        in [since, until) (UNIX times)."""
        where, args = [], []
        for k, v in (tags or {}).items():
            if v in (None, ""):
                where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run = runs.id AND t.key = ?)")
                args.append(k)
            else:
                where.append("EXISTS (SELECT 1 FROM tags t WHERE t.run = runs.id AND t.key = ? "
                             "AND t.value = ?)")
                args += [k, v]
        if since is not None:
            where.append("COALESCE(start, added) >= ?")
            args.append(since)
        if until is not None:
            where.append("COALESCE(start, added) < ?")
            args.append(until)
        q = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        q += " ORDER BY COALESCE(start, added) %s, id %s" % (("DESC",) * 2 if newest_first
                                                             else ("ASC",) * 2)
        if limit:
            q += " LIMIT %d" % int(limit)
        rows = [dict(r) for r in self.db.execute(q, args)]
        self._attach_tags(rows)
        return rows

    def _attach_tags(self, rows):
        if not rows:
            return
        by = {r["id"]: r for r in rows}
        for r in rows:
            r["tags"] = {}
        ids = list(by)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            for t in self.db.execute("SELECT run, key, value FROM tags WHERE run IN (%s)"
                                     % ",".join("?" * len(chunk)), chunk):
                by[t["run"]]["tags"][t["key"]] = t["value"]

    def resolve(self, sel):
        """One run from a selector: an id (12), a uid or a prefix of it
        (20261207T0815...), latest, KEY=VALUE or KEY (the latest run with
        that tag); SEL~N: the Nth run before it (among the runs with that
        tag, for a tag)."""
        text = str(sel).strip()
        back = 0
        m = re.fullmatch(r"(.+?)~(\d+)", text)
        base = text
        if m:
            base, back = m.group(1), int(m.group(2))
        tags = None
        if base == "latest":
            rows = self.runs(newest_first=True, limit=1)
        elif re.fullmatch(r"\d+", base) and len(base) < 8:
            rows = [dict(r) for r in self.db.execute("SELECT * FROM runs WHERE id = ?",
                                                     (int(base),))]
        elif re.fullmatch(r"\d{8}(T[0-9a-f-]*)?", base):
            rows = [dict(r) for r in self.db.execute(
                "SELECT * FROM runs WHERE uid LIKE ? ORDER BY id", (base + "%",))]
            if len(rows) > 1:
                raise ArchiveError("run %r is ambiguous: %d runs' uids start so (ids %s)" % (
                    base, len(rows), ", ".join(str(r["id"]) for r in rows[:10])))
        else:
            tags = parse_tags([base])
            rows = self.runs(tags=tags, newest_first=True, limit=1)
        if rows and back:
            r = rows[0]
            when = r["start"] if r["start"] is not None else r["added"]
            older = [x for x in self.runs(tags=tags, until=when + 1e-6, newest_first=True)
                     if ((x["start"] if x["start"] is not None else x["added"]), x["id"])
                     < (when, r["id"])]
            rows = older[back - 1:back]
        if not rows:
            raise ArchiveError("no run %r in %s (memtrace archive ls lists them)"
                               % (text, self.path))
        self._attach_tags(rows)
        return rows[0]

    def sites(self, rid, kind=None):
        q = "SELECT * FROM sites WHERE run = ?" + (" AND kind = ?" if kind else "") + \
            " ORDER BY kind, rank"
        return [dict(r) for r in self.db.execute(q, (rid, kind) if kind else (rid,))]

    def functions(self, rid):
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM functions WHERE run = ? ORDER BY rank", (rid,))]

    def trace_path(self, run):
        return os.path.join(self.path, run["file"])

    # -- removal -----------------------------------------------------------

    def remove(self, rids):
        """Remove runs (ids) and their files."""
        rows = []
        with self._locked():
            with self._write():
                for rid in rids:
                    r = self.db.execute("SELECT id, uid, file FROM runs WHERE id = ?",
                                        (rid,)).fetchone()
                    if r:
                        rows.append(dict(r))
                        self.db.execute("DELETE FROM runs WHERE id = ?", (rid,))
            # still under the lock (no rebuild brings them back meanwhile); the
            # trace first: a JSON left alone is ignored by a rebuild
            for r in rows:
                for p in (os.path.join(self.path, r["file"]),
                          os.path.join(self.traces, r["uid"] + ".json")):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(p)
        return rows

    def gc_plan(self, keep=None, max_age=None, max_size=None, protect=(), now=None):
        """The runs retention would remove (oldest first): beyond the newest
        `keep`, older than max_age seconds, then the oldest until the
        traces fit in max_size bytes. A run with a tag of protect ("KEY" or
        "KEY=VALUE") is never removed, nor counted in keep, and its size
        counts against max_size."""
        now = time.time() if now is None else now
        prot = [(k, v if eq else None) for k, eq, v in (p.partition("=") for p in protect)]

        def protected(r):
            return any(k in r["tags"] and (v is None or r["tags"][k] == v) for k, v in prot)
        runs = self.runs(newest_first=True)
        free = [r for r in runs if not protected(r)]
        victims = {}
        for i, r in enumerate(free):  # newest first
            if keep is not None and i >= keep:
                victims[r["id"]] = r
            elif max_age is not None and now - (r["start"] or r["added"]) > max_age:
                victims[r["id"]] = r
        if max_size is not None:
            total = sum(r["size"] or 0 for r in runs if r["id"] not in victims)
            for r in reversed(free):  # oldest first
                if total <= max_size:
                    break
                if r["id"] not in victims:
                    victims[r["id"]] = r
                    total -= r["size"] or 0
        return sorted(victims.values(), key=lambda r: (r["start"] or r["added"], r["id"]))

    # -- rebuild -----------------------------------------------------------

    def rebuild(self, log=None):
        """Make the catalogue again from traces/: each trace's .json where it
        is intact (its run keeps its id), else the trace's own summary (its
        tags are then lost). Unreadable traces are reported and skipped.
        Returns (runs, skipped)."""
        with self._locked():
            return self._rebuild_locked(log or (lambda msg: None))

    def _rebuild_locked(self, log):
        sides, skipped = [], 0
        for f in sorted(os.listdir(self.traces)):
            if not f.endswith(".trace") or f.startswith("."):
                continue
            uid = f[:-len(".trace")]
            trace = os.path.join(self.traces, f)
            side_path = os.path.join(self.traces, uid + ".json")
            side = None
            try:
                with open(side_path, encoding="utf-8") as fh:
                    side = json.load(fh)
                if not (isinstance(side, dict) and isinstance(side.get("run"), dict)
                        and side["run"].get("uid") == uid
                        and isinstance(side.get("tags", {}), dict)):
                    raise ValueError("not this trace's")
                parse_tags("%s=%s" % kv for kv in side.get("tags", {}).items())
            except FileNotFoundError:
                side = None
            except (OSError, ValueError, ArchiveError) as e:
                log("%s: %s (its tags are lost)" % (side_path, e))
                side = None
            if side is None:
                try:
                    s = summarize(trace)
                except ArchiveError as e:
                    log("skipped %s: %s" % (trace, e))
                    skipped += 1
                    continue
                side = {"memtrace_archive": SCHEMA_VERSION, "tags": {},
                        "run": dict(s["run"], uid=uid, file=os.path.join("traces", f),
                                    added=os.path.getmtime(trace), git_commit=None,
                                    git_branch=None, size=os.path.getsize(trace)),
                        "sites": s["sites"], "functions": s["functions"]}
                log("%s: no metadata beside it (its tags are lost): summarized anew" % trace)
                side["_write"] = side_path
            sides.append(side)
        # in place when the catalogue reads and has this schema (readers keep
        # their connections); made anew when it does not. Either way the runs
        # keep the ids the catalogue gave them, else the one in their JSON.
        self.close()
        old_ids = {}
        try:
            self._db = self._connect()
            self._db.execute("PRAGMA quick_check").fetchall()
            old_ids = {r[0]: r[1] for r in self._db.execute("SELECT uid, id FROM runs")}
        except (ArchiveError, sqlite3.DatabaseError):
            self.close()
            with contextlib.suppress(sqlite3.Error, OSError):  # an older schema: its ids
                old = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True)
                old_ids = {r[0]: r[1] for r in old.execute("SELECT uid, id FROM runs")}
                old.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.db_path + suffix)
            self._db = self._connect()
        wanted, rest, used = [], [], set()
        for side in sides:
            rid = old_ids.get(side["run"]["uid"], side["run"].get("id"))
            (wanted if isinstance(rid, int) else rest).append((rid, side))
        wanted.sort(key=lambda x: (x[0], x[1]["run"].get("start") or 0))
        order = []
        for rid, side in wanted:  # an id claimed twice: the first keeps it
            if rid in used:
                log("%s: run id %d is another run's: it gets a new one"
                    % (side["run"].get("file"), rid))
                rest.append((None, side))
            else:
                used.add(rid)
                order.append((rid, side))
        rest.sort(key=lambda x: x[1]["run"].get("start") or 0)
        n = 0
        with self._write() as db:
            for t in ("functions", "sites", "tags", "runs"):
                db.execute("DELETE FROM %s" % t)
            for rid, side in order + rest:  # known ids first, new ones after them
                side["run"]["id"] = rid
                got = None
                for attempt in (side, "summary"):
                    if attempt == "summary":
                        if side.get("_write"):  # already the trace's own summary
                            break
                        try:
                            s = summarize(os.path.join(self.path, side["run"]["file"]))
                        except (ArchiveError, KeyError, TypeError) as e:
                            log("skipped %s: %s" % (side["run"].get("file"), e))
                            break
                        log("%s: its JSON does not fit the catalogue: summarized anew (its "
                            "tags are lost)" % side["run"]["file"])
                        side = {"memtrace_archive": SCHEMA_VERSION, "tags": {},
                                "run": dict(side["run"], **s["run"]), "sites": s["sites"],
                                "functions": s["functions"], "_write": True}
                    db.execute("SAVEPOINT one")
                    try:
                        got = self._insert(side, keep_id=True)
                        db.execute("RELEASE one")
                        break
                    except (sqlite3.Error, KeyError, TypeError, ValueError, AttributeError):
                        db.execute("ROLLBACK TO one")
                        db.execute("RELEASE one")
                if got is None:
                    skipped += 1
                    continue
                n += 1
                if side.pop("_write", None) or rid != got:
                    side["run"]["id"] = got
                    with contextlib.suppress(OSError):
                        _write_json(os.path.join(self.traces, side["run"]["uid"] + ".json"),
                                    side)
        return n, skipped

    # -- trend -------------------------------------------------------------

    def trend(self, metric, by=None, tags=None, last=None):
        """Rows (label, value, runs, run ids) in time order: one per run, or
        with by=TAG one per value of that tag (the median of its runs,
        ordered by their first start)."""
        metric = ALIASES.get(metric, metric)
        if metric not in METRICS:
            raise ArchiveError("unknown metric %r (one of: %s)" % (metric, ", ".join(METRICS)))
        col = METRICS[metric][0]
        tags = dict(tags or {})
        if by and by not in tags:
            tags[by] = None  # the runs that have it
        runs = self.runs(tags=tags)
        rows = []
        if by:
            groups = {}
            for r in runs:
                groups.setdefault(r["tags"].get(by, ""), []).append(r)
            for value, rs in groups.items():
                vals = sorted(r[col] for r in rs if r[col] is not None)
                med = None
                if vals:
                    k = len(vals)
                    med = vals[k // 2] if k % 2 else (vals[k // 2 - 1] + vals[k // 2]) / 2
                rows.append({"label": "%s=%s" % (by, value), "value": med, "runs": len(rs),
                             "ids": [r["id"] for r in rs],
                             "start": min(r["start"] or r["added"] for r in rs)})
            rows.sort(key=lambda x: x["start"])
        else:
            for r in runs:
                label = (r["start_utc"] or "")[:19].replace("T", " ")
                rows.append({"label": "#%d %s" % (r["id"], label), "value": r[col], "runs": 1,
                             "ids": [r["id"]], "start": r["start"] or r["added"]})
        if last:
            rows = rows[-last:]
        return rows


def _write_json(path, obj):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


# ---- Conditions (check) ---------------------------------------------------

class ConditionError(ArchiveError):
    """A --fail-if EXPR that memtrace diff's grammar refuses (a usage error)."""


# memtrace diff's units, spelled as it takes them
_DIFF_BYTES = {"": 1, "B": 1, "k": 1024, "kB": 1024}
for _i, _p in enumerate("KMGT"):
    for _u in (_p, _p + "B", _p + "iB"):
        _DIFF_BYTES[_u] = 1024 ** (_i + 1)
_DIFF_TIME = {"": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0,
              "h": 3600.0}
# the catalogue's names diff does not know, as diff would read the same figure
_AS_DIFF = {"peak_rss": "peak", "start_rss": "start", "end_rss": "end", "peak_heap": "heap_peak",
            "size": "peak"}


def _diff_refuses(expr):
    """memtrace diff's own verdict on EXPR's grammar: its message when it
    refuses it (exit 2, before reading any trace), else None."""
    try:
        tool = _tool("diff")
    except ArchiveError:
        return None  # judged by the parser below alone
    p = subprocess.run([tool, "--fail-if", expr, os.devnull, os.devnull],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       universal_newlines=True, errors="replace")
    if p.returncode != 2:
        return None
    msg = (p.stderr.splitlines() or ["bad condition"])[0]
    for prefix in ("memtrace-diff: ", "--fail-if: "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def parse_condition(expr):
    """(side, metric or None, op, threshold, relative, text) of a --fail-if
    EXPR in memtrace diff's grammar (what it refuses, this refuses: no
    spaces, its units as it spells them); metric None when the quantity is
    not a catalogue figure (func:, alloc:, ...: memtrace diff judges it).
    Raises ConditionError."""
    m = None
    for m2 in re.finditer(r">=|<=|>|<", expr):  # the last operator: names may hold < >
        m = m2
    if not m:
        raise ConditionError("--fail-if %r: no operator (>, >=, <, <=), e.g. peak_heap>+10%%"
                             % expr)
    head, op, tail = expr[:m.start()], m.group(0), expr[m.end():]
    side = None
    if head[:2] in ("A:", "B:"):
        side, head = head[0], head[2:]
    refused = _diff_refuses(expr[:m.start() - len(head)] + _AS_DIFF.get(head, head) + op + tail)
    if refused:
        raise ConditionError("--fail-if %r: %s" % (expr, refused))
    if op in (">", "<") and tail.startswith("="):
        raise ConditionError("--fail-if %r: bad threshold %r" % (expr, tail))
    metric = ALIASES.get(head, head)
    if metric not in METRICS:
        if re.match(r"(func|calls|alloc|leak|objects):.", head):
            return (side, None, op, None, None, expr)
        raise ConditionError("--fail-if %r: unknown quantity %r (the catalogue's: %s; memtrace "
                             "diff's func:, calls:, alloc:, leak:, objects:)"
                             % (expr, head, ", ".join(sorted(list(METRICS) + list(ALIASES)))))
    t = re.fullmatch(r"([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(%|[A-Za-z]*)", tail)
    if not t:
        raise ConditionError("--fail-if %r: bad threshold %r (e.g. +10%%, +50MiB, 2s, 0)"
                             % (expr, tail))
    sign = -1.0 if t.group(1) == "-" else 1.0
    num, unit = float(t.group(2)), t.group(3)
    if unit == "%":
        if side:
            raise ConditionError("--fail-if %r: %s: compares the run's own value: it takes no "
                                 "'%%'" % (expr, side))
        return (side, metric, op, sign * num, True, expr)
    kind = METRICS[metric][1]
    table = _DIFF_BYTES if kind == "bytes" else _DIFF_TIME if kind == "seconds" else {"": 1}
    if unit not in table:
        raise ConditionError("--fail-if %r: %r is not a unit of %s (%s, or %%)" % (
            expr, unit, "bytes" if kind == "bytes" else "time" if kind == "seconds"
            else "counts: they take none", ", ".join(u for u in table if u)))
    return (side, metric, op, sign * num * table[unit], False, expr)


def judge(cond, a, b):
    """(holds, measured, text) of a parsed catalogue condition for runs a
    (the baseline) and b."""
    side, metric, op, thr, rel, expr = cond
    col = METRICS[metric][0]
    va, vb = a[col], b[col]
    for v, r in ((va, a), (vb, b)):
        if v is None and (side is None or r is (a if side == "A" else b)):
            raise ArchiveError("%s: run #%d has no %s (%s)" % (
                expr, r["id"], metric, "recorded without allocations"
                if metric in ("peak_heap", "leaked") else "not in its trace"))
    if side:
        x = va if side == "A" else vb
        shown = fmt_value(metric, x)
    elif rel:
        d = vb - va
        x = 0.0 if d == 0 else (float("inf") if va == 0 and d > 0 else float("-inf")
                                if va == 0 else 100.0 * d / abs(va))
        shown = "%+.1f%% (%s -> %s)" % (x, fmt_value(metric, va), fmt_value(metric, vb))
    else:
        x = vb - va
        shown = "%s%s (%s -> %s)" % ("+" if x >= 0 else "", fmt_value(metric, x),
                                     fmt_value(metric, va), fmt_value(metric, vb))
    holds = {">": x > thr, ">=": x >= thr, "<": x < thr, "<=": x <= thr}[op]
    return holds, x, shown

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
"""
import contextlib
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid

__all__ = ["Archive", "ArchiveError", "METRICS", "main"]

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
    from .cli import tool_path
    p = tool_path(name)
    if p is None:
        raise ArchiveError("memtrace-%s is not installed (pip install builds it into the "
                           "package; in a build tree, run make)" % name)
    return p


def summarize(path):
    """The catalogue's figures of one trace, from memtrace analyze --json:
    a dict (run: metadata and metrics; sites; functions). Raises
    ArchiveError when the file is not a trace; a damaged trace gives its
    intact part, with damaged=1."""
    p = subprocess.run([_tool("analyze"), "--json", "--top", str(TOP_SITES), "--", path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode("utf-8", "replace").strip()
    if not (p.returncode == 0 or (p.returncode == 1 and p.stdout.strip())):
        raise ArchiveError("%s: not a readable trace: %s" % (path, err or "memtrace-analyze "
                                                              "exit status %d" % p.returncode))
    try:
        a = json.loads(p.stdout)
    except ValueError:
        raise ArchiveError("%s: memtrace-analyze gave no JSON: %s" % (path, err)) from None
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
        self.db  # opened (or made again) before the new file is under traces/
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


# ---- The trend's picture ---------------------------------------------------

def _esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def trend_svg(rows, metric, title):
    """A self-contained SVG line chart of trend rows."""
    W, H, L, R, T, B = 900, 360, 90, 20, 40, 90
    pts = [(i, r["value"]) for i, r in enumerate(rows) if r["value"] is not None]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">' % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14">%s</text>' % (L, _esc(title))]
    if not pts:
        out.append('<text x="%d" y="%d">no values</text>' % (L, H // 2))
        return "\n".join(out + ["</svg>"]) + "\n"
    lo, hi = min(0, min(v for _, v in pts)), max(v for _, v in pts)
    hi = hi if hi > lo else lo + 1
    n = max(len(rows) - 1, 1)

    def px(i):
        return L + (W - L - R) * (i / n if len(rows) > 1 else 0.5)

    def py(v):
        return T + (H - T - B) * (1 - (v - lo) / (hi - lo))
    for k in range(5):  # grid and value labels
        v = lo + (hi - lo) * k / 4
        y = py(v)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (L, W - R, y, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (L - 6, y + 4, _esc(fmt_value(metric, v))))
    step = max(1, len(rows) // 20)
    for i, r in enumerate(rows):
        if i % step == 0 or i == len(rows) - 1:
            x = px(i)
            out.append('<text transform="translate(%.1f,%d) rotate(-40)" text-anchor="end">%s'
                       '</text>' % (x, H - B + 14, _esc(r["label"][:28])))
    out.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>'
               % " ".join("%.1f,%.1f" % (px(i), py(v)) for i, v in pts))
    for i, v in pts:
        out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f77b4"><title>%s: %s '
                   '(runs %s)</title></circle>' % (
                       px(i), py(v), _esc(rows[i]["label"]), _esc(fmt_value(metric, v)),
                       _esc(", ".join("#%d" % x for x in rows[i]["ids"][:20]))))
    return "\n".join(out + ["</svg>"]) + "\n"


def trend_html(rows, metric, title):
    body = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8"><title>%s</title>' % _esc(title),
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:right}"
            "td:first-child,th:first-child{text-align:left}</style></head><body>",
            "<h1>%s</h1>" % _esc(title), trend_svg(rows, metric, title),
            "<table><tr><th>run</th><th>%s</th><th>change</th><th>runs</th></tr>" % _esc(metric)]
    prev = None
    for r in rows:
        body.append("<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td></tr>" % (
            _esc(r["label"]), _esc(fmt_value(metric, r["value"])),
            _esc(_change(prev, r["value"], metric)), r["runs"]))
        if r["value"] is not None:
            prev = r["value"]
    body.append("</table></body></html>")
    return "\n".join(body) + "\n"


def _change(prev, v, metric):
    if prev is None or v is None:
        return ""
    d = v - prev
    pct = "" if not prev else " (%+.1f%%)" % (100.0 * d / abs(prev))
    return ("+" if d >= 0 else "") + fmt_value(metric, d) + pct


# ---- The command -----------------------------------------------------------

USAGE = """\
usage: memtrace archive [-d DIR] COMMAND [options]

Keep runs in an archive (a directory: the traces and a SQLite catalogue of
their metadata and summary figures), list and compare them, follow a
figure across releases, and gate CI on the baseline.

commands:
  add TRACE... [--tag K=V]... [--level N] [--move] [--no-git]
                 add traces (copied; --move: moved; --level: recompressed at
                 zstd level N, 19 to keep); their summary is read once
  ls [--tag K[=V]]... [--since T] [--until T] [--last N] [--json]
                 list runs, oldest first
  show RUN [--json]
                 a run's metadata, tags, figures and top lines and functions
  rm RUN...      remove runs and their traces
  gc [--keep N] [--max-age T] [--max-size S] [--protect TAG]... [--dry-run]
                 retention: keep the newest N, drop runs older than T, then the
                 oldest until the traces fit in S; runs with a TAG (KEY or
                 KEY=VALUE) are kept
  trend METRIC [--by TAG] [--tag K[=V]]... [--last N] [-o FILE] [--json]
                 a figure across runs (or the median per value of TAG, in the
                 order they first appeared): a table; -o FILE.svg or .html
                 draws it
  compare A B [DIFF-OPTIONS...]
                 memtrace diff of two runs (A the baseline)
  check --baseline RUN [--run RUN] --fail-if EXPR... [--allow-damaged] [--json]
                 the CI gate: exit 3 when a condition holds for RUN against
                 the baseline. RUN defaults to latest: where CI jobs share
                 the archive, name the run (the id add printed, or a tag of
                 it: --run commit=$SHA). Damaged or unfinished runs are
                 refused unless --allow-damaged
  rebuild        make the catalogue again from the traces and their .json

options:
  -d, --dir DIR  the archive (default $MEMTRACE_ARCHIVE, else ./memtrace-runs;
                 add makes it)
  -h, --help     print this text and exit

RUN: an id (12), a uid or a prefix of it (20261207T0815), latest, KEY=VALUE
or KEY (the latest run with that tag); RUN~N: the Nth run before it
(latest~1: the one before the latest; release=1.4~1: the run with that tag
before the latest one).
METRIC: peak_rss, start_rss, end_rss, peak_heap, leaked (the heap at the
end), duration, events, lost, calls, size (memtrace diff's peak, start, end
and heap_peak are the same figures).
EXPR: memtrace diff's --fail-if grammar (memtrace diff --help), which also
takes the names above. The catalogue's figures are judged from the
catalogue (peak_heap>+10%, B:lost>0, leaked>+1MiB); func:, alloc:, leak:,
calls:NAME and objects: run memtrace diff on the two traces.
T: a duration (30d, 12h, 90m) or a date (2026-12-01, UTC). S: a size (5GB).
Each run also records the git commit and branch of the current directory
when it is in a work tree, the host, the Python and the memtrace version.
Exit status: 0; 1 an error; 2 usage; 3 (check) a condition holds.
"""


def _usage_error(msg):
    sys.stderr.write("memtrace archive: %s\nmemtrace archive: see memtrace archive --help\n"
                     % msg)
    sys.exit(2)


def _unknown_option(name, known):
    near = [k for k in known if k.startswith("--") and k.startswith(name) and len(name) > 2]
    _usage_error("unknown option '%s'%s" % (name, " (did you mean '%s'? options are not "
                                                 "abbreviated)" % near[0] if near else ""))


def _when(text):
    """A UNIX time from a duration ago (7d) or a date (2026-12-01)."""
    try:
        d = datetime.datetime.strptime(text, "%Y-%m-%d")
        return d.replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    try:
        d = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        return d.replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    return time.time() - parse_duration(text)


def _opts(args, spec):
    """A small option parser: spec {"--tag": "list", "--json": "flag",
    "--level": "value", ...} plus aliases "-o": "--output"; returns
    (options, operands). "--" ends options (the rest are operands)."""
    aliases = {k: v for k, v in spec.items() if isinstance(v, tuple)}
    opts, rest, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest += args[i + 1:]
            break
        if a.startswith("-") and a != "-":
            name, eq, value = a.partition("=")
            name = aliases.get(name, (name,))[0]
            kind = spec.get(name)
            if kind is None or isinstance(kind, tuple):
                _unknown_option(name, list(spec) + ["--help"])
            if kind == "flag":
                if eq:
                    _usage_error("%s takes no value" % name)
                opts[name] = True
            else:
                if not eq:
                    if i + 1 >= len(args):
                        _usage_error("%s needs a value" % name)
                    i += 1
                    value = args[i]
                if kind == "list":
                    opts.setdefault(name, []).append(value)
                else:
                    opts[name] = value
            i += 1
            continue
        rest.append(a)
        i += 1
    return opts, rest


def _int_opt(opts, name, lo=0):
    if name not in opts:
        return None
    try:
        v = int(opts[name])
    except ValueError:
        _usage_error("%s: not a number: %r" % (name, opts[name]))
    if v < lo:
        _usage_error("%s: at least %d" % (name, lo))
    return v


def _row_text(r, root):
    tags = " ".join("%s=%s" % kv if kv[1] else kv[0] for kv in sorted(r["tags"].items()))
    if not os.path.exists(os.path.join(root, r["file"])):
        tags += "  [trace missing]"
    return "%5d  %-19s  %10s  %10s  %10s  %9s  %-8s  %s" % (
        r["id"], (r["start_utc"] or "")[:19].replace("T", " "), fmt_bytes(r["peak_rss"]),
        fmt_bytes(r["peak_heap"]), fmt_bytes(r["leaked"]),
        "-" if r["duration"] is None else "%.2f s" % r["duration"],
        (r["git_commit"] or "-")[:8], tags + ("  [damaged]" if r["damaged"] else "") +
        ("" if r["closed"] else "  [not closed]"))


def _public(r):
    d = {k: r[k] for k in r if k not in ("command",)}
    d["command"] = json.loads(r["command"]) if r.get("command") else []
    return d


def main(argv):
    args = list(argv)
    d = None
    while args and args[0] in ("-d", "--dir") or (args and args[0].startswith("--dir=")):
        if args[0].startswith("--dir="):
            d = args.pop(0)[6:]
        elif len(args) < 2:
            _usage_error("%s needs a directory" % args[0])
        else:
            d = args[1]
            del args[:2]
    if not args:
        _usage_error("no command given (add, ls, show, rm, gc, trend, compare, check, rebuild)")
    cmd, args = args[0], args[1:]
    if cmd in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0
    if cmd.startswith("-"):
        _unknown_option(cmd.partition("=")[0], ["--dir", "--help"])
    commands = {"add": _cmd_add, "ls": _cmd_ls, "show": _cmd_show, "rm": _cmd_rm, "gc": _cmd_gc,
                "trend": _cmd_trend, "compare": _cmd_compare, "check": _cmd_check,
                "rebuild": _cmd_rebuild}
    if cmd not in commands:
        import difflib
        near = difflib.get_close_matches(cmd, list(commands), n=1)
        _usage_error("unknown command %r%s" % (cmd, " (did you mean %r?)" % near[0]
                                                 if near else ""))
    if "-h" in args or "--help" in args:
        sys.stdout.write(USAGE)
        return 0
    try:
        return commands[cmd](d, args)
    except ArchiveError as e:
        sys.stderr.write("memtrace archive %s: %s\n" % (cmd, e))
        return 1
    except sqlite3.DatabaseError as e:
        sys.stderr.write("memtrace archive %s: the catalogue is damaged (%s): memtrace archive "
                         "rebuild makes it again from the traces\n" % (cmd, e))
        return 1
    except BrokenPipeError:
        return 0


def _common(opts, d):
    d = opts.pop("--dir", d)
    return d


_DIR = {"--dir": "value", "-d": ("--dir",)}


def _cmd_add(d, args):
    opts, files = _opts(args, dict(_DIR, **{"--tag": "list", "--level": "value",
                                            "--move": "flag", "--no-git": "flag",
                                            "--git-dir": "value", "-q": ("--quiet",),
                                            "--quiet": "flag"}))
    if not files:
        _usage_error("add: no trace given")
    level = _int_opt(opts, "--level", 1)
    if level is not None and level > 19:
        _usage_error("--level: 1..19")
    tags = parse_tags(opts.get("--tag"))
    a = Archive(_common(opts, d), create=True)
    status = 0
    for f in files:
        try:
            rid = a.add(f, tags=tags, level=level, move=opts.get("--move", False),
                        git_dir=False if opts.get("--no-git") else opts.get("--git-dir"))
        except ArchiveError as e:
            sys.stderr.write("memtrace archive add: %s\n" % e)
            status = 1
            continue
        r = a.resolve(rid)
        if not opts.get("--quiet"):
            sys.stdout.write("added run %d (%s): peak RSS %s, heap peak %s, leaked %s%s\n" % (
                rid, r["uid"], fmt_bytes(r["peak_rss"]), fmt_bytes(r["peak_heap"]),
                fmt_bytes(r["leaked"]), " [damaged: its intact part]" if r["damaged"] else ""))
    return status


def _filters(opts):
    tags = {}
    for t in opts.get("--tag") or ():
        tags.update(parse_tags([t]))
    return tags


def _cmd_ls(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--tag": "list", "--since": "value",
                                           "--until": "value", "--last": "value",
                                           "--json": "flag"}))
    if rest:
        _usage_error("ls: unexpected operand %r" % rest[0])
    a = Archive(_common(opts, d))
    last = _int_opt(opts, "--last", 1)
    runs = a.runs(tags=_filters(opts),
                  since=_when(opts["--since"]) if "--since" in opts else None,
                  until=_when(opts["--until"]) if "--until" in opts else None,
                  limit=last, newest_first=bool(last))
    if last:
        runs.reverse()
    if opts.get("--json"):
        json.dump({"archive": a.path, "runs": [_public(r) for r in runs]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write("%5s  %-19s  %10s  %10s  %10s  %9s  %-8s  %s\n" % (
        "id", "start (UTC)", "peak RSS", "heap peak", "leaked", "duration", "commit", "tags"))
    for r in runs:
        sys.stdout.write(_row_text(r, a.path) + "\n")
    return 0


def _cmd_show(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--json": "flag"}))
    if len(rest) != 1:
        _usage_error("show: give one RUN")
    a = Archive(_common(opts, d))
    r = a.resolve(rest[0])
    sites, funcs = a.sites(r["id"]), a.functions(r["id"])
    if opts.get("--json"):
        json.dump(dict(_public(r), trace=a.trace_path(r), sites=sites, functions=funcs),
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    w = sys.stdout.write
    w("run %d (%s)\n" % (r["id"], r["uid"]))
    w("  trace      %s (%s)%s\n" % (a.trace_path(r), fmt_bytes(r["size"]),
                                    "" if os.path.exists(a.trace_path(r))
                                    else " MISSING: memtrace archive rm %d drops the run"
                                    % r["id"]))
    w("  command    %s\n" % " ".join(json.loads(r["command"] or "[]")))
    w("  start      %s, %s\n" % (r["start_utc"] or "?", "-" if r["duration"] is None
                                   else "%.3f s" % r["duration"]))
    w("  host       %s; %s; %s, mode %s\n" % (r["host"], r["python"], r["producer"], r["mode"]))
    if r["git_commit"]:
        w("  git        %s%s\n" % (r["git_commit"], " (%s)" % r["git_branch"]
                                   if r["git_branch"] else ""))
    if r["tags"]:
        w("  tags       %s\n" % " ".join("%s=%s" % kv for kv in sorted(r["tags"].items())))
    for m in METRICS:
        w("  %-10s %s%s\n" % (m, fmt_value(m, r[METRICS[m][0]]),
                              " (estimated from sampled allocations)"
                              if m in ("peak_heap", "leaked") and r["heap_estimated"]
                              and r[m] is not None else ""))
    if r["damaged"]:
        w("  damaged    yes: the figures are those of its intact part\n")
    for kind, title in (("peak", "Heap at its peak by line"), ("leak", "Leaked, by site")):
        rows = [s for s in sites if s["kind"] == kind]
        if rows:
            w("\n%s\n" % title)
            for s in rows[:10]:
                w("  %10s %8d  %s (%s:%s)\n" % (fmt_bytes(s["bytes"]), s["count"] or 0,
                                               s["function"], s["file"], s["line"]))
    if funcs:
        w("\nFunctions by inclusive RSS growth\n")
        for f in funcs[:10]:
            w("  %10s %8s calls  %s (%s)\n" % (fmt_bytes(f["incl_bytes"]), f["calls"],
                                               f["function"], f["file"]))
    return 0


def _cmd_rm(d, args):
    opts, rest = _opts(args, dict(_DIR))
    if not rest:
        _usage_error("rm: give the runs to remove")
    a = Archive(_common(opts, d))
    ids = [a.resolve(s)["id"] for s in rest]
    for r in a.remove(ids):
        sys.stdout.write("removed run %d (%s)\n" % (r["id"], r["uid"]))
    return 0


def _cmd_gc(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--keep": "value", "--max-age": "value",
                                           "--max-size": "value", "--protect": "list",
                                           "--dry-run": "flag"}))
    if rest:
        _usage_error("gc: unexpected operand %r" % rest[0])
    keep = _int_opt(opts, "--keep", 1)
    age = parse_duration(opts["--max-age"]) if "--max-age" in opts else None
    size = parse_bytes(opts["--max-size"]) if "--max-size" in opts else None
    if keep is None and age is None and size is None:
        _usage_error("gc: give --keep, --max-age or --max-size")
    a = Archive(_common(opts, d))
    plan = a.gc_plan(keep=keep, max_age=age, max_size=size, protect=opts.get("--protect", ()))
    if opts.get("--dry-run"):
        for r in plan:
            sys.stdout.write("would remove run %d (%s, %s)\n" % (r["id"], r["start_utc"],
                                                                 fmt_bytes(r["size"])))
        return 0
    gone = a.remove([r["id"] for r in plan])
    sys.stdout.write("removed %d runs (%s)\n" % (len(gone), fmt_bytes(sum(
        r["size"] or 0 for r in plan))))
    return 0


def _cmd_trend(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--by": "value", "--tag": "list", "--last": "value",
                                           "--output": "value", "-o": ("--output",),
                                           "--json": "flag"}))
    if len(rest) != 1:
        _usage_error("trend: give one METRIC (%s)" % ", ".join(METRICS))
    metric = ALIASES.get(rest[0], rest[0])
    if opts.get("--by"):
        parse_tags([opts["--by"]])  # a key as tags have them
    a = Archive(_common(opts, d))
    rows = a.trend(metric, by=opts.get("--by"), tags=_filters(opts),
                   last=_int_opt(opts, "--last", 1))
    title = "%s across %s" % (metric, "values of " + opts["--by"] if opts.get("--by")
                              else "runs")
    out = opts.get("--output")
    if out:
        low = out.lower()
        if not (low.endswith(".svg") or low.endswith(".html") or low.endswith(".htm")):
            _usage_error("-o: FILE.svg or FILE.html")
        text = trend_svg(rows, metric, title) if low.endswith(".svg") else \
            trend_html(rows, metric, title)
        try:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise ArchiveError("cannot write %s: %s" % (out, e.strerror)) from None
        sys.stderr.write("memtrace archive trend: wrote %s\n" % out)
    if opts.get("--json"):
        json.dump({"metric": metric, "by": opts.get("--by"), "rows": [
            {k: r[k] for k in ("label", "value", "runs", "ids")} for r in rows]},
            sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("%-32s %14s %22s %5s\n" % ("run" if not opts.get("--by") else
                                                   opts["--by"], metric, "change", "runs"))
        prev = None
        for r in rows:
            sys.stdout.write("%-32s %14s %22s %5d\n" % (r["label"][:32],
                                                       fmt_value(metric, r["value"]),
                                                       _change(prev, r["value"], metric),
                                                       r["runs"]))
            if r["value"] is not None:
                prev = r["value"]
    return 0


def _diff_tool_run(args):
    sys.stdout.flush()
    return subprocess.call([_tool("diff")] + args)


def _cmd_compare(d, args):
    if "--" in args:
        i = args.index("--")
        head, extra = args[:i], args[i + 1:]
    else:
        head, extra = args, []
    # RUNs first (two), then memtrace diff's options
    opts, rest = {}, []
    i = 0
    while i < len(head):
        if head[i] in ("-d", "--dir") and i + 1 < len(head):
            opts["--dir"] = head[i + 1]
            i += 2
            continue
        if len(rest) < 2 and not head[i].startswith("-"):
            rest.append(head[i])
        else:
            extra.append(head[i])
        i += 1
    if len(rest) != 2:
        _usage_error("compare: give two runs, A (the baseline) and B")
    a = Archive(_common(opts, d))
    ra, rb = a.resolve(rest[0]), a.resolve(rest[1])
    for r in (ra, rb):
        if not os.path.exists(a.trace_path(r)):
            raise ArchiveError("run %d: its trace %s is missing (memtrace archive rm %d drops "
                               "it from the catalogue)" % (r["id"], a.trace_path(r), r["id"]))
    sys.stderr.write("memtrace archive compare: A = run %d (%s), B = run %d (%s)\n" % (
        ra["id"], ra["start_utc"], rb["id"], rb["start_utc"]))
    return _diff_tool_run(extra + [a.trace_path(ra), a.trace_path(rb)])


def _cmd_check(d, args):
    opts, rest = _opts(args, dict(_DIR, **{"--baseline": "value", "--run": "value",
                                           "--fail-if": "list", "--json": "flag",
                                           "--allow-damaged": "flag"}))
    if rest:
        _usage_error("check: unexpected operand %r" % rest[0])
    if "--baseline" not in opts:
        _usage_error("check: give --baseline RUN (e.g. release=1.4, or a run id)")
    if not opts.get("--fail-if"):
        _usage_error("check: give at least one --fail-if EXPR")
    try:
        conds = [parse_condition(e) for e in opts["--fail-if"]]
    except ConditionError as e:
        _usage_error(str(e))
    a = Archive(_common(opts, d))
    base, run = a.resolve(opts["--baseline"]), a.resolve(opts.get("--run", "latest"))
    if base["id"] == run["id"]:
        raise ArchiveError("the run to check is the baseline itself (run %d): add the new run "
                           "first, or give --run" % run["id"])
    for r in (base, run):
        if (r["damaged"] or not r["closed"]) and not opts.get("--allow-damaged"):
            raise ArchiveError("run %d %s: its figures are those of what was written; give "
                               "--allow-damaged to check it all the same" % (
                                   r["id"], "is damaged" if r["damaged"]
                                   else "was still recording when it was added"))
    results, failed = [], False
    for c in conds:
        if c[1] is None:
            continue
        holds, x, shown = judge(c, base, run)
        failed |= holds
        results.append({"condition": c[5], "holds": holds, "value": x, "shown": shown})
    diff_conds = [c[5] for c in conds if c[1] is None]
    diff_status = None
    if diff_conds:
        for r in (base, run):
            if not os.path.exists(a.trace_path(r)):
                raise ArchiveError("run %d: its trace is missing, and %s needs it" % (
                    r["id"], diff_conds[0]))
        argv = ["--allow-damaged"] if opts.get("--allow-damaged") else []
        for e in diff_conds:
            argv += ["--fail-if", e]
        p = subprocess.run([_tool("diff"), "--json"] + argv + [a.trace_path(base),
                                                               a.trace_path(run)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if p.returncode not in (0, 3):
            raise ArchiveError("memtrace diff: %s" % p.stderr.strip())
        diff_status = p.returncode
        failed |= p.returncode == 3
        try:
            got = json.loads(p.stdout).get("conditions") or []
        except ValueError:
            got = []
        for e in diff_conds:
            g = next((x for x in got if x.get("expr") == e), {})
            unit = g.get("unit")
            f = fmt_bytes if unit == "bytes" else (lambda v: "%.3f s" % v) \
                if unit in ("s", "seconds") else (lambda v: "%g" % v)
            shown = "?"
            if e[:2] in ("A:", "B:") and e[0].lower() in g:
                shown = "%s (memtrace diff)" % f(g[e[0].lower()])
            elif "a" in g and "b" in g:
                shown = "%s -> %s, %s%s%s (memtrace diff)" % (
                    f(g["a"]), f(g["b"]), "+" if g["delta"] >= 0 else "", f(g["delta"]),
                    ", %+.1f%%" % g["pct"] if g.get("pct") is not None else "")
            results.append({"condition": e, "holds": g.get("true"), "value": g.get("delta"),
                            "shown": shown})
    if opts.get("--json"):
        json.dump({"baseline": _public(base), "run": _public(run), "conditions": results,
                   "failed": failed}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("baseline run %d (%s%s), run %d (%s%s)\n" % (
            base["id"], base["start_utc"], _tags_text(base), run["id"], run["start_utc"],
            _tags_text(run)))
        for r in results:
            verdict = {True: "FAIL", False: "ok", None: "?"}[r["holds"]]
            sys.stdout.write("  %-4s %s: %s\n" % (verdict, r["condition"], r["shown"]))
        sys.stdout.write("check: %s\n" % ("failed" if failed else "passed"))
    return 3 if failed else 0


def _tags_text(r):
    return "".join(", %s=%s" % kv for kv in sorted(r["tags"].items()))


def _cmd_rebuild(d, args):
    opts, rest = _opts(args, dict(_DIR))
    if rest:
        _usage_error("rebuild: unexpected operand %r" % rest[0])
    path = _common(opts, d)
    a = Archive(path)
    n, skipped = a.rebuild(log=lambda m: sys.stderr.write("memtrace archive rebuild: %s\n" % m))
    sys.stdout.write("rebuilt %s: %d runs%s\n" % (a.db_path, n, ", %d traces skipped"
                                                   % skipped if skipped else ""))
    return 0

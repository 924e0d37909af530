"""The shared cache of finished widget results, bounded in bytes, least recently used out.

Results are stored under the run keys of app/serving/keys.py (what a run's numbers depend on).

`open_cache(url, max_bytes)` picks the store from a URL:
  sqlite:///PATH        one file shared by every process on this machine (WAL), the default
  redis://HOST:PORT/DB  one Redis shared by several web hosts
  memory://             this process only (tests)
Entries are zlib-compressed JSON, and the bound counts their compressed bytes.
`export_cache` / `import_cache` move a filled cache between machines (JSON lines, gzip).
"""
from __future__ import annotations

import gzip
import json
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Iterator, Protocol
from urllib.parse import urlsplit


TOUCH_EVERY_S = 60.0  # a read refreshes an entry's last use at most this often (sqlite)


def encode(item: dict) -> bytes:
    return zlib.compress(json.dumps(item, separators=(",", ":")).encode(), 6)


def decode(blob: bytes) -> dict:
    return json.loads(zlib.decompress(blob))


class ResultCache(Protocol):
    max_bytes: int

    def get(self, key: str) -> dict | None: ...
    def put(self, key: str, item: dict) -> None: ...
    def __contains__(self, key: str) -> bool: ...
    def entries(self) -> Iterator[tuple[str, dict]]: ...
    def stats(self) -> dict: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


# --- memory:// ----------------------------------------------------------------------------
class BoundedLRU:
    """A thread-safe LRU of str or bytes values bounded by their total length: the memory://
    cache's store, and the web process's memo of rendered result fragments."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._values: OrderedDict[str, bytes | str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str):
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, key: str, value) -> None:
        with self._lock:
            old = self._values.pop(key, None)
            self._bytes -= len(old) if old is not None else 0
            if len(value) > self.max_bytes:
                return
            self._values[key] = value
            self._bytes += len(value)
            while self._bytes > self.max_bytes:
                _, evicted = self._values.popitem(last=False)
                self._bytes -= len(evicted)

    def snapshot(self) -> list[tuple[str, bytes | str]]:
        with self._lock:
            return list(self._values.items())

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._bytes = 0


class MemoryCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._blobs = BoundedLRU(max_bytes)

    def get(self, key: str) -> dict | None:
        blob = self._blobs.get(key)
        return None if blob is None else decode(blob)

    def __contains__(self, key: str) -> bool:
        return key in self._blobs

    def put(self, key: str, item: dict) -> None:
        self._blobs.put(key, encode(item))

    def entries(self) -> Iterator[tuple[str, dict]]:
        for key, blob in self._blobs.snapshot():
            yield key, decode(blob)

    def stats(self) -> dict:
        return {"url": "memory://", "entries": len(self._blobs), "bytes": self._blobs.bytes,
                "max_bytes": self.max_bytes}

    def clear(self) -> None:
        self._blobs.clear()

    def close(self) -> None:
        pass


# --- sqlite:///PATH -----------------------------------------------------------------------
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_use ON results (used);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals (id, bytes) VALUES (1, 0);
"""


class SqliteCache:
    """One file that every process on the machine shares. The total size lives in a row
    updated in the same transaction as the entries, so eviction never needs a full scan."""

    def __init__(self, path: Path, max_bytes: int):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        with self._connection() as conn:
            conn.executescript(SQLITE_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> dict | None:
        conn = self._connection()
        row = conn.execute("SELECT value, used FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        now = time.time()
        # reads stay reads, mostly: a write per minute at most, and skipped (it is only a hint
        # for eviction) when this process is writing already, so a read never waits for a write
        if now - row[1] > TOUCH_EVERY_S and self._write_lock.acquire(blocking=False):
            try:
                conn.execute("UPDATE results SET used = ? WHERE key = ?", (now, key))
            finally:
                self._write_lock.release()
        return decode(row[0])

    def __contains__(self, key: str) -> bool:
        return self._connection().execute("SELECT 1 FROM results WHERE key = ?", (key,)).fetchone() is not None

    def put(self, key: str, item: dict) -> None:
        blob = encode(item)
        with self._write_lock:  # this process's writers queue here, not in SQLite's busy handler
            self._put(self._connection(), key, blob)

    def _put(self, conn: sqlite3.Connection, key: str, blob: bytes) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            old = conn.execute("SELECT size FROM results WHERE key = ?", (key,)).fetchone()
            if old:
                conn.execute("DELETE FROM results WHERE key = ?", (key,))
                conn.execute("UPDATE totals SET bytes = bytes - ?", (old[0],))
            if len(blob) <= self.max_bytes:
                conn.execute("INSERT INTO results (key, value, size, used) VALUES (?, ?, ?, ?)",
                             (key, blob, len(blob), time.time()))
                conn.execute("UPDATE totals SET bytes = bytes + ?", (len(blob),))
            self._evict(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _evict(self, conn: sqlite3.Connection) -> None:
        total = conn.execute("SELECT bytes FROM totals").fetchone()[0]
        while total > self.max_bytes:
            oldest = conn.execute("SELECT key, size FROM results ORDER BY used LIMIT 64").fetchall()
            if not oldest:
                break
            for key, size in oldest:
                if total <= self.max_bytes:
                    break
                conn.execute("DELETE FROM results WHERE key = ?", (key,))
                total -= size
        conn.execute("UPDATE totals SET bytes = ?", (max(total, 0),))

    def entries(self) -> Iterator[tuple[str, dict]]:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            for key, blob in conn.execute("SELECT key, value FROM results ORDER BY used"):
                yield key, decode(blob)
        finally:
            conn.close()

    def stats(self) -> dict:
        conn = self._connection()
        count = conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        total = conn.execute("SELECT bytes FROM totals").fetchone()[0]
        return {"url": f"sqlite:///{self.path}", "entries": count, "bytes": total,
                "max_bytes": self.max_bytes}

    def clear(self) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM results")
        conn.execute("UPDATE totals SET bytes = 0")
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# --- redis://HOST:PORT/DB -----------------------------------------------------------------
# One script, so a put and its evictions are atomic however many web hosts write at once.
# KEYS: the LRU sorted set, the size hash, the total counter; ARGV: key, blob, now, max, prefix
_REDIS_PUT = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  redis.call('DECRBY', KEYS[3], old)
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', ARGV[5] .. 'v:' .. ARGV[1])
end
local size = string.len(ARGV[2])
local max = tonumber(ARGV[4])
if size <= max then
  redis.call('SET', ARGV[5] .. 'v:' .. ARGV[1], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[1], size)
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('INCRBY', KEYS[3], size)
end
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
while total > max do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
  if #oldest == 0 then break end
  local evicted = tonumber(redis.call('HGET', KEYS[2], oldest[1]) or '0')
  redis.call('ZREM', KEYS[1], oldest[1])
  redis.call('HDEL', KEYS[2], oldest[1])
  redis.call('DEL', ARGV[5] .. 'v:' .. oldest[1])
  total = redis.call('DECRBY', KEYS[3], evicted)
end
return total
"""


class RedisCache:
    def __init__(self, url: str, max_bytes: int, prefix: str = "course:results:"):
        import redis

        self.url = url
        self.max_bytes = max_bytes
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self._lru, self._sizes, self._total = prefix + "lru", prefix + "sizes", prefix + "bytes"
        self._put = self._redis.register_script(_REDIS_PUT)

    def get(self, key: str) -> dict | None:
        blob = self._redis.get(self.prefix + "v:" + key)
        if blob is None:
            return None
        self._redis.zadd(self._lru, {key: time.time()}, xx=True)
        return decode(blob)

    def __contains__(self, key: str) -> bool:
        return bool(self._redis.exists(self.prefix + "v:" + key))

    def put(self, key: str, item: dict) -> None:
        self._put(keys=[self._lru, self._sizes, self._total],
                  args=[key, encode(item), time.time(), self.max_bytes, self.prefix])

    def entries(self) -> Iterator[tuple[str, dict]]:
        for raw in self._redis.zrange(self._lru, 0, -1):
            key = raw.decode()
            blob = self._redis.get(self.prefix + "v:" + key)
            if blob is not None:
                yield key, decode(blob)

    def stats(self) -> dict:
        return {"url": self.url, "entries": int(self._redis.zcard(self._lru)),
                "bytes": int(self._redis.get(self._total) or 0), "max_bytes": self.max_bytes}

    def clear(self) -> None:
        keys = [self.prefix + "v:" + k.decode() for k in self._redis.zrange(self._lru, 0, -1)]
        for start in range(0, len(keys), 500):
            self._redis.delete(*keys[start:start + 500])
        self._redis.delete(self._lru, self._sizes, self._total)

    def close(self) -> None:
        self._redis.close()


def open_cache(url: str, max_bytes: int) -> ResultCache:
    """The cache a URL names (see the module docstring)."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        return MemoryCache(max_bytes)
    if parts.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"COURSE_CACHE_URL={url!r}: write sqlite:///PATH (three slashes, "
                             f"then the file's path)")
        return SqliteCache(Path(path), max_bytes)  # sqlite:////abs/path or sqlite:///relative
    if parts.scheme in ("redis", "rediss", "unix"):
        return RedisCache(url, max_bytes)
    raise ValueError(f"COURSE_CACHE_URL={url!r}: expected sqlite:///PATH, redis://HOST:PORT/DB "
                     f"or memory://")


# --- moving a filled cache between machines -----------------------------------------------
def export_cache(cache: ResultCache, path: Path) -> int:
    """Write every entry to a gzip JSON-lines file; returns how many."""
    count = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for key, item in cache.entries():
            out.write(json.dumps({"key": key, "item": item}, separators=(",", ":")) + "\n")
            count += 1
    return count


def import_cache(cache: ResultCache, path: Path) -> int:
    """Put every entry of an exported file into `cache`; returns how many."""
    count = 0
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                entry = json.loads(line)
                cache.put(entry["key"], entry["item"])
                count += 1
    return count

"""The result cache: the three stores behave alike, stay within their byte bound (least
recently used out), survive a restart, and move between machines by export and import."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

import services
from app.serving.cache import MemoryCache, SqliteCache, encode, export_cache, import_cache, open_cache
from app.serving.keys import Profile, RunKey, local_profile

ROOT = services.ROOT


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with services.Stack(tmp_path_factory.mktemp("redis")) as stack:
        yield stack.redis()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_cache(request, tmp_path):
    """A function making a cache of the given byte bound, in each of the three stores."""
    made = []

    def make(max_bytes: int = 10**6):
        if request.param == "memory":
            cache = MemoryCache(max_bytes)
        elif request.param == "sqlite":
            cache = open_cache(f"sqlite:///{tmp_path / 'results.sqlite3'}", max_bytes)
        else:
            cache = open_cache(request.getfixturevalue("redis_url"), max_bytes)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        if request.param == "redis":
            cache.clear()
        cache.close()


def item(n: int, size: int = 200) -> dict:
    # incompressible enough that the compressed size grows with `size`
    return {"widget": "w", "params": {"n": n}, "data": {"x": [((n * 7919 + i) * 104729) % 1000003 for i in range(size)]},
            "figure": {}, "provenance": {"cached": False}}


def test_put_get_and_a_miss(make_cache):
    cache = make_cache()
    assert cache.get("nope") is None and "nope" not in cache
    cache.put("a", item(1))
    assert cache.get("a") == item(1) and "a" in cache
    cache.put("a", item(2))  # replacing counts the bytes once
    assert cache.get("a") == item(2)
    assert cache.stats()["entries"] == 1 and cache.stats()["bytes"] == len(encode(item(2)))


def test_bounded_in_bytes_least_recently_used_go_first(make_cache):
    size = len(encode(item(0)))
    cache = make_cache(max_bytes=int(size * 3.5))
    for n in range(3):
        cache.put(f"k{n}", item(n))
        time.sleep(0.01)
    if isinstance(cache, SqliteCache):  # reads refresh sqlite's use time only once a minute
        cache._connection().execute("UPDATE results SET used = used - 120 WHERE key != 'k0'")
    assert cache.get("k0") is not None  # k0 is now the most recently used
    cache.put("k3", item(3))
    assert cache.get("k1") is None, "the least recently used went first"
    assert all(cache.get(k) is not None for k in ("k0", "k2", "k3"))
    stats = cache.stats()
    assert stats["entries"] == 3 and stats["bytes"] <= stats["max_bytes"]


def test_an_entry_larger_than_the_bound_is_not_kept(make_cache):
    cache = make_cache(max_bytes=100)
    cache.put("big", item(1, size=5000))
    assert cache.get("big") is None and cache.stats()["bytes"] == 0


def test_export_then_import_into_another_store(make_cache, tmp_path):
    source = make_cache()
    for n in range(5):
        source.put(f"k{n}", item(n))
    path = tmp_path / "cache.jsonl.gz"
    assert export_cache(source, path) == 5
    target = MemoryCache(10**6)
    assert import_cache(target, path) == 5
    assert {k: v for k, v in target.entries()} == {f"k{n}": item(n) for n in range(5)}


def test_sqlite_is_shared_by_processes_and_survives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'results.sqlite3'}"
    open_cache(url, 10**6).put("kept", item(7))
    code = ("from app.serving.cache import open_cache; import sys; "
            f"sys.exit(0 if open_cache({url!r}, 10**6).get('kept')['params'] == {{'n': 7}} else 1)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_cache_command_exports_and_imports(tmp_path):
    env = {"COURSE_CACHE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}", "PATH": "/usr/bin:/bin"}
    open_cache(env["COURSE_CACHE_URL"], 10**9).put("k", item(1))
    path = tmp_path / "moved.jsonl.gz"

    def run(*args, url):
        return subprocess.run([sys.executable, "-m", "app", "cache", *args], cwd=ROOT, capture_output=True,
                              text=True, env={**env, "COURSE_CACHE_URL": url})

    out = run("export", str(path), url=env["COURSE_CACHE_URL"])
    assert out.returncode == 0 and "exported 1 results" in out.stdout, out.stderr
    other = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    assert "imported 1 results" in run("import", str(path), url=other).stdout
    assert "1 results" in run("stats", url=other).stdout
    assert open_cache(other, 10**9).get("k") == item(1)


def test_keys_depend_on_everything_that_changes_the_numbers():
    base = RunKey.of("warmup", {"lr": 0.1}, 1337, "code1", 1)
    assert RunKey.of("warmup", {"lr": 0.1}, 1337, "code1", 1).job == base.job
    assert len({base.job, RunKey.of("warmup", {"lr": 0.2}, 1337, "code1", 1).job,
                RunKey.of("warmup", {"lr": 0.1}, 1, "code1", 1).job, RunKey.of("spikes", {"lr": 0.1}, 1337, "code1", 1).job,
                RunKey.of("warmup", {"lr": 0.1}, 1337, "code2", 1).job,
                RunKey.of("warmup", {"lr": 0.1}, 1337, "code1", 2).job}) == 6
    here = local_profile("cpu")
    assert here.cpu and here.torch and here.device == "cpu"
    others = [Profile(here.torch, here.device, "DEFAULT"), Profile(here.torch, "cuda", here.cpu),
              Profile("9.9", here.device, here.cpu)]
    assert len({base.on(p) for p in [here, *others]}) == 4
    assert Profile.parse(here.token) == here


def test_a_bad_cache_url_names_the_forms():
    with pytest.raises(ValueError, match="redis://HOST:PORT/DB"):
        open_cache("postgres://x", 10)
    with pytest.raises(ValueError, match="sqlite:///PATH"):
        open_cache("sqlite://", 10)

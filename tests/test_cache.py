"""illusion.cache: keys, build-once, integrity checks, atomicity, checkpoints, cross-process lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from illusion import cache as icache
from illusion.cache import ArtifactCache, Checkpoint, spec_key

SPEC = {"dataset": "tiny", "seed": 0, "train": {"lr": 0.05, "epochs": 2}, "forget": [1]}


def _payload():
    return {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3),
            "history": [{"epoch": 1, "loss": 0.5, "val_acc": float("nan")}],
            "nested": {"ints": [1, 2, 3], "none": None, "name": "x", "flag": True,
                       "tuple": (1, 2.5)},
            "seconds": 1.25}


class Counter:
    def __init__(self, payload=None):
        self.calls = 0
        self.payload = payload if payload is not None else _payload()

    def __call__(self):
        self.calls += 1
        return self.payload


def _assert_payload_equal(a, b):
    assert torch.equal(a["w"], b["w"])
    assert a["history"][0]["epoch"] == b["history"][0]["epoch"] == 1
    assert a["history"][0]["loss"] == b["history"][0]["loss"]
    assert a["nested"] == b["nested"]
    assert a["seconds"] == b["seconds"]


def test_spec_key_stable_and_sensitive():
    key = spec_key("original", SPEC)
    assert len(key) == 20 and all(ch in "0123456789abcdef" for ch in key)
    assert spec_key("original", dict(reversed(list(SPEC.items())))) == key  # order-independent
    assert spec_key("original", {**SPEC, "seed": 1}) != key
    assert spec_key("original", {**SPEC, "train": {"lr": 0.05, "epochs": 3}}) != key
    assert spec_key("retrain", SPEC) != key


def test_spec_key_known_value():
    # frozen so that a change in the key derivation (which would orphan every cache) is noticed
    import hashlib
    import json

    from illusion import __version__
    blob = json.dumps({"kind": "k", "spec": {"a": 1}, "version": __version__}, sort_keys=True,
                      separators=(",", ":"))
    assert spec_key("k", {"a": 1}) == hashlib.sha256(blob.encode()).hexdigest()[:20]


def test_spec_key_depends_on_version(monkeypatch):
    key = spec_key("original", SPEC)
    monkeypatch.setattr(icache, "__version__", "999.0")
    assert spec_key("original", SPEC) != key


def test_paths(cache, tmp_path):
    path = cache.path("original", SPEC)
    assert path == tmp_path / "cache" / "original" / f"{spec_key('original', SPEC)}.pt"
    assert cache.checkpoint("original", SPEC).path == path.with_suffix(".partial.pt")
    assert path.with_suffix(".partial.pt").name.endswith(".partial.pt")


def test_default_root_from_env(tmp_path):
    assert ArtifactCache().root == tmp_path / "env_cache"


def test_get_or_create_builds_once(cache):
    build = Counter()
    first, cached = cache.get_or_create("original", SPEC, build)
    assert cached is False and build.calls == 1
    second, cached = cache.get_or_create("original", SPEC, build)
    assert cached is True and build.calls == 1
    _assert_payload_equal(first, second)
    assert second["history"][0]["val_acc"] != second["history"][0]["val_acc"]  # NaN survives
    path = cache.path("original", SPEC)
    assert path.exists() and path.with_suffix(".sha256").exists()
    # a different spec is a different artifact
    _, cached = cache.get_or_create("original", {**SPEC, "seed": 9}, build)
    assert cached is False and build.calls == 2


def test_payload_loads_with_weights_only(cache):
    cache.save("original", SPEC, _payload())
    path = cache.path("original", SPEC)
    loaded = torch.load(path, weights_only=True)
    _assert_payload_equal(loaded, _payload())
    assert cache.load("original", SPEC) is not None


class Arbitrary:
    pass


def test_arbitrary_object_is_not_a_valid_artifact(cache):
    # torch.save pickles anything, but the loader refuses it (weights_only) -> treated as missing
    cache.save("original", SPEC, {"obj": Arbitrary()})
    assert cache.load("original", SPEC) is None
    assert not cache.path("original", SPEC).exists()


def test_corrupted_file_is_rebuilt(cache):
    build = Counter()
    cache.get_or_create("original", SPEC, build)
    path = cache.path("original", SPEC)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert cache.load("original", SPEC) is None
    assert not path.exists() and not path.with_suffix(".sha256").exists()
    payload, cached = cache.get_or_create("original", SPEC, build)
    assert cached is False and build.calls == 2
    _assert_payload_equal(payload, _payload())
    assert cache.get_or_create("original", SPEC, build)[1] is True


def test_garbage_with_matching_checksum_is_rebuilt(cache):
    build = Counter()
    cache.get_or_create("original", SPEC, build)
    path = cache.path("original", SPEC)
    path.write_bytes(b"not a torch file")
    path.with_suffix(".sha256").write_text(icache._sha256(path))
    _, cached = cache.get_or_create("original", SPEC, build)
    assert cached is False and build.calls == 2


@pytest.mark.parametrize("sidecar", ["missing", "mismatch", "empty"])
def test_bad_sidecar_triggers_rebuild(cache, sidecar):
    build = Counter()
    cache.get_or_create("original", SPEC, build)
    side = cache.path("original", SPEC).with_suffix(".sha256")
    if sidecar == "missing":
        side.unlink()
    elif sidecar == "mismatch":
        side.write_text("0" * 64)
    else:
        side.write_text("")
    _, cached = cache.get_or_create("original", SPEC, build)
    assert cached is False and build.calls == 2
    assert side.read_text().strip() == icache._sha256(cache.path("original", SPEC))


def test_failed_build_leaves_nothing(cache):
    def build():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_create("original", SPEC, build)
    folder = cache.path("original", SPEC).parent
    leftovers = [p.name for p in folder.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
    assert cache.load("original", SPEC) is None


def test_interrupted_write_leaves_no_temp_file(cache, monkeypatch):
    def failing_save(obj, fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(icache.torch, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_create("original", SPEC, Counter())
    folder = cache.path("original", SPEC).parent
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []


def test_checkpoint_save_load_clear(tmp_path):
    ck = Checkpoint(tmp_path / "sub" / "k.partial.pt")
    assert ck.load() is None
    state = {"model": {"w": torch.ones(3)}, "history": [{"epoch": 1, "loss": 0.1}],
             "best_val": -1.0, "best_model": None}
    ck.save(state)
    loaded = ck.load()
    assert torch.equal(loaded["model"]["w"], torch.ones(3))
    assert loaded["history"] == state["history"] and loaded["best_model"] is None
    state["history"].append({"epoch": 2, "loss": 0.05})
    ck.save(state)  # overwrite
    assert len(ck.load()["history"]) == 2
    assert [p.name for p in ck.path.parent.iterdir()] == ["k.partial.pt"]  # no temp files
    ck.clear()
    assert not ck.path.exists() and ck.load() is None
    ck.clear()  # idempotent


def test_garbage_checkpoint_loads_as_none(tmp_path):
    ck = Checkpoint(tmp_path / "k.partial.pt")
    ck.path.write_bytes(b"definitely not a torch checkpoint")
    assert ck.load() is None
    assert not ck.path.exists()


_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    from illusion.cache import ArtifactCache

    root, counter, me, other = map(Path, sys.argv[1:5])
    me.touch()
    deadline = time.time() + 60
    while not other.exists():  # start both calls together
        if time.time() > deadline:
            sys.exit(3)
        time.sleep(0.01)

    def build():
        with open(counter, "a") as fh:
            fh.write("built\\n")
        time.sleep(1.0)
        return {"x": torch.arange(4)}

    payload, cached = ArtifactCache(root).get_or_create("original", {"spec": 1}, build)
    assert torch.equal(payload["x"], torch.arange(4))
    print("cached" if cached else "built")
""")


def test_two_processes_build_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    counter = tmp_path / "counter.txt"
    root = tmp_path / "shared-cache"
    ready = [tmp_path / "ready0", tmp_path / "ready1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(counter),
                               str(ready[i]), str(ready[1 - i])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert counter.read_text().splitlines() == ["built"]
    assert sorted(out.strip() for out, _ in outs) == ["built", "cached"]


def test_build_log_records_self_time_of_nested_builds(tmp_path):
    import time as _time

    from illusion.cache import build_log

    c = ArtifactCache(tmp_path)

    def inner():
        _time.sleep(0.05)
        return {"x": 1}

    def outer():
        c.get_or_create("inner", {"a": 1}, inner)
        _time.sleep(0.05)
        return {"y": 2}

    assert build_log(tmp_path) == []
    c.get_or_create("outer", {"b": 1}, outer)
    c.get_or_create("outer", {"b": 1}, outer)  # cached: not logged again
    log = build_log(tmp_path)
    assert [e["kind"] for e in log] == ["inner", "outer"]
    inner_e, outer_e = log
    assert outer_e["seconds"] >= inner_e["seconds"] + 0.04
    assert abs(outer_e["self_seconds"] - (outer_e["seconds"] - inner_e["seconds"])) < 1e-2
    assert inner_e["self_seconds"] == inner_e["seconds"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_write_gives_the_mode_open_would(tmp_path, umask):
    """mkstemp's private 0600 must not leak into reports and artifacts: the written file has
    the mode a plain open() gives under the process umask."""
    old = os.umask(umask)
    try:
        path = tmp_path / "report.html"
        icache.atomic_write(path, lambda fh: fh.write(b"<html></html>"))
    finally:
        os.umask(old)
    assert path.read_bytes() == b"<html></html>"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_recent_keeps_the_last_values_asked_for():
    from illusion.cache import Recent

    made = []
    memo = Recent(2)
    assert memo.get("a") is None  # absent, nothing to make
    assert memo.get("a", lambda: made.append("a") or 1) == 1
    assert memo.get("b", lambda: made.append("b") or 2) == 2
    assert memo.get("a", lambda: made.append("a") or 9) == 1  # kept; now the most recent
    memo.put("c", 3)  # drops b, the least recent
    assert memo.get("b") is None and memo.get("a") == 1 and memo.get("c") == 3
    assert made == ["a", "b"]
    with pytest.raises(ValueError, match="at least 1"):
        Recent(0)

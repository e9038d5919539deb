"""Content-addressed artifact cache with atomic writes and a lock per artifact.

An artifact is a ``dict`` of tensors and plain Python values (``torch.save``-able and loadable
with ``weights_only=True``). Its key is the SHA-256 of a canonical JSON of
``{"kind", "spec", "version"}``, where ``spec`` holds everything that decides the artifact
(config, dataset, seed, forget set...) and ``version`` is the package version. Files live in
``$ILLUSION_CACHE`` (default ``./artifacts``) as ``<kind>/<key>.pt`` with a ``.sha256`` sidecar;
a file whose checksum does not match, or that does not load, is treated as missing and rebuilt.
Writes go to a temporary file in the same folder and are renamed into place, so an interrupted
run leaves no artifact behind; a ``filelock`` makes concurrent processes build it once.

Every build appends one JSON line to ``<root>/builds.jsonl``: kind, key, wall seconds,
*self* seconds (wall minus the artifacts built inside it, e.g. an evaluation's features), and
the process, host and Ray node (``ILLUSION_NODE``, set by the sweep's tasks) that built it, so
:func:`build_log` can say where the time of a cold run went (``bench/book_time.py``) and
where each artifact was built. A builder killed mid-write leaves a temporary file that is
never read as the artifact; the next builder of that artifact, holding its lock, removes it.
While it runs, a build leaves a small marker in ``<root>/running/``, so that :func:`running_builds` can
tell a sweep's progress line which kinds of artifact are being built now.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch
from filelock import FileLock

from . import __version__

__all__ = ["HOST", "atomic_write", "ArtifactCache", "NotBuilt", "Checkpoint", "Recent",
           "build_log", "cache_root", "process_alive", "running_builds", "spec_key"]

LOG_NAME = "builds.jsonl"
RUNNING = "running"  # folder of the markers of the builds in progress
HOST = socket.gethostname()
_nesting = threading.local()  # stack of child-build seconds, one entry per build in progress


def cache_root() -> Path:
    return Path(os.environ.get("ILLUSION_CACHE", "artifacts"))


def spec_key(kind: str, spec: dict) -> str:
    """Stable 20-hex-digit key of an artifact description."""
    blob = json.dumps({"kind": kind, "spec": spec, "version": __version__}, sort_keys=True,
                      default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600); give it the mode open() would have (a report
        # or a shared cache must be readable by the group the umask allows)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Checkpoint:
    """Resumable state of an artifact being built: ``<kind>/<key>.partial.pt``.

    ``load()`` returns the last saved state (``None`` when absent or unreadable); ``save`` writes
    atomically; ``clear()`` removes it once the artifact is complete.
    """

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception:
            self.path.unlink(missing_ok=True)
            return None

    def save(self, state: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, lambda fh: torch.save(state, fh))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class NotBuilt(LookupError):
    """A read-only read (:meth:`ArtifactCache.read`) found no artifact: whatever reads it
    (a book page) expects the sweep to have built it first."""

    def __init__(self, kind: str, key: str, what: str = "", hint: str = ""):
        super().__init__(kind, key)
        self.kind, self.key, self.what, self.hint = kind, key, what, hint

    def __str__(self) -> str:
        return (f"{self.what or self.kind} is not built (artifact {self.kind}/{self.key})"
                + (f": {self.hint}" if self.hint else ""))


READS_ENV = "ILLUSION_READS"  # a file: every artifact loaded is appended to it ("kind/key")


def _note_read(kind: str, key: str) -> None:
    """Append ``kind/key`` to ``$ILLUSION_READS`` when set: the book's run records which
    artifacts its pages read (their keys go in the build's results, and are what
    ``illusion cache export`` bundles). One short ``O_APPEND`` write per line."""
    target = os.environ.get(READS_ENV, "").strip()
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(f"{kind}/{key}\n")


class ArtifactCache:
    """Artifacts under ``root`` (default :func:`cache_root`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else cache_root()

    def path(self, kind: str, spec: dict) -> Path:
        return self.root / kind / f"{spec_key(kind, spec)}.pt"

    def checkpoint(self, kind: str, spec: dict) -> Checkpoint:
        return Checkpoint(self.path(kind, spec).with_suffix(".partial.pt"))

    def load(self, kind: str, spec: dict) -> dict | None:
        """The stored artifact, or ``None`` when missing or corrupted (then it is removed)."""
        path = self.path(kind, spec)
        sidecar = path.with_suffix(".sha256")
        if not path.exists():
            return None
        try:
            if sidecar.read_text().strip() != _sha256(path):
                raise ValueError("checksum mismatch")
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            path.unlink(missing_ok=True)
            sidecar.unlink(missing_ok=True)
            return None
        _note_read(kind, path.stem)
        return payload

    def has(self, kind: str, spec: dict) -> bool:
        """Whether the artifact is stored (its file and checksum; :meth:`load` verifies)."""
        path = self.path(kind, spec)
        return path.exists() and path.with_suffix(".sha256").exists()

    def verify(self, load: bool = True) -> dict[str, list[Path] | int]:
        """Check every stored artifact without changing anything: ``artifacts`` (how many),
        ``corrupt`` (a file whose checksum sidecar is missing or does not match, or, with
        ``load``, that ``torch.load(weights_only=True)`` refuses), ``temporary`` (files a
        killed writer left; never read as artifacts) and ``checkpoints`` (training
        checkpoints of interrupted builds, which resume them)."""
        corrupt, n = [], 0
        for path in sorted(self.root.glob("*/*.pt")):
            if path.name.endswith(".partial.pt"):
                continue
            n += 1
            sidecar = path.with_suffix(".sha256")
            try:
                if not sidecar.exists() or sidecar.read_text().strip() != _sha256(path):
                    raise ValueError("checksum")
                if load:
                    torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 (whatever the reason, it is not a good artifact)
                corrupt.append(path)
        return {"artifacts": n, "corrupt": corrupt,
                "temporary": sorted(self.root.glob("*/.*.tmp")),
                "checkpoints": sorted(self.root.glob("*/*.partial.pt"))}

    def read(self, kind: str, spec: dict, what: str = "") -> dict:
        """The stored artifact; never builds: :class:`NotBuilt` (``what`` names it in the
        message) when it is missing or corrupted."""
        found = self.load(kind, spec)
        if found is None:
            raise NotBuilt(kind, spec_key(kind, spec), what)
        return found

    def save(self, kind: str, spec: dict, payload: dict) -> Path:
        path = self.path(kind, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda fh: torch.save(payload, fh))
        atomic_write(path.with_suffix(".sha256"), lambda fh: fh.write(_sha256(path).encode()))
        return path

    def get_or_create(self, kind: str, spec: dict,
                      build: Callable[[], dict]) -> tuple[dict, bool]:
        """Return ``(artifact, cached)``; ``build()`` runs at most once across processes."""
        path = self.path(kind, spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_suffix(".lock"))):
            found = self.load(kind, spec)
            if found is not None:
                return found, True
            # the lock is ours: a temporary file of this artifact is a killed writer's
            for stale in path.parent.glob(f".{path.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            stack = _nesting.__dict__.setdefault("stack", [])
            stack.append(0.0)
            key = spec_key(kind, spec)
            marker = self._mark_running(kind, key)
            start = time.perf_counter()
            try:
                payload = build()
            finally:
                wall = time.perf_counter() - start
                children = stack.pop()
                if stack:
                    stack[-1] += wall
                marker.unlink(missing_ok=True)
            self.save(kind, spec, payload)
            self._log({"kind": kind, "key": key, "seconds": round(wall, 3),
                       "self_seconds": round(wall - children, 3), "pid": os.getpid(),
                       "host": HOST, "node": os.environ.get("ILLUSION_NODE", ""),
                       "time": time.time()})
            return payload, False

    def _mark_running(self, kind: str, key: str) -> Path:
        """Write the marker of a build in progress (removed when it ends, however it ends)."""
        folder = self.root / RUNNING
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{kind}.{key}.{os.getpid()}.json"
        record = {"kind": kind, "key": key, "pid": os.getpid(), "host": HOST,
                  "node": os.environ.get("ILLUSION_NODE", ""), "since": time.time()}
        atomic_write(path, lambda fh: fh.write(json.dumps(record).encode()))
        return path

    def _log(self, entry: dict) -> None:
        # one short O_APPEND write per line: concurrent writers do not interleave lines
        with open(self.root / LOG_NAME, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


def build_log(root: str | Path | None = None) -> list[dict]:
    """The build log of a cache (oldest first); ``[]`` when nothing was built there."""
    path = Path(root if root is not None else cache_root()) / LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class Recent:
    """The in-process companion of the artifact cache: the ``size`` values asked for last, by
    key (least recently used dropped first), for what a process reads again and again
    (loaded start models, a cell's reference Grams) without going back to disk or
    recomputing. Values are shared: treat them as read-only."""

    def __init__(self, size: int = 1):
        if size < 1:
            raise ValueError(f"Recent: size must be at least 1, got {size}")
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key, make: Callable[[], Any] | None = None):
        """The value of ``key`` (now the most recent); when absent, ``make()`` stored under it,
        or None without ``make``."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None if make is None else self.put(key, make())

    def put(self, key, value):
        """Store ``value`` under ``key``, dropping the least recent beyond ``size``; returns
        ``value``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def process_alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0 or -1, ...) would address a process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def running_builds(root: str | Path | None = None) -> list[dict]:
    """The builds in progress in a cache, oldest first: ``{"kind", "key", "pid", "host",
    "since"}`` each. A marker left by a process of this host that no longer runs (killed
    mid-build) is skipped; an unreadable marker (being written) too."""
    folder = Path(root if root is not None else cache_root()) / RUNNING
    found = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if record.get("host") == HOST and not process_alive(int(record.get("pid", -1))):
            continue
        found.append(record)
    return sorted(found, key=lambda r: r.get("since", 0.0))

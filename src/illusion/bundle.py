"""``illusion cache export | import``: the artifacts a book reads, as one checksummed file.

**Export** (:func:`export_bundle`) writes a tar file holding ``manifest.json`` first, then
``artifacts/<kind>/<key>.pt`` for every artifact the book of a profile reads:

- every row of the book's grid (:func:`illusion.book.book_grid`; kind ``sweep_cell``) and
  every extra artifact of it (kind ``extra``): what ``illusion sweep book:PROFILE`` checks
  before it skips a row, and what the pages read;
- every other artifact the pages loaded in the build whose results file is given (its
  ``provenance.artifacts``, recorded by ``tools/run_notebooks.py``; e.g. the audit page's).

Nothing else: no trained model, no feature cache. A book rebuilt from a bundle therefore
builds no model; the pages only read. The manifest holds each file's SHA-256 and size, the
profile, and the provenance of the build the bundle comes from.

**Import** (:func:`import_bundle`) takes a file or a URL (``http(s)://``, ``file://``):

1. the manifest is read and checked (a bundle of this format, of the profile asked for);
2. every member is hashed, without writing anything, against the manifest: a tampered,
   truncated, foreign or unsafe member (a link, an absolute path, ``..``) stops the import
   with one line (:class:`BundleError`, exit 2) and nothing written to the cache;
3. only then is each artifact written, atomically and under its lock
   (:meth:`illusion.cache.ArtifactCache.save`'s files), with its checksum sidecar.

An artifact the cache already holds is left alone: with the same checksum it is counted as
present; with another (built elsewhere, e.g. on another CPU) it is kept and counted as
``kept``, unless ``replace`` is given. The cache's own artifacts are never removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock

from .cache import ArtifactCache, _sha256, atomic_write, spec_key

__all__ = ["BUNDLE_FORMAT", "BundleError", "bundle_members", "export_bundle", "import_bundle",
           "read_manifest"]

BUNDLE_FORMAT = "illusion-bundle/1"
MANIFEST = "manifest.json"
PREFIX = "artifacts/"
CHUNK = 1 << 20
_KINDS_OK = frozenset("abcdefghijklmnopqrstuvwxyz_")


class BundleError(ValueError):
    """A bundle that cannot be imported or exported (one line; exit 2 at the command line)."""


def book_artifacts(profile: str) -> set[str]:
    """``kind/key`` of every row of the book's grid and of every extra artifact of it."""
    from .book.table import book_grid
    from .keys import ROW_KIND
    from .rows import EXTRA_KIND, _extras_of, extra_artifact_spec, row_spec

    grid = book_grid(profile)
    out = set()
    for cell in grid.rows:
        out.add(f"{ROW_KIND}/{spec_key(ROW_KIND, row_spec(cell, grid.extras))}")
        for name in _extras_of(cell, grid.extras):
            out.add(f"{EXTRA_KIND}/{spec_key(EXTRA_KIND, extra_artifact_spec(cell, name))}")
    return out


def bundle_members(profile: str, build: dict | None) -> list[str]:
    """The sorted ``kind/key`` of what a bundle of ``profile`` holds (module docstring)."""
    members = book_artifacts(profile)
    if build is not None:
        members |= set((build.get("provenance") or {}).get("artifacts") or {})
    return sorted(members)


def export_bundle(profile: str, target: Path, cache: ArtifactCache | None = None,
                  build: dict | None = None, progress: bool = False) -> dict:
    """Write the bundle of ``profile`` to ``target`` (atomically); return its manifest.
    ``build``: the build's results (:func:`illusion.contract.assemble`), whose provenance goes
    in the manifest and whose read artifacts are bundled too. :class:`BundleError` when an
    artifact is not in the cache or does not match its checksum."""
    from tqdm.auto import tqdm

    cache = cache or ArtifactCache()
    if build is not None and build.get("profile") != profile:
        raise BundleError(f"the build's results are of profile {build.get('profile')!r}, not "
                          f"{profile!r}")
    files, missing = {}, []
    members = bundle_members(profile, build)
    for entry in tqdm(members, desc="checksums", unit="file", disable=not progress):
        kind, key = entry.split("/", 1)
        path = cache.root / kind / f"{key}.pt"
        if not path.exists():
            missing.append(entry)
            continue
        digest = _sha256(path)
        sidecar = path.with_suffix(".sha256")
        if not sidecar.exists() or sidecar.read_text().strip() != digest:
            raise BundleError(f"{path}: its checksum does not match its sidecar; rebuild it "
                              f"(illusion sweep book:{profile}) before exporting")
        files[f"{entry}.pt"] = {"sha256": digest, "bytes": path.stat().st_size}
    if missing:
        raise BundleError(f"{len(missing)} of the {len(members)} artifacts of the {profile} "
                          f"book are not in {cache.root} (e.g. {missing[0]}): build the book "
                          f"first (make book PROFILE={profile})")
    manifest = {"format": BUNDLE_FORMAT, "profile": profile,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "provenance": (build or {}).get("provenance", {}),
                "files": files, "bytes": sum(f["bytes"] for f in files.values())}
    text = json.dumps(manifest, indent=1, sort_keys=True).encode()
    mode = "w:gz" if str(target).endswith((".gz", ".tgz")) else "w"

    def write(fh) -> None:
        with tarfile.open(fileobj=fh, mode=mode) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime = len(text), int(time.time())
            tar.addfile(info, io.BytesIO(text))
            for name in tqdm(sorted(files), desc="export", unit="file", disable=not progress):
                kind, rest = name.split("/", 1)
                tar.add(cache.root / kind / rest, arcname=PREFIX + name, recursive=False)

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, write)
    return manifest


def _fetch(source: str, tmpdir: Path) -> Path:
    """A local path for ``source``: a file, or a URL downloaded into ``tmpdir``."""
    if "://" not in source:
        path = Path(source)
        if not path.is_file():
            raise BundleError(f"{source}: no such bundle file")
        return path
    target = tmpdir / "bundle.tar"
    try:
        with urllib.request.urlopen(source, timeout=60) as response, open(target, "wb") as fh:
            shutil.copyfileobj(response, fh, CHUNK)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BundleError(f"{source}: cannot download the bundle "
                          f"({' '.join(str(getattr(exc, 'reason', exc)).split())})") from None
    return target


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{path}: not a bundle ({type(exc).__name__})") from None


def read_manifest(path: Path, profile: str | None = None) -> dict:
    """The checked manifest of the bundle at ``path`` (:class:`BundleError` otherwise)."""
    with _open(path) as tar:
        try:
            first = tar.next()
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleError(f"{path}: not a bundle ({type(exc).__name__})") from None
        if first is None or first.name != MANIFEST or not first.isfile():
            raise BundleError(f"{path}: not a bundle (no {MANIFEST} first)")
        try:
            manifest = json.loads(tar.extractfile(first).read())
        except (ValueError, OSError, tarfile.TarError, EOFError) as exc:
            raise BundleError(f"{path}: its manifest is not JSON ({type(exc).__name__})") \
                from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT or \
            not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{path}: not a bundle of format {BUNDLE_FORMAT}")
    if profile is not None and manifest.get("profile") != profile:
        raise BundleError(f"{path}: a bundle of profile {manifest.get('profile')!r}, not "
                          f"{profile!r}; nothing imported")
    for name, entry in manifest["files"].items():
        _check_name(path, name)
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise BundleError(f"{path}: manifest entry {name!r} has no sha256")
    return manifest


def _check_name(path: Path, name: str) -> None:
    parts = name.split("/")
    if len(parts) != 2 or not parts[0] or set(parts[0]) - _KINDS_OK or \
            not parts[1].endswith(".pt") or "/" in parts[1] or parts[1].startswith(".") or \
            ".." in name or "\\" in name:
        raise BundleError(f"{path}: unsafe or foreign member name {name!r}; nothing imported")


def _verify(path: Path, manifest: dict) -> None:
    """Hash every member against the manifest, writing nothing."""
    seen = set()
    with _open(path) as tar:
        try:
            for info in tar:
                if info.name == MANIFEST:
                    continue
                name = info.name[len(PREFIX):] if info.name.startswith(PREFIX) else None
                if name is None or not info.isfile() or name not in manifest["files"]:
                    raise BundleError(f"{path}: member {info.name!r} is not in the manifest "
                                      "(or not a plain file); nothing imported")
                if name in seen:
                    raise BundleError(f"{path}: member {info.name!r} appears twice; nothing "
                                      "imported")
                h = hashlib.sha256()
                fh = tar.extractfile(info)
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    h.update(chunk)
                if h.hexdigest() != manifest["files"][name]["sha256"]:
                    raise BundleError(f"{path}: {name} does not match its sha256 in the "
                                      "manifest (tampered or corrupted); nothing imported")
                seen.add(name)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BundleError(f"{path}: truncated or damaged ({type(exc).__name__}); nothing "
                              "imported") from None
    absent = sorted(set(manifest["files"]) - seen)
    if absent:
        raise BundleError(f"{path}: {len(absent)} file(s) of the manifest are missing (e.g. "
                          f"{absent[0]}): truncated; nothing imported")


def import_bundle(source: str, cache: ArtifactCache | None = None, profile: str | None = None,
                  replace: bool = False, progress: bool = False) -> dict:
    """Import the bundle at ``source`` (a file or URL) into ``cache`` (module docstring);
    return counts: ``written``, ``present`` (same checksum already there), ``kept`` (another
    checksum already there, left alone) and ``replaced``, with the manifest's profile and
    provenance."""
    from tqdm.auto import tqdm

    cache = cache or ArtifactCache()
    with tempfile.TemporaryDirectory(prefix="illusion-bundle-") as tmp:
        path = _fetch(source, Path(tmp))
        manifest = read_manifest(path, profile)
        _verify(path, manifest)
        counts = {"written": 0, "present": 0, "kept": 0, "replaced": 0}
        with _open(path) as tar:
            for info in tqdm(tar, desc="import", unit="file", disable=not progress,
                             total=len(manifest["files"]) + 1):
                if info.name == MANIFEST:
                    continue
                name = info.name[len(PREFIX):]
                digest = manifest["files"][name]["sha256"]
                kind, file = name.split("/", 1)
                dest = cache.root / kind / file
                dest.parent.mkdir(parents=True, exist_ok=True)
                with FileLock(str(dest.with_suffix(".lock"))):
                    sidecar = dest.with_suffix(".sha256")
                    if dest.exists() and sidecar.exists():
                        same = sidecar.read_text().strip() == digest
                        if same:
                            counts["present"] += 1
                            continue
                        if not replace:
                            counts["kept"] += 1
                            continue
                        counts["replaced"] += 1
                    else:
                        counts["written"] += 1
                    data = tar.extractfile(info)
                    atomic_write(dest, lambda fh: shutil.copyfileobj(data, fh, CHUNK))
                    if _sha256(dest) != digest:  # changed between the two reads
                        dest.unlink(missing_ok=True)
                        raise BundleError(f"{path}: {name} changed while importing")
                    atomic_write(sidecar, lambda fh: fh.write(digest.encode()))
    return {"profile": manifest["profile"], "files": len(manifest["files"]),
            "bytes": manifest.get("bytes"), "provenance": manifest.get("provenance", {}),
            **counts}


def add_parser(sub) -> None:
    """``illusion cache export | import | verify``."""
    p = sub.add_parser("cache", help="export or import the artifacts a book reads (a bundle)")
    s = p.add_subparsers(dest="cache_command", required=True)
    ex = s.add_parser("export", help="write the artifacts the book of a profile reads, with a "
                                     "sha256 manifest, to one file")
    ex.add_argument("file", help="the bundle to write (.tar, or .tar.gz)")
    ex.add_argument("--profile", default="cpu", help="smoke, cpu (default) or paper")
    ex.add_argument("--results", default=None, metavar="FILE",
                    help="the build's results (default: _build/results/PROFILE.json)")
    ex.add_argument("--json", action="store_true")
    ex.set_defaults(run=_export, show=_print_export)
    im = s.add_parser("import", help="verify a bundle's checksums, then add its artifacts to "
                                     "the cache")
    im.add_argument("source", help="a bundle file or URL (http://, https://, file://)")
    im.add_argument("--profile", default=None, help="refuse a bundle of another profile")
    im.add_argument("--replace", action="store_true",
                    help="overwrite artifacts the cache holds with other checksums")
    im.add_argument("--json", action="store_true")
    im.set_defaults(run=_import, show=_print_import)


def _export(args) -> dict:
    from .contract import build_results_path, load_results
    from .profiles import get_profile

    get_profile(args.profile)  # an unknown profile: one line, exit 2
    results = Path(args.results) if args.results else build_results_path(args.profile)
    build = load_results(results, kind="build", profile=args.profile)
    start = time.perf_counter()
    manifest = export_bundle(args.profile, Path(args.file), build=build,
                             progress=not args.json)
    return {"file": str(args.file), "profile": args.profile, "files": len(manifest["files"]),
            "bytes": os.path.getsize(args.file), "seconds": round(time.perf_counter() - start, 1)}


def _print_export(rec: dict) -> None:
    print(f"wrote {rec['file']}: {rec['files']} artifacts of the {rec['profile']} book, "
          f"{rec['bytes'] / 2**20:.1f} MiB, in {rec['seconds']} s")


def _import(args) -> dict:
    if args.profile is not None:
        from .profiles import get_profile

        get_profile(args.profile)
    start = time.perf_counter()
    rec = import_bundle(args.source, profile=args.profile, replace=args.replace,
                        progress=not args.json)
    rec["seconds"] = round(time.perf_counter() - start, 1)
    rec["source"] = args.source
    return rec


def _print_import(rec: dict) -> None:
    commit = str(rec["provenance"].get("commit", "?"))[:12]
    print(f"imported {rec['source']} ({rec['profile']}, commit {commit}): {rec['written']} "
          f"written, {rec['present']} already present, {rec['kept']} kept (the cache's own, "
          f"another checksum), {rec['replaced']} replaced, in {rec['seconds']} s")

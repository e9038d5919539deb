"""The artifact bundle (illusion.bundle): export, then import from a file or URL, verified
before anything is written; tampered, truncated, foreign or unsafe bundles are refused with one
line and nothing written; an import into a non-empty cache leaves the cache's own artifacts."""

from __future__ import annotations

import functools
import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import pytest
import torch

from illusion import bundle, cli
from illusion.bundle import BundleError, export_bundle, import_bundle
from illusion.cache import ArtifactCache

SPECS = {("sweep_cell", "a"): {"x": 1.0}, ("sweep_cell", "b"): {"x": 2.0},
         ("extra", "c"): {"curve": [1.0, 2.0, 3.0]}}


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A cache with three artifacts, and the bundle's members pointed at exactly them."""
    cache = ArtifactCache(tmp_path / "src")
    keys = []
    for (kind, name), payload in SPECS.items():
        path = cache.save(kind, {"name": name}, {"value": torch.tensor(payload.get("x", 0.0)),
                                                  **payload})
        keys.append(f"{kind}/{path.stem}")
    monkeypatch.setattr(bundle, "book_artifacts", lambda profile: set(keys))
    return cache, sorted(keys)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".pt", ".sha256")}


def test_export_then_import_gives_the_same_files(source, tmp_path):
    cache, keys = source
    target = tmp_path / "b.tar"
    manifest = export_bundle("smoke", target, cache,
                             build={"profile": "smoke", "provenance": {"commit": "abc"}})
    assert len(manifest["files"]) == 3 and manifest["provenance"]["commit"] == "abc"
    fresh = ArtifactCache(tmp_path / "dst")
    counts = import_bundle(str(target), fresh, profile="smoke")
    assert counts["written"] == 3 and counts["present"] == counts["kept"] == 0
    assert _files(fresh.root) == _files(cache.root)
    assert fresh.verify()["corrupt"] == []
    again = import_bundle(str(target), fresh)
    assert again["present"] == 3 and again["written"] == 0


def test_a_gzipped_bundle_and_a_file_url(source, tmp_path):
    cache, _ = source
    target = tmp_path / "b.tar.gz"
    export_bundle("smoke", target, cache)
    fresh = ArtifactCache(tmp_path / "dst")
    assert import_bundle(target.resolve().as_uri(), fresh)["written"] == 3
    assert _files(fresh.root) == _files(cache.root)


def test_an_http_url(source, tmp_path):
    cache, _ = source
    export_bundle("smoke", tmp_path / "served" / "b.tar", cache)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(tmp_path / "served"))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        fresh = ArtifactCache(tmp_path / "dst")
        assert import_bundle(f"{url}/b.tar", fresh)["written"] == 3
        with pytest.raises(BundleError, match="cannot download"):
            import_bundle(f"{url}/missing.tar", ArtifactCache(tmp_path / "other"))
        assert not (tmp_path / "other").exists()
    finally:
        server.shutdown()


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy the tar at ``src`` to ``dst`` member by member, ``change(name, data) -> data``
    (``None`` drops the member)."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for info in tin:
            data = change(info.name, tin.extractfile(info).read())
            if data is None:
                continue
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


def _nothing_written(root: Path) -> bool:
    return not root.exists() or not any(p.is_file() and p.suffix in (".pt", ".sha256")
                                        for p in root.rglob("*"))


@pytest.mark.parametrize("case", ["tampered", "dropped", "foreign member", "unsafe name",
                                  "manifest lies"])
def test_a_bad_bundle_writes_nothing(source, tmp_path, case):
    cache, _ = source
    good = tmp_path / "good.tar"
    export_bundle("smoke", good, cache)
    bad = tmp_path / "bad.tar"
    first_pt = {"seen": False}

    def change(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            if case == "unsafe name":
                name0 = next(iter(manifest["files"]))
                manifest["files"]["../../evil.pt"] = manifest["files"].pop(name0)
            if case == "manifest lies":
                name0 = sorted(manifest["files"])[-1]
                manifest["files"][name0]["sha256"] = "0" * 64
            return json.dumps(manifest).encode()
        if case == "tampered" and not first_pt["seen"]:
            first_pt["seen"] = True
            return data[:-1] + bytes([data[-1] ^ 1])
        if case == "dropped" and not first_pt["seen"]:
            first_pt["seen"] = True
            return None
        return data

    _rewrite(good, bad, change)
    if case == "foreign member":
        with tarfile.open(bad, "a") as tar:
            info = tarfile.TarInfo("artifacts/sweep_cell/zzz.pt")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    dst = tmp_path / "dst"
    with pytest.raises(BundleError, match="nothing imported|not in the manifest"):
        import_bundle(str(bad), ArtifactCache(dst))
    assert _nothing_written(dst)


def test_a_truncated_bundle_writes_nothing(source, tmp_path):
    cache, _ = source
    good = tmp_path / "good.tar"
    export_bundle("smoke", good, cache)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BundleError):
        import_bundle(str(cut), ArtifactCache(tmp_path / "dst"))
    assert _nothing_written(tmp_path / "dst")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all")
    with pytest.raises(BundleError, match="not a bundle"):
        import_bundle(str(tmp_path / "junk.tar"), ArtifactCache(tmp_path / "dst"))


def test_a_bundle_of_another_profile_is_refused(source, tmp_path):
    cache, _ = source
    export_bundle("smoke", tmp_path / "b.tar", cache)
    with pytest.raises(BundleError, match="profile 'smoke', not 'cpu'"):
        import_bundle(str(tmp_path / "b.tar"), ArtifactCache(tmp_path / "dst"), profile="cpu")
    assert _nothing_written(tmp_path / "dst")


def test_import_into_a_non_empty_cache_keeps_its_own(source, tmp_path):
    cache, keys = source
    export_bundle("smoke", tmp_path / "b.tar", cache)
    dst = ArtifactCache(tmp_path / "dst")
    mine = dst.save("sweep_cell", {"name": "a"}, {"value": torch.tensor(99.0), "x": 99.0})
    other = dst.save("original", {"name": "o"}, {"w": torch.ones(2)})
    counts = import_bundle(str(tmp_path / "b.tar"), dst)
    assert counts == {**counts, "written": 2, "kept": 1, "present": 0, "replaced": 0}
    assert torch.load(mine, weights_only=True)["x"] == 99.0  # the cache's own, kept
    assert other.exists()  # never removed
    counts = import_bundle(str(tmp_path / "b.tar"), dst, replace=True)
    assert counts["replaced"] == 1 and counts["present"] == 2
    assert torch.load(mine, weights_only=True)["x"] == 1.0
    assert dst.verify()["corrupt"] == []


def test_export_refuses_a_missing_artifact(source, tmp_path):
    cache, keys = source
    (cache.root / f"{keys[0]}.pt").unlink()
    with pytest.raises(BundleError, match="1 of the 3 artifacts"):
        export_bundle("smoke", tmp_path / "b.tar", cache)
    assert not (tmp_path / "b.tar").exists()


def test_cli_one_line_exit_2_and_nothing_written(source, tmp_path, capsys, monkeypatch):
    cache, _ = source
    export_bundle("smoke", tmp_path / "b.tar", cache)
    monkeypatch.setenv("ILLUSION_CACHE", str(tmp_path / "dst"))
    assert cli.main(["cache", "import", str(tmp_path / "b.tar"), "--profile", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not 'cpu'" in err
    assert cli.main(["cache", "import", str(tmp_path / "nope.tar")]) == 2
    assert "no such bundle file" in capsys.readouterr().err
    assert _nothing_written(tmp_path / "dst")
    assert cli.main(["cache", "import", str(tmp_path / "b.tar"), "--profile", "smoke",
                     "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 3
    # export needs the build's results of that profile
    assert cli.main(["cache", "export", str(tmp_path / "x.tar"), "--profile", "smoke",
                     "--results", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err

"""tools/get_data.py: the data bootstrap of `make book` / `make test`, without network or apt."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from illusion import data as idata

_spec = importlib.util.spec_from_file_location(
    "get_data", Path(__file__).resolve().parents[1] / "tools" / "get_data.py")
get_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(get_data)


def _fake_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / f"{stem}.gz").write_bytes(b"")


def test_present_needs_nothing(tmp_path, monkeypatch):
    _fake_files(tmp_path / "deb")
    monkeypatch.setattr(get_data, "apt_install", lambda: pytest.fail("called apt"))
    assert get_data.ensure(tmp_path / "deb", tmp_path / "data") == "present"


def test_apt_as_root_on_debian(tmp_path, monkeypatch):
    monkeypatch.setattr(get_data, "debian_root", lambda: True)
    monkeypatch.setattr(get_data, "apt_install", lambda: _fake_files(tmp_path / "deb") or True)
    monkeypatch.setattr(get_data, "download", lambda root: pytest.fail("downloaded"))
    assert get_data.ensure(tmp_path / "deb", tmp_path / "data") == "apt"


def test_download_when_not_root(tmp_path, monkeypatch):
    monkeypatch.setattr(get_data, "debian_root", lambda: False)
    monkeypatch.setattr(get_data, "download",
                        lambda root: _fake_files(root / "FashionMNIST" / "raw") or True)
    assert get_data.ensure(tmp_path / "deb", tmp_path / "data") == "download"


def test_neither_way_stops_with_one_line_naming_both(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ILLUSION_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(get_data, "debian_root", lambda: False)
    monkeypatch.setattr(get_data, "download", lambda root: False)
    monkeypatch.setattr(idata, "DEBIAN_FASHION_MNIST", idata.DEBIAN_FASHION_MNIST)
    assert get_data.main(["--debian-dir", str(tmp_path / "none")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "apt-get install dataset-fashion-mnist" in lines[0] and "download" in lines[0]
    assert str(tmp_path / "data") in lines[0]

"""Make sure Fashion-MNIST is on this machine before `make book` / `make test` start.

In order: already there (Debian's ``dataset-fashion-mnist`` files or a previous download in
``$ILLUSION_DATA``) -> nothing to do; root on Debian or Ubuntu -> ``apt-get install -y
dataset-fashion-mnist`` (as ``.ci/run`` does); otherwise -> torchvision's download into
``$ILLUSION_DATA``; if all fail, one line naming both ways and exit status 2.

    python tools/get_data.py [--debian-dir DIR] [--no-apt] [--no-download]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from illusion import data as idata

PACKAGE = "dataset-fashion-mnist"


def present(debian_dir: Path, root: Path) -> bool:
    """Whether Fashion-MNIST's four idx files are in ``debian_dir`` or ``root``'s download."""
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    return any(all(idata._find_idx(folder, s) for s in stems)
               for folder in (debian_dir, root / "FashionMNIST" / "raw"))


def debian_root() -> bool:
    """Root on a Debian or Ubuntu system with apt-get."""
    release = Path("/etc/os-release")
    text = release.read_text().lower() if release.exists() else ""
    apt_distro = Path("/etc/debian_version").exists() or "debian" in text or "ubuntu" in text
    return os.geteuid() == 0 and apt_distro and shutil.which("apt-get") is not None


def apt_install() -> bool:
    """``apt-get install -y dataset-fashion-mnist`` (after an update when the package is not
    known yet); True when it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-q", PACKAGE],
                ["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", PACKAGE]):
        ok = subprocess.run(cmd, env=env, stdout=sys.stderr).returncode == 0
        if ok and cmd[1] == "install":
            return True
    return False


def download(root: Path) -> bool:
    """torchvision's download into ``root``; True when the files arrived."""
    try:
        idata._fashion_mnist(root, download=True)
        return True
    except idata.DataUnavailable:
        return False


def ensure(debian_dir: Path, root: Path, use_apt: bool = True, use_download: bool = True) -> str:
    """Where the data came from ("present", "apt", "download"); ``DataUnavailable`` (one
    line naming both ways) when none worked."""
    if present(debian_dir, root):
        return "present"
    if use_apt and debian_root() and apt_install() and present(debian_dir, root):
        return "apt"
    if use_download and download(root) and present(debian_dir, root):
        return "download"
    raise idata.DataUnavailable(
        f"Fashion-MNIST is missing: install Debian's package (sudo apt-get install {PACKAGE}) "
        f"or let torchvision download it into {root} (needs the network)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debian-dir", type=Path, default=idata.DEBIAN_FASHION_MNIST,
                        help="where Debian's package puts the files (tests point it elsewhere)")
    parser.add_argument("--no-apt", action="store_true", help="never call apt-get")
    parser.add_argument("--no-download", action="store_true", help="never download")
    args = parser.parse_args(argv)
    idata.DEBIAN_FASHION_MNIST = args.debian_dir  # where illusion.data looks, in this process
    try:
        how = ensure(args.debian_dir, idata.data_root(), not args.no_apt, not args.no_download)
    except idata.DataUnavailable as exc:
        print(f"get_data: error: {exc}", file=sys.stderr)
        return 2
    if how != "present":
        print(f"get_data: Fashion-MNIST installed ({how})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

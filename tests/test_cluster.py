"""The sweep on a real multi-node Ray cluster (issue 35): two Ray nodes on this machine
(``ray.cluster_utils.Cluster``: each node its own raylet, object store and worker processes),
the smoke grid swept through ``illusion sweep --address`` into a shared cache, then again with
the worker node killed mid-sweep.

Marked ``cluster`` (about three minutes on two cores: three sweeps of the smoke grid and a
cluster's start): ``make test`` runs it after the unit tests, ``pytest -m "not cluster"``
leaves it out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from illusion import data as idata
from illusion.cache import ArtifactCache, build_log

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "grids" / "smoke.yaml"
TIMINGS = ("seconds", "wall_seconds", "status")  # how long, and whether read or computed

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not idata.DEBIAN_FASHION_MNIST.is_dir(),
                       reason="the smoke grid reads Debian's dataset-fashion-mnist"),
]


def _env(cache: Path, data: Path) -> dict:
    return {**os.environ, "ILLUSION_CACHE": str(cache), "ILLUSION_DATA": str(data),
            "PYTHONUNBUFFERED": "1"}


def _sweep(cache: Path, data: Path, *args: str) -> subprocess.Popen:
    """``illusion sweep grids/smoke.yaml ARGS`` in a subprocess (its log: one line per
    finished row, as on a terminal-less CI log)."""
    return subprocess.Popen([sys.executable, "-m", "illusion.cli", "sweep", str(SMOKE), *args],
                            env=_env(cache, data), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _results(cache: Path) -> pd.DataFrame:
    table = pd.read_csv(cache / "sweeps" / "smoke.csv")
    return table.drop(columns=list(TIMINGS)).sort_values(["forget", "method"]).reset_index(
        drop=True)


def _keys(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.glob("*/*.pt")
                  if not p.name.endswith(".partial.pt"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def local(tmp_path_factory, data_dir) -> Path:
    """The smoke grid on local Ray, one CPU: the reference (every task with one thread, as on
    the cluster's one-CPU nodes)."""
    cache = tmp_path_factory.mktemp("local")
    code, log = _finish(_sweep(cache, data_dir, "--max-parallel", "1"))
    assert code == 0, log
    return cache


@pytest.fixture(scope="module")
def cluster(local, tmp_path_factory):
    """A head node and a worker node, one CPU each, each with its own temp dir (started
    after the local reference, so that it cannot be mistaken for a local Ray)."""
    from ray.cluster_utils import Cluster

    head_dir = tmp_path_factory.mktemp("ray_head")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "temp_dir": str(head_dir), "include_dashboard": False})
    cluster.add_node(num_cpus=1, temp_dir=str(head_dir))
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_the_smoke_grid_on_two_nodes_equals_a_local_run(local, cluster, data_dir,
                                                       tmp_path):
    """Same rows, same artifact keys, same values as the local run; both nodes built
    artifacts (the build log names each artifact's node); nothing built twice."""
    cache = tmp_path / "shared"
    code, log = _finish(_sweep(cache, data_dir, "--address", cluster.address))
    assert code == 0, log
    assert f"on the Ray cluster at {cluster.address}" in log
    assert _keys(cache) == _keys(local)
    pd.testing.assert_frame_equal(_results(cache), _results(local))
    built = build_log(cache)
    assert len({b["node"] for b in built}) == 2, built
    assert len({b["key"] for b in built}) == len(built)
    assert not list((cache / "attempts").glob("*.json"))


def test_a_worker_node_killed_mid_sweep(local, cluster, data_dir, tmp_path):
    """The worker node dies while it builds a row's artifact: the sweep finishes on the head
    node (or exits 1 and finishes on a rerun), its log names the row that was retried, every
    artifact checks out, none was built twice, and the results equal the local run's."""
    cache = tmp_path / "shared"
    head = cluster.head_node.node_id[:12]
    worker = next(n for n in cluster.worker_nodes)
    proc = _sweep(cache, data_dir, "--address", cluster.address)
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        for marker in (cache / "running").glob("*.json"):
            try:
                record = json.loads(marker.read_text())
            except (OSError, ValueError):
                continue
            # a row's build on the worker node (the original is the prepare task's)
            if record.get("node") not in ("", head) and record["kind"] != "original":
                victim = record
                break
        time.sleep(0.2)
    assert victim is not None, "no row was built on the worker node: " + _finish(proc)[1]
    cluster.remove_node(worker, allow_graceful=False)
    code, log = _finish(proc)
    if code == 1:  # the sweep may give up on the rows it lost: a rerun finishes them
        code, again = _finish(_sweep(cache, data_dir, "--address", cluster.address))
        log += again
    assert code == 0, log
    print(log)  # shown with -s
    retried = [line for line in log.splitlines() if "retried: " in line]
    assert retried and all("did not finish" in line for line in retried), log
    check = ArtifactCache(cache).verify()
    assert check["corrupt"] == [] and check["temporary"] == [], check
    built = [b["key"] for b in build_log(cache)]
    assert len(set(built)) == len(built)
    assert not list((cache / "attempts").glob("*.json"))
    assert _keys(cache) == _keys(local)
    pd.testing.assert_frame_equal(_results(cache), _results(local))

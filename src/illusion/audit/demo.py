"""The audit page's demonstration: ``illusion audit`` run as a user would, on this build's models.

The unlearned model, its Retrain and its original are saved as plain state dicts; the images
they were trained on (every class, as the probe protocol needs) and the first
``test_per_class`` test images of every class are written as an ImageFolder; the command runs
in a subprocess with the normalisation the models were trained with. The result (the
command's JSON record and the size of its HTML report) is cached with the models it read.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from ..cache import ArtifactCache
from ..keys import audit_page_spec

__all__ = ["audit_demo", "write_imagefolder"]


def write_imagefolder(root: Path, tm, test_per_class: int) -> None:
    """``root/{train,test}/<k>_<class>/<i>.png``: the model's training split and the first
    ``test_per_class`` test images of every class."""
    from PIL import Image

    d, s = tm.data, tm.splits
    test = torch.cat([torch.nonzero(d.y_test == c).flatten()[:test_per_class]
                      for c in range(d.num_classes)])
    for split, x, y in (("train", d.x_train[s.train], d.y_train[s.train]),
                        ("test", d.x_test[test], d.y_test[test])):
        for i, (img, label) in enumerate(zip(x, y.tolist())):
            folder = root / split / f"{label}_{d.classes[label].replace('/', '-')}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[0].numpy() if img.shape[0] == 1 else
                            img.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")


def _run(audited, retrain, original, forget: Sequence[int], seed: int,
         test_per_class: int) -> dict:
    width = original.spec["train"]["width"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, tm in (("unlearned", audited), ("retrain", retrain), ("original", original)):
            torch.save(tm.model.state_dict(), tmp / f"{name}.pt")
        write_imagefolder(tmp / "images", original, test_per_class)
        d = original.data
        cmd = [sys.executable, "-m", "illusion.cli", "audit", str(tmp / "unlearned.pt"),
               "--arch", f"illusion:resnet18:width={width}",
               "--data", f"imagefolder:{tmp / 'images'}",
               "--forget", *map(str, forget), "--original", str(tmp / "original.pt"),
               "--reference", str(tmp / "retrain.pt"), "--mean", *map(str, d.mean),
               "--std", *map(str, d.std), "--seed", str(seed), "--out", str(tmp / "audit"),
               "--no-progress", "--json"]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"illusion audit failed: {done.stderr.strip()}")
        html = (tmp / "audit" / "report.html").read_text()
        return {"record": done.stdout, "html_bytes": len(html)}


def audit_demo(audited, retrain, original, forget: Sequence[int], seed: int,
               test_per_class: int = 100, cache: ArtifactCache | None = None) -> tuple[dict, bool]:
    """``({"record": the command's JSON text, "html_bytes": ...}, cached)``."""
    spec = audit_page_spec(audited.spec, retrain.spec, original.spec, forget, seed,
                           test_per_class)
    return (cache or ArtifactCache()).get_or_create(
        "audit_page", spec, lambda: _run(audited, retrain, original, forget, seed,
                                         test_per_class))

"""illusion audit: user models on a user ImageFolder, the verdict's criteria, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from illusion import cli
from illusion.audit import verdict as V
from illusion.audit.verdict import Readouts, judge
from illusion.data import load_imagefolder, normalize

CLASSES = ("circle", "cross", "stripes")
SIZE = 16


# ------------------------------------------------------------------ a tiny user world

def _image(c: int, rng: np.random.Generator) -> np.ndarray:
    """A 16x16 RGB image of class c: a distinct colour pattern plus noise."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    pattern = [((yy - 8) ** 2 + (xx - 8) ** 2 < 20), (abs(yy - xx) < 2) | (abs(yy + xx - 15) < 2),
               (yy % 4 < 2)][c]
    img = np.stack([pattern * 200, pattern * (80 * c), (1 - pattern) * 120], -1)
    img = img + rng.integers(-25, 26, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_folder(root: Path, train: int = 12, test: int = 5, seed: int = 0,
                classes=CLASSES) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("test", test)):
        for c, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(_image(c % 3, rng)).save(root / split / name / f"{i}.png")
    return root


class SmallNet(nn.Module):
    """A user's own classifier: a convolutional body, flatten, one linear head (16x16 RGB)."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(8 * 4 * 4, num_classes)

    def forward(self, x):
        return self.head(torch.flatten(self.body(x), 1))


class NoLinearNet(nn.Module):
    """Classifies with a 1x1 convolution and global pooling: no nn.Linear anywhere."""

    def __init__(self, num_classes: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(3, num_classes, 1)

    def forward(self, x):
        return self.conv(x).mean(dim=(2, 3))


def train_steps(model: nn.Module, folder: Path, steps: int, skip: tuple = (),
                seed: int = 0) -> nn.Module:
    """A few full-batch SGD steps on the folder's training images (classes in ``skip`` left out)."""
    data = load_imagefolder(folder)
    keep = ~torch.isin(data.y_train, torch.tensor(skip, dtype=torch.int64))
    x = normalize(data.x_train[keep], data.mean, data.std).contiguous()
    y = data.y_train[keep]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        model.train()
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An ImageFolder and, for a torchvision resnet18 and SmallNet: original, unlearned and
    reference state dicts (each trained for a few steps), plus SmallNet as TorchScript."""
    import torchvision

    root = tmp_path_factory.mktemp("audit")
    folder = make_folder(root / "images")
    files = {}
    for name, make, steps in (("rn", lambda: torchvision.models.resnet18(num_classes=3), 2),
                              ("small", SmallNet, 25)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            original, reference = make(), make()
        train_steps(original, folder, steps)
        train_steps(reference, folder, steps, skip=(0,))
        unlearned = train_steps(make().eval(), folder, 0)
        unlearned.load_state_dict(original.state_dict())
        train_steps(unlearned, folder, 1, skip=(0,))  # "finetune" on the retained classes
        for role, m in (("original", original), ("reference", reference),
                        ("unlearned", unlearned)):
            files[f"{name}_{role}"] = root / f"{name}_{role}.pt"
            torch.save(m.state_dict(), files[f"{name}_{role}"])
        if name == "small":
            files["small_script"] = root / "small_script.pt"
            torch.jit.script(unlearned).save(str(files["small_script"]))
            files["small_pickle"] = root / "small_pickle.pt"
            torch.save(unlearned, files["small_pickle"])
    return folder, files


def _ok(capsys, argv) -> dict:
    rc = cli.main(argv + ["--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def _fails(capsys, argv) -> str:
    rc = cli.main(argv + ["--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("illusion: error: ") and "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------ end to end

def test_torchvision_resnet18_state_dict(capsys, world, tmp_path):
    folder, f = world
    out = tmp_path / "report"
    rec = _ok(capsys, ["audit", str(f["rn_unlearned"]), "--data", f"imagefolder:{folder}",
                       "--forget", "circle", "--arch", "torchvision:resnet18",
                       "--original", str(f["rn_original"]), "--reference",
                       str(f["rn_reference"]), "--out", str(out), "--no-relearn"])
    assert rec["forget"] == [0] and rec["images"] == {"train": 36, "test": 15,
                                                       "shape": [3, 16, 16]}
    model = rec["models"]["model"]
    assert model["taps"]["features"] == "input of fc" and model["taps"]["dim"] == 512
    for readout in ("output", "probe", "ncc", "knn"):
        for split in ("retain", "forget"):
            assert 0 <= model["accuracy"][readout][split] <= 100
    assert 0 <= model["mia_efficacy"] <= 100
    assert set(model["duality"]) == {"forget", "retain", "per_class"}
    assert "relearn" not in model  # --no-relearn (the attack is tested on SmallNet)
    # CKA at every stage torchvision's ResNet has, then the penultimate features
    assert list(rec["cka"]) == ["layer1", "layer2", "layer3", "layer4", "features"]
    assert all(0 <= v <= 1 + 1e-9 for v in rec["cka"].values())
    assert rec["verdict"]["status"] in {"hidden", "relearnable", "not_forgotten", "consistent"}
    assert rec["verdict"]["headline"] and rec["verdict"]["details"]
    # what it writes: audit.json (the same object) and one self-contained page
    assert json.loads((out / "audit.json").read_text()) == rec
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # readouts, CKA
    assert "http" not in page.replace("http-equiv", "")  # no external request of any kind
    assert rec["verdict"]["headline"].split(":")[0] in page


def test_custom_module_state_dict_torchscript_and_pickle_agree(capsys, world, tmp_path):
    folder, f = world
    common = ["--data", f"imagefolder:{folder}", "--forget", "0", "--no-relearn"]
    by_state = _ok(capsys, ["audit", str(f["small_unlearned"]), "--arch", "test_audit:SmallNet",
                            "--out", str(tmp_path / "a"), *common])
    by_script = _ok(capsys, ["audit", str(f["small_script"]), "--out", str(tmp_path / "b"),
                             *common])
    by_pickle = _ok(capsys, ["audit", str(f["small_pickle"]), "--unsafe-pickle",
                             "--out", str(tmp_path / "c"), *common])
    assert by_state["models"]["model"]["taps"]["features"] == "input of head"
    for rec in (by_script, by_pickle):  # the same model read three ways: the same numbers
        assert rec["models"]["model"]["accuracy"] == by_state["models"]["model"]["accuracy"]
        assert rec["models"]["model"]["duality"]["per_class"] == pytest.approx(
            by_state["models"]["model"]["duality"]["per_class"])
    # no reference: the verdict says what it cannot conclude
    assert by_state["verdict"]["status"] in {"forgotten_output", "not_forgotten"}
    assert "cannot be concluded without a reference" in by_state["verdict"]["headline"]


def test_feature_layer_train_reference_and_relearning(capsys, world, tmp_path):
    folder, f = world
    argv = ["audit", str(f["small_unlearned"]), "--arch", "test_audit:SmallNet", "--data",
            f"imagefolder:{folder}", "--forget", "0", "--train-reference",
            "--feature-layer", "body:out", "--out", str(tmp_path)]
    first = _ok(capsys, argv)
    assert first["models"]["model"]["taps"] == {"features": "output of body", "dim": 8,
                                                "stages": []}
    assert first["models"]["model"]["duality"] is None  # features are not the head's input
    assert first["reference_training"]["cached"] is False
    assert first["reference_training"]["recipe"]["epochs"] == 20
    assert first["verdict"]["status"] != "forgotten_output"  # judged against the reference
    # the relearning attack on the model, the reference's curve beside it
    for role in ("model", "reference"):
        assert [p["step"] for p in first["models"][role]["relearn"]] == [0, 10, 20, 30, 40, 50]
        assert first["models"][role]["relearn_images"] == {"forget": 1, "retain": 9}
    assert any("relearning attack" in d for d in first["verdict"]["details"])
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 2
    again = _ok(capsys, argv)
    assert again["reference_training"]["cached"] is True
    assert again["models"]["reference"] == first["models"]["reference"]


def test_timm_architecture(capsys, tmp_path):
    timm = pytest.importorskip("timm")
    folder = make_folder(tmp_path / "images", train=4, test=2)
    model = timm.create_model("resnet18", pretrained=False, num_classes=3)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    rec = _ok(capsys, ["audit", str(tmp_path / "m.pt"), "--arch", "timm:resnet18", "--data",
                       f"imagefolder:{folder}", "--forget", "1", "--no-relearn",
                       "--out", str(tmp_path / "out")])
    assert rec["models"]["model"]["taps"]["dim"] == 512


# --------------------------------------------------------------------- bad input: exit 2

def test_bad_inputs_exit_2_with_one_line(capsys, world, tmp_path):
    folder, f = world
    data = f"imagefolder:{folder}"
    sd = ["--arch", "test_audit:SmallNet", "--out", str(tmp_path)]
    # a wrong number of classes
    four = tmp_path / "four.pt"
    torch.save(SmallNet(num_classes=4).state_dict(), four)
    assert "4 classes" in _fails(capsys, ["audit", str(four), "--data", data, "--forget", "0",
                                          *sd])
    # no nn.Linear found
    nolin = tmp_path / "nolin.pt"
    torch.save(NoLinearNet().state_dict(), nolin)
    assert "no nn.Linear" in _fails(capsys, ["audit", str(nolin), "--data", data, "--forget",
                                             "0", "--arch", "test_audit:NoLinearNet"])
    # files that are no checkpoint at all: text (the unpickler's IndexError), random bytes
    text, noise = tmp_path / "notes.txt", tmp_path / "noise.bin"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    noise.write_bytes(bytes(torch.randint(0, 256, (3000,), generator=torch.Generator()
                                          .manual_seed(0), dtype=torch.uint8).tolist()))
    for junk in (text, noise):
        assert "not a PyTorch file" in _fails(capsys, ["audit", str(junk), "--data", data,
                                                       "--forget", "0", *sd])
    # a pickle without --unsafe-pickle
    assert "--unsafe-pickle" in _fails(capsys, ["audit", str(f["small_pickle"]), "--data",
                                                data, "--forget", "0"])
    # missing class folders: no train/ at all, and a test/ without one class
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "missing" in _fails(capsys, ["audit", str(f["small_unlearned"]), "--data",
                                        f"imagefolder:{empty}", "--forget", "0", *sd])
    partial = make_folder(tmp_path / "partial", train=2, test=1)
    for p in (partial / "test" / "stripes").iterdir():
        p.unlink()
    (partial / "test" / "stripes").rmdir()
    assert "differ" in _fails(capsys, ["audit", str(f["small_unlearned"]), "--data",
                                       f"imagefolder:{partial}", "--forget", "0", *sd])
    # an image-size mismatch (the head expects 16x16 inputs)
    assert "--image-size" in _fails(capsys, ["audit", str(f["small_unlearned"]), "--data",
                                             data, "--forget", "0", "--image-size", "24", *sd])
    # a forget class not in the data, by index and by name
    assert "not in the data" in _fails(capsys, ["audit", str(f["small_unlearned"]), "--data",
                                                data, "--forget", "3", *sd])
    assert "not in the data" in _fails(capsys, ["audit", str(f["small_unlearned"]), "--data",
                                                data, "--forget", "dog", *sd])
    # and: a state dict without --arch, an unknown torchvision model
    assert "--arch" in _fails(capsys, ["audit", str(f["small_unlearned"]), "--data", data,
                                       "--forget", "0"])
    assert "no model" in _fails(capsys, ["audit", str(f["rn_unlearned"]), "--data", data,
                                         "--forget", "0", "--arch", "torchvision:nonet"])


# ------------------------------------------------------------------------- the verdict

def R(out_f=0.0, out_r=90.0, probe=70.0, ncc=60.0, knn=65.0, relearn=20.0) -> Readouts:
    return Readouts(out_f, out_r, probe, ncc, knn, relearn)


def test_verdict_hidden_cites_probe_against_reference():
    v = judge(R(probe=91.0), R(probe=77.0))
    assert v.status == "hidden"
    assert v.headline == ("Forgotten at the output; the features still separate the class: "
                          "probe 91% vs reference 77%.")
    assert "output: 0% of the forget class's test images" in v.details[0]
    assert v.criteria["feature_margin"] == V.FEATURE_MARGIN


def test_verdict_margins_are_strict_and_every_readout_counts():
    ref = R()
    at_margin = R(probe=ref.probe + V.FEATURE_MARGIN, ncc=ref.ncc + V.FEATURE_MARGIN)
    assert judge(at_margin, ref).status == "consistent"  # exactly the margin: not above it
    v = judge(R(knn=ref.knn + V.FEATURE_MARGIN + 0.5), ref)  # only k-NN exceeds
    assert v.status == "hidden" and "k-NN 76% vs reference 65%" in v.headline
    assert "probe" not in v.headline
    both = judge(R(probe=85.0, knn=95.0), ref)  # the probe is cited first, then by excess
    assert both.headline.index("probe") < both.headline.index("k-NN")


def test_verdict_output_not_forgotten_wins_over_features():
    v = judge(R(out_f=V.OUTPUT_MARGIN + 0.1, probe=99.0), R())
    assert v.status == "not_forgotten" and v.headline.startswith("Not forgotten at the output")
    assert judge(R(out_f=V.OUTPUT_MARGIN), R()).status == "consistent"  # on the margin


def test_verdict_relearnable_and_retain_damage():
    ref = R()
    v = judge(R(relearn=ref.relearn + V.RELEARN_MARGIN + 1, out_r=80.0), ref)
    assert v.status == "relearnable" and "31% vs 20%" in v.headline
    assert "retained classes lost accuracy: 80% vs reference 90%" in v.headline
    assert "lost accuracy" not in judge(R(out_r=ref.output_retain - V.RETAIN_MARGIN), ref).headline
    hidden = judge(R(probe=95.0, relearn=60.0), ref)
    assert hidden.status == "hidden" and "also relearns faster" in hidden.headline


def test_verdict_without_reference_says_what_it_cannot_conclude():
    v = judge(R(out_f=V.OUTPUT_FORGOTTEN_MAX, probe=91.0))
    assert v.status == "forgotten_output"
    assert "cannot be concluded without a reference" in v.headline and "probe here: 91%" in v.headline
    assert "--train-reference" in v.headline
    assert judge(R(out_f=40.0)).status == "not_forgotten"
    # a reference whose output was not measurable counts as none
    assert judge(R(), R(out_f=math.nan)).status == "forgotten_output"


def test_verdict_missing_numbers():
    assert judge(R(out_f=math.nan), R()).status == "inconclusive"
    # readouts that were not measured (None) or undefined (NaN) on either side are skipped
    v = judge(R(probe=None, ncc=math.nan, knn=99.0, relearn=None), R(knn=None, relearn=80.0))
    assert v.status == "consistent"
    assert [d.split(":")[0] for d in v.details] == ["output"]
    no_probe = judge(Readouts(1.0, 90.0))
    assert "probe here" not in no_probe.headline

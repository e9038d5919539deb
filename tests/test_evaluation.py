"""The evaluation record, the per-epoch NC history, and `illusion evaluate`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from illusion import cli
from illusion.evaluation import (PROBE_FITS, evaluate, evaluate_checkpoint, output_accuracy,
                                 probe_generators)
from illusion.features import extract_features, feature_set
from illusion.metrics import linear_probe, linear_probes
from illusion.models import create_model
from illusion.pipeline import split_accuracies, train_or_load


def _train(tiny_config, tiny_data, cache, **kwargs):
    return train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                         device="cpu", progress=False, **kwargs)


def test_output_accuracy_from_features_matches_forward_pass(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache, forget=[1])
    fs = feature_set(tm.model, tm.data, tm.splits.train)
    direct = split_accuracies(tm)
    from_features = output_accuracy(fs, [1])
    for key, value in direct.items():
        assert from_features[key] == pytest.approx(value, abs=1e-6), key


def test_stage_features_last_equals_penultimate(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache)
    x = tiny_data.x_test[:7]
    stages = extract_features(tm.model, tiny_data, x, stages=True)
    assert list(stages) == tm.model.stage_names
    torch.testing.assert_close(stages["stage4"], extract_features(tm.model, tiny_data, x))


def test_evaluate_record(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache, forget=[0])
    rec = evaluate(tm.model, tm.data, tm.splits.train, [0])
    assert set(rec["accuracy"]) == {"output", "probe", "ncc", "knn"}
    # Retrain never saw class 0, so its head cannot predict it... but only probabilistically;
    # the invariant that always holds is UA = 100 - output test-forget accuracy.
    assert rec["ua"] == pytest.approx(100 - rec["accuracy"]["output"]["test_forget"])
    assert 0 <= rec["mia_efficacy"] <= 100 and 0 <= rec["mia_loss"] <= 100
    nc = rec["neural_collapse"]
    assert set(nc["all"]) == {"nc1", "nc2", "nc3", "nc4", "nc2_rownorm", "nc3_rownorm"} \
        and set(nc["retain"]) == set(nc["all"])
    assert set(nc["duality"]) == {"0", "1", "2"}
    assert nc["duality_forget"] == pytest.approx(nc["duality"]["0"])
    assert nc["duality_retain"] == pytest.approx((nc["duality"]["1"] + nc["duality"]["2"]) / 2)
    again = evaluate(tm.model, tm.data, tm.splits.train, [0])  # deterministic
    preds, again_preds = rec.pop("test_predictions"), again.pop("test_predictions")
    assert rec == again
    assert set(preds) == {"output", "probe", "ncc", "knn"}
    forget = tm.data.y_test == 0
    for readout, pred in preds.items():
        # the probe: one row of predictions per fit
        shape = (PROBE_FITS, *tm.data.y_test.shape) if readout == "probe" else tm.data.y_test.shape
        assert pred.dtype == torch.int16 and pred.shape == shape
        assert torch.equal(pred, again_preds[readout])
        # the stored predictions give back the record's accuracies (the probe: the fits' mean)
        for split, mask in (("test_forget", forget), ("test_retain", ~forget)):
            acc = 100.0 * (pred[..., mask].long() == tm.data.y_test[mask]).double().mean().item()
            assert acc == pytest.approx(rec["accuracy"][readout][split]), (readout, split)
    fits = rec["probe_fits"]
    assert {k: len(v) for k, v in fits.items()} == {k: PROBE_FITS for k in
                                                    ("test_retain", "test_forget", "epoch")}
    for split in ("test_retain", "test_forget"):
        assert rec["accuracy"]["probe"][split] == pytest.approx(sum(fits[split]) / PROBE_FITS)


def test_probe_fits_are_the_single_probe_of_each_generator(tiny_data, tiny_config, cache):
    """The batched fits are exactly what one probe per generator gives, fit 0 being the
    probe of a single-fit evaluation with the same seed."""
    tm = _train(tiny_config, tiny_data, cache, forget=[0])
    fs = feature_set(tm.model, tm.data, tm.splits.train)
    fits = linear_probes(fs.train, fs.train_y, fs.test, fs.test_y, 3, [0], probe_generators(4))
    for fit, g in zip(fits, probe_generators(4)):
        one = linear_probe(fs.train, fs.train_y, fs.test, fs.test_y, 3, [0], generator=g)
        assert torch.equal(fit["pred"], one["pred"]) and fit["epoch"] == one["epoch"]
    assert torch.equal(probe_generators(4)[0].get_state(),
                       torch.Generator().manual_seed(4).get_state())


def test_evaluate_without_forget_has_nan_forget_entries(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache)
    rec = evaluate(tm.model, tm.data, tm.splits.train, [], probe=False)
    assert "probe" not in rec["accuracy"]
    assert math.isnan(rec["accuracy"]["ncc"]["test_forget"]) and math.isnan(rec["mia_efficacy"])


def test_history_tracks_neural_collapse_per_epoch(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache)
    assert len(tm.history) == tiny_config.epochs
    for record in tm.history:
        assert {"nc1", "nc2", "nc3", "nc4"} <= set(record)
        assert record["nc1"] >= 0 and 0 <= record["nc4"] <= 1


def test_evaluate_checkpoint_roundtrip(tiny_data, monkeypatch, tmp_path):
    import illusion.evaluation as ev

    monkeypatch.setattr(ev, "load_dataset", lambda name: tiny_data)
    model = create_model("resnet18", num_classes=3, width=2, in_channels=1)
    path = tmp_path / "model.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    rec = evaluate_checkpoint(path, "tiny", width=2, forget=[2], probe=False)
    assert rec["forget"] == [2] and set(rec["accuracy"]) == {"output", "ncc", "knn"}
    with pytest.raises(ValueError, match="does not fit"):
        evaluate_checkpoint(path, "tiny", width=4)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot load"):
        evaluate_checkpoint(path, "tiny", width=2)


def test_cli_evaluate_json(capsys, tiny_profile):
    rc = cli.main(["evaluate", "--profile", "smoke", "--forget", "1", "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rec = json.loads(out)
    assert rec["model"] == "original" and rec["forget"] == [1]
    assert set(rec["accuracy"]) == {"output", "probe", "ncc", "knn"}


@pytest.mark.parametrize("argv", [
    ["evaluate", "--profile", "smoke", "--forget", "9"],
    ["evaluate", "--checkpoint", "missing.pt"],
    ["evaluate", "--checkpoint", "missing.pt", "--dataset", "nope"],
])
def test_cli_evaluate_bad_input(capsys, tiny_profile, argv):
    assert cli.main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("illusion: error:")


def test_cka_per_stage_of_a_model_with_itself_is_one(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache)
    other = _train(tiny_config, tiny_data, cache, forget=[2])
    from illusion.evaluation import cka_per_stage

    same = cka_per_stage(tm.model, tm.model, tiny_data, tiny_data.x_test)
    assert list(same) == tm.model.stage_names
    assert all(v == pytest.approx(1.0, abs=1e-9) for v in same.values())
    diff = cka_per_stage(tm.model, other.model, tiny_data, tiny_data.x_test)
    assert all(0 <= v <= 1 + 1e-9 for v in diff.values()) and min(diff.values()) < 1 - 1e-6


def test_probe_per_stage(tiny_data, tiny_config, cache):
    from illusion.evaluation import probe_per_stage

    tm = _train(tiny_config, tiny_data, cache)
    out = probe_per_stage(tm.model, tiny_data, tm.splits.train, [1])
    assert list(out) == tm.model.stage_names
    assert all(0 <= v["test_forget"] <= 100 for v in out.values())


def test_cached_features_are_stored_once_and_equal(tiny_data, tiny_config, cache):
    from illusion.pipeline import cached_features

    tm = _train(tiny_config, tiny_data, cache, forget=[0])
    first = cached_features(tm, cache)
    assert len(list((cache.root / "features").glob("*.pt"))) == 1
    second = cached_features(tm, cache)
    direct = feature_set(tm.model, tm.data, tm.splits.train)
    for name in ("train", "test", "train_logits", "test_logits", "train_y", "test_y"):
        torch.testing.assert_close(getattr(first, name), getattr(second, name))
        torch.testing.assert_close(getattr(first, name), getattr(direct, name))
    a = evaluate(tm.model, tm.data, tm.splits.train, [0], features=first)
    b = evaluate(tm.model, tm.data, tm.splits.train, [0])
    pa, pb = a.pop("test_predictions"), b.pop("test_predictions")
    assert a == b and all(torch.equal(pa[k], pb[k]) for k in pa) and set(pa) == set(pb)

"""EC (Erase at the Core, [B]) as a method and a plug-in; per-stage CKA and probes."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from illusion import cli
from illusion import depth
from illusion.data import normalize
from illusion.depth import stage_cka_flat, stage_probes, stage_similarity
from illusion.features import flat_stage_grams
from illusion.metrics import linear_cka, split_mask
from illusion.methods import available, create_method, run_unlearning
from illusion.methods.erase_core import contrastive_unlearning
from illusion.pipeline import generators, train_or_load, unlearn_or_load
from illusion.train import evaluate_accuracy

STREAMS = ("order", "augment", "labels", "noise")


@pytest.fixture
def trained(train_tiny):
    return train_tiny(epochs=6)


def _unlearn(name, tm, cls=0, **hp):
    model = copy.deepcopy(tm.model)
    s, y = tm.splits, tm.data.y_train
    retain, forget = s.train[y[s.train] != cls], s.train[y[s.train] == cls]
    method = create_method(name, **{"epochs": 2, "batch_size": 8, "head_epochs": 1, **hp})
    run_unlearning(method, model, tm.data, retain, forget, (cls,), generators(0, STREAMS), "cpu",
                   progress=False)
    return model, forget


def test_ec_names_are_registered():
    names = set(available())
    assert {"ec", "random_label+ec", "scrub+ec"} <= names
    assert "last_layer:ec" not in names
    with pytest.raises(KeyError):
        create_method("finetune+ec")  # not a registered base
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        create_method("random_label+ec", nope=1)
    hp = create_method("random_label+ec", lr=0.5, cu_weight=2.0).hp
    assert hp["lr"] == 0.5 and hp["cu_weight"] == 2.0 and hp["ec_weight"] == 1.0


@pytest.mark.parametrize("name", ["ec", "random_label+ec"])
def test_ec_lowers_forget_accuracy_and_drops_its_heads(name, trained):
    keys = list(trained.model.state_dict())
    before_state = {k: v.clone() for k, v in trained.model.state_dict().items()}
    d, train = trained.data, trained.splits.train
    f_idx = train[d.y_train[train] == 0]
    acc = lambda m: evaluate_accuracy(m, d, d.x_train[f_idx], d.y_train[f_idx])  # noqa: E731
    before = acc(trained.model)
    model, _ = _unlearn(name, trained, lr=0.05, epochs=3, cu_weight=2.0)
    assert before >= 50, "the tiny original must know the forget class"
    assert acc(model) < before
    assert list(model.state_dict()) == keys  # no auxiliary head left inside the model
    assert type(model) is type(trained.model)
    for k, v in trained.model.state_dict().items():  # the original object is untouched
        assert torch.equal(v, before_state[k]), k


def test_ec_through_the_pipeline_keeps_the_cached_original(tiny_data, tiny_config, cache):
    kw = dict(profile="smoke", config=tiny_config, data=tiny_data, cache=cache, device="cpu",
              progress=False, forget=[1])
    original = train_or_load(**{k: v for k, v in kw.items() if k != "forget"})
    state = {k: v.clone() for k, v in original.model.state_dict().items()}
    tm = unlearn_or_load(**kw, method="ec", hparams={"epochs": 1, "head_epochs": 1})
    assert tm.kind == "ec" and list(tm.model.state_dict()) == list(state)
    assert any(not torch.equal(v, state[k]) for k, v in tm.model.state_dict().items())
    again = train_or_load(**{k: v for k, v in kw.items() if k != "forget"})
    for k, v in again.model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_layer_weights_are_validated(trained):
    with pytest.raises(ValueError, match="layer_weights"):
        _unlearn("ec", trained, layer_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="layer_weights"):
        _unlearn("ec", trained, layer_weights=[1.0, -1.0, 1.0, 1.0])


def test_output_only_weights_train_no_head(trained):
    a, _ = _unlearn("ec", trained, layer_weights=[0, 0, 0, 1])
    b, _ = _unlearn("ec", trained, layer_weights=[0, 0, 0, 1], head_lr=123.0)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k  # no head is built, so head_lr cannot matter


def test_contrastive_unlearning_scatters_a_single_forget_class():
    y = torch.tensor([1, 1, 2, 2, 0, 0])
    forget = y == 0
    tight = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])
    mixed = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]])
    # forget features clustered on their own: high loss; spread onto retain features: lower
    assert contrastive_unlearning(tight, y, forget) > contrastive_unlearning(mixed, y, forget)
    # anchor i=4 in ``tight``: positives 4 samples at cos 0, negative 1 sample at cos 1
    expected = -math.log(4 / (4 + math.e))
    assert contrastive_unlearning(tight, y, forget).item() == pytest.approx(expected)
    assert contrastive_unlearning(tight, y, torch.zeros(6, dtype=torch.bool)) == 0
    with pytest.raises(ValueError, match="temperature"):
        contrastive_unlearning(tight, y, forget, temperature=0.0)


def test_stage_cka_of_a_model_with_itself_is_one(trained, cache):
    models = {"original": trained}  # class 2: the tiny model's stem is not all-zero on it
    df = stage_similarity(models, {"original": trained}, [2], cache)
    assert set(df["split"]) == {"forget", "retain"}
    assert list(df["stage"].unique()) == trained.model.stage_names
    assert df["cka"].to_numpy() == pytest.approx(1.0, abs=1e-6)


def test_stage_cka_and_probes_after_ec(trained, cache):
    ec, _ = _unlearn("ec", trained, cls=2, lr=0.05, epochs=3)
    tm = copy.copy(trained)
    tm.model, tm.spec = ec, {**trained.spec, "method": "ec-test"}
    df = stage_similarity({"ec": tm}, {"original": trained}, [2], cache)
    cka = df["cka"].dropna()  # NaN where the tiny net maps a split to one constant feature
    assert len(cka) >= len(trained.model.stage_names)
    assert (cka < 1 - 1e-6).any() and cka.between(0, 1 + 1e-6).all()
    probes = stage_probes({"ec": tm, "original": trained}, [2], cache=cache)
    assert len(probes) == 2 * len(trained.model.stage_names)
    assert probes[["probe_test_retain", "probe_test_forget"]].notna().all().all()
    again = stage_probes({"ec": tm, "original": trained}, [2], cache=cache)  # from the cache
    assert again.equals(probes)


def _flat_maps(tm, x) -> dict:
    """Every stage's maps of ``x`` in one pass, flattened by hand: (N, C*H*W)."""
    tm.model.eval()
    with torch.no_grad():
        maps = tm.model.stage_maps(normalize(x, tm.data.mean, tm.data.std))
    return {k: v.reshape(len(v), -1).double() for k, v in maps.items()}


def test_flat_stage_grams_in_blocks_equal_the_one_shot_gram(trained):
    x = trained.data.x_test[:10]
    flat = _flat_maps(trained, x)
    for block in (3, 10):  # four blocks (the last of one image), and one
        grams = flat_stage_grams(trained.model, trained.data, x, block=block, batch_size=2)
        assert list(grams) == trained.model.stage_names
        for stage, g in grams.items():
            assert g.shape == (10, 10) and g.dtype == torch.float64
            assert torch.allclose(g, flat[stage] @ flat[stage].T, rtol=1e-5, atol=1e-6), stage


def test_stage_cka_flat_is_linear_cka_of_the_flattened_maps_and_cached(trained, cache,
                                                                        monkeypatch):
    ec, _ = _unlearn("ec", trained, cls=2, lr=0.05, epochs=3)
    tm = copy.copy(trained)
    tm.model, tm.spec = ec, {**trained.spec, "method": "ec-test"}
    df = stage_cka_flat(trained, {"original": trained, "ec": tm}, [2], cache=cache)
    assert list(df.columns) == ["method", "stage", "cka", "images"]
    n = int(split_mask(trained.data.y_test, [2]).sum())
    assert set(df["images"]) == {n}
    assert df[df["method"] == "original"]["cka"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    x = trained.data.x_test[split_mask(trained.data.y_test, [2])]
    before, after = _flat_maps(trained, x), _flat_maps(tm, x)
    mine = df[df["method"] == "ec"].set_index("stage")["cka"]
    assert list(mine.index) == trained.model.stage_names
    for stage, value in mine.items():
        assert value == pytest.approx(linear_cka(before[stage], after[stage]), abs=1e-6), stage

    def fail(*_, **__):
        raise AssertionError("recomputed instead of read from the cache")

    monkeypatch.setattr(depth, "flat_stage_grams", fail)
    again = stage_cka_flat(trained, {"original": trained, "ec": tm}, [2], cache=cache)
    assert again.equals(df)


def test_consecutive_calls_on_a_cell_compute_the_originals_part_once(trained, cache,
                                                                     monkeypatch):
    """The sweep calls stage_cka_flat and stage_cka_draws once per model of a cell: the
    original's Grams and CKA reference are made by the first call only (depth._LastOnly)."""
    monkeypatch.setattr(depth, "_FLAT_REFERENCE", depth._LastOnly())
    monkeypatch.setattr(depth, "_DRAWS_REFERENCE", depth._LastOnly())
    seen, refs = [], []
    real_grams, real_ref = depth.flat_stage_grams, depth.CKAReference
    monkeypatch.setattr(depth, "flat_stage_grams",
                        lambda model, *a, **k: seen.append(model) or real_grams(model, *a, **k))
    monkeypatch.setattr(depth, "CKAReference",
                        lambda *a: refs.append(1) or real_ref(*a))
    others = []
    for n in range(2):
        tm = copy.copy(trained)
        tm.spec = {**trained.spec, "method": f"copy-{n}"}  # another artifact, same weights
        others.append(tm)
        flat = stage_cka_flat(trained, {"m": tm}, [2], cache=cache)
        draws = depth.stage_cka_draws(trained, {"m": tm}, [2], resamples=20, cache=cache)
        assert flat["cka"].to_numpy() == pytest.approx(1.0, abs=1e-9)
        assert all(d == pytest.approx(1.0) for v in draws["m"].values() for d in v)
    assert len(seen) == 3  # the original's Grams once, then each model's own (not 4)
    assert len(refs) == len(trained.model.stage_names)  # one reference per stage, once


def test_stage_cka_flat_draws_a_fixed_subset_above_its_cap(trained, cache):
    one = stage_cka_flat(trained, {"ec": trained}, [0, 1], max_images=5, cache=cache)
    assert set(one["images"]) == {5}
    assert one["cka"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert depth._flat_cka_images(trained, [0, 1], 5, seed=3).equal(
        depth._flat_cka_images(trained, [0, 1], 5, seed=3))


@pytest.mark.parametrize("method", ["ec", "random_label+ec"])
def test_cli_unlearn_ec(capsys, tiny_profile, method):
    rc = cli.main(["unlearn", "--profile", "smoke", "--forget", "1", "--method", method,
                   "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rec = json.loads(out)
    assert rec["method"] == method and 0 <= rec["accuracy"]["output"]["test_forget"] <= 100


@pytest.mark.parametrize("bf16", [False, True])
def test_head_fit_runs_under_the_steps_autocast(trained, monkeypatch, bf16):
    """EC's head pretraining (its frozen forward) follows the loop's bf16 flag (issue 26)."""
    model = copy.deepcopy(trained.model)
    seen, real = [], model.stage_maps

    def spy(x):
        seen.append(torch.is_autocast_enabled("cpu"))
        return real(x)

    monkeypatch.setattr(model, "stage_maps", spy)
    s, y = trained.splits, trained.data.y_train
    retain, forget = s.train[y[s.train] != 0], s.train[y[s.train] == 0]
    method = create_method("ec", epochs=0, batch_size=8, head_epochs=1)
    run_unlearning(method, model, trained.data, retain, forget, (0,), generators(0, STREAMS),
                   "cpu", progress=False, bf16=bf16)
    assert len(seen) > 2 and set(seen[1:]) == {bf16}  # seen[0]: build_heads' channel probe

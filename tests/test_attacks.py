"""The relearning attack: copies only, deterministic, cached, validated."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from illusion.attack_config import RelearnConfig
from illusion.attacks import (relearn, relearn_curve, relearn_sample,
                              relearn_scores, relearn_summary)
from illusion.pipeline import train_or_load, unlearn_or_load
from illusion.train import TrainConfig

FAST = RelearnConfig(fraction=0.5, retain_ratio=1.0, steps=6, eval_every=3, lr=0.1,
                     batch_size=8, eval_images=12)


@pytest.fixture
def models(tiny_data, cache):
    """A tiny original that knows class 0, its prune_row unlearning and Retrain."""
    cfg = TrainConfig(width=4, per_class=None, epochs=6, batch_size=16, lr=0.05,
                      warmup_epochs=1, val_fraction=0.2, nc_per_class=0)
    kw = dict(profile="smoke", config=cfg, data=tiny_data, cache=cache, device="cpu",
              progress=False, forget=[0])
    return {"prune_row": unlearn_or_load(**kw, method="prune_row"),
            "retrain": unlearn_or_load(**kw, method="retrain")}


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_relearn_never_mutates_the_model_and_is_cached(models, cache):
    tm = models["prune_row"]
    before, mode = _state(tm.model), tm.model.training
    first = relearn(tm, FAST, seed=0, cache=cache)
    for k, v in tm.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert tm.model.training == mode
    assert len(list(cache.root.glob("relearn/*.pt"))) == 1
    again = relearn(tm, FAST, seed=0, cache=cache)
    pd.testing.assert_frame_equal(first, again)
    assert list(first["step"]) == [0, 3, 6]
    assert first.loc[0, "forget_acc"] == 0.0  # the zeroed row never wins
    # fine-tuning brings the class back at some evaluated step (the tiny model's curve at lr
    # 0.1 oscillates between steps, so its last point alone depends on the CPU's kernels)
    assert first["forget_acc"].iloc[1:].max() > 0.0


def test_relearn_scores_are_the_curve_per_image(models, cache):
    """The per-image record behind a curve: each forget image's share of correct evaluated
    steps after step 0 averages (in percent) to the summary's ``mean``; both models of a cell
    are read on the same images, so their scores pair up."""
    curves = pd.concat([relearn(tm, FAST, 0, cache).assign(method=k, attack="a")
                        for k, tm in models.items()])
    summary = relearn_summary(curves).set_index("method")
    scores = {k: relearn_scores(tm, FAST, 0, cache) for k, tm in models.items()}
    (img_a, a), (img_b, _) = scores["prune_row"], scores["retrain"]
    n = min(FAST.eval_images, len(models["retrain"].splits.test_forget))
    assert img_a.tolist() == img_b.tolist() and len(a) == n
    assert set(img_a.tolist()) <= set(models["retrain"].splits.test_forget.tolist())
    assert ((a >= 0) & (a <= 1)).all() and set((a * 2).tolist()) <= {0.0, 1.0, 2.0}  # 2 steps
    for k, (_, sc) in scores.items():
        assert 100 * sc.mean() == pytest.approx(summary.loc[k, "mean"])
    assert len(list(cache.root.glob("relearn/*.pt"))) == 2  # read from the cached curves


def test_relearn_leads_are_the_summary_gaps_with_intervals(models, cache):
    from illusion.attacks import lead_means, relearn_leads

    configs = {"a": FAST, "control": RelearnConfig(**{**FAST.__dict__, "include_forget": False})}
    scores = {k: {a: relearn_scores(tm, cfg, 0, cache) for a, cfg in configs.items()}
              for k, tm in models.items()}
    leads = relearn_leads(scores, models["retrain"].splits.test_forget.numpy())
    curves = pd.concat([relearn(tm, cfg, 0, cache).assign(method=k, attack=a)
                        for k, tm in models.items() for a, cfg in configs.items()])
    gaps = relearn_summary(curves).set_index(["method", "attack"])["gap"]
    assert list(leads["method"]) == ["prune_row", "prune_row"]
    for row in leads.itertuples():
        assert row.gap == pytest.approx(gaps[(row.method, row.attack)])
        assert row.low <= row.gap <= row.high
    twice = pd.concat([leads.assign(seed=0), leads.assign(seed=1)])
    means = lead_means(twice)
    assert list(means["cells"]) == [2, 2]
    assert means[["gap", "low", "high"]].to_numpy() == pytest.approx(
        leads[["gap", "low", "high"]].to_numpy())
    with pytest.raises(KeyError, match="no reference"):
        relearn_leads({"prune_row": scores["prune_row"]}, [0, 1])


def test_relearn_curve_is_deterministic_and_leaves_global_rng(models):
    tm = models["prune_row"]
    s = tm.splits
    rng = torch.random.get_rng_state()
    args = (tm.model, tm.data, s.forget, s.retain, s.test_forget, s.test_retain, FAST)
    a = relearn_curve(*args, seed=3)
    b = relearn_curve(*args, seed=3)
    c = relearn_curve(*args, seed=4)
    assert torch.equal(rng, torch.random.get_rng_state())
    pd.testing.assert_frame_equal(pd.DataFrame(a["curve"]), pd.DataFrame(b["curve"]))
    assert a["n_forget"] == round(0.5 * len(s.forget)) and a["n_retain"] == a["n_forget"]
    assert a["curve"][1]["loss"] != c["curve"][1]["loss"]  # another seed, another sample


@pytest.mark.parametrize("bad", [dict(fraction=0.0), dict(fraction=-0.1), dict(fraction=1.5),
                                 dict(retain_ratio=-1.0),
                                 dict(include_forget=False, retain_ratio=0.0),
                                 dict(eval_every=0), dict(eval_images=0)])
def test_bad_configs_raise(bad):
    with pytest.raises(ValueError, match="relearn"):
        RelearnConfig(**bad)


def test_sample_sizes_and_retain_only_control():
    g = torch.Generator().manual_seed(0)
    forget, retain = torch.arange(100), torch.arange(100, 400)
    f, r = relearn_sample(forget, retain, RelearnConfig(fraction=0.01, retain_ratio=2.0), g)
    assert len(f) == 1 and len(r) == 2 and set(f.tolist()) <= set(range(100))
    f, r = relearn_sample(forget, retain, RelearnConfig(fraction=0.1, retain_ratio=3.0,
                                                        include_forget=False), g)
    assert len(f) == 0 and len(r) == 30 and min(r.tolist()) >= 100
    with pytest.raises(ValueError, match="no forget-class"):
        relearn_sample(forget[:0], retain, RelearnConfig(), g)


def test_relearn_needs_forget_classes(tiny_data, cache):
    cfg = TrainConfig(width=2, per_class=None, epochs=1, batch_size=16, val_fraction=0.2,
                      nc_per_class=0)
    original = train_or_load(profile="smoke", config=cfg, data=tiny_data, cache=cache,
                             device="cpu", progress=False)
    with pytest.raises(ValueError, match="no forget classes"):
        relearn(original, FAST, cache=cache)


def test_summary_compares_with_retrain(models, cache):
    rows = [relearn(tm, FAST, cache=cache).assign(method=name, attack="a")
            for name, tm in models.items()]
    summary = relearn_summary(pd.concat(rows), level=50.0).set_index("method")
    assert summary.loc["retrain", "gap"] == 0.0
    assert summary.loc["prune_row", "gap"] == pytest.approx(
        summary.loc["prune_row", "mean"] - summary.loc["retrain", "mean"])
    assert {"start", "mean", "steps_to_50", "final_retain"} <= set(summary.columns)


@pytest.mark.parametrize("tol", [5.0, 100.0, -1.0])
def test_calibrate_attack_follows_its_rule(models, cache, tol):
    """The calibration's choice recomputed from its own table (each row is the validation
    curve's, ``tests/test_dose_response.py``): among the rates that keep retain, the smallest
    that reaches the level; else the highest final forget accuracy among those that keep
    retain; else the smallest rate. Exactly one row is chosen and it carries the note."""
    from illusion.attacks import calibrate_attack

    lrs = (0.3, 1e-3, 0.03)
    table = calibrate_attack(models["retrain"], lrs, retain_tol=tol, seed=0, cache=cache,
                             steps=6, eval_every=3)
    assert list(table.columns) == ["lr", "start_retain", "final_retain", "keeps_retain",
                                   "final_forget", "steps_to_50", "chosen", "note"]
    assert table["lr"].tolist() == sorted(lrs) and table["chosen"].sum() == 1
    kept = table[table["keeps_retain"]]
    reaching = kept[kept["steps_to_50"].notna()]
    expected = (reaching.index[0] if len(reaching) else kept["final_forget"].idxmax()
                if len(kept) else table.index[0])
    assert table.index[table["chosen"]].tolist() == [expected]
    note = table.loc[expected, "note"]
    assert note == ("smallest lr at which Retrain reaches 50%" if len(reaching) else
                    "no lr keeps retain and reaches 50%: the highest final forget accuracy"
                    if len(kept) else "no lr keeps retain: the smallest")
    assert (table.loc[~table["chosen"], "note"] == "").all()
    assert len(list(cache.root.glob("relearn/*.pt"))) == 3  # one validation curve per rate

"""illusion.train: schedule, training loop, determinism, exact resume, early stopping."""

from __future__ import annotations

import copy
import io
import math
from dataclasses import replace

import pytest
import torch

from illusion.pipeline import build_model, generators, make_splits
from illusion.train import TrainConfig, evaluate_accuracy, fit, lr_at, predict


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _run(cfg, data, seed=0, **kwargs):
    splits = make_splits(data, cfg, seed, ())
    model = build_model(cfg, data, seed)
    history = fit(model, data, splits.train, splits.val, cfg, generators(seed), "cpu",
                  progress=False, **kwargs)
    return model, history, splits


# ------------------------------------------------------------------------------ lr

def test_lr_warmup_then_cosine():
    cfg = TrainConfig(epochs=4, warmup_epochs=2, lr=0.1, min_lr=1e-3)
    spe = 5
    lrs = [lr_at(cfg, s, spe) for s in range(cfg.epochs * spe)]
    warm = lrs[:10]
    assert warm == pytest.approx([0.1 * (s + 1) / 10 for s in range(10)], rel=1e-12)
    steps = [b - a for a, b in zip(warm, warm[1:])]
    assert all(d == pytest.approx(0.01, rel=1e-9) for d in steps)  # linear
    assert warm[-1] == pytest.approx(0.1, rel=1e-12)
    assert lrs[10] == pytest.approx(0.1, rel=1e-12)  # cosine starts at lr
    after = lrs[10:]
    assert all(b < a for a, b in zip(after, after[1:]))  # strictly decreasing
    assert all(1e-3 < v <= 0.1 for v in after)
    assert lr_at(cfg, cfg.epochs * spe, spe) == pytest.approx(1e-3, abs=1e-15)  # ends at min_lr
    # midpoint of the cosine: halfway between lr and min_lr
    assert lr_at(cfg, 15, spe) == pytest.approx((0.1 + 1e-3) / 2, rel=1e-12)


def test_lr_without_warmup():
    cfg = TrainConfig(epochs=2, warmup_epochs=0, lr=0.2, min_lr=0.0)
    assert lr_at(cfg, 0, 3) == pytest.approx(0.2)
    assert lr_at(cfg, 6, 3) == pytest.approx(0.0, abs=1e-15)
    assert lr_at(cfg, 3, 3) == pytest.approx(0.1)


@pytest.mark.parametrize("kwargs", [dict(epochs=0), dict(batch_size=0), dict(lr=0.0),
                                    dict(width=0)])
def test_invalid_config(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


# ------------------------------------------------------------------------------ fit

def test_fit_history(tiny_data, tiny_config):
    model, history, splits = _run(tiny_config, tiny_data)
    assert len(splits.train) == 48 and len(splits.val) == 12
    assert [r["epoch"] for r in history] == [1, 2]
    for r in history:
        assert set(r) == {"epoch", "loss", "train_acc", "val_acc"}
        assert math.isfinite(r["loss"]) and r["loss"] > 0
        assert 0 <= r["train_acc"] <= 100 and 0 <= r["val_acc"] <= 100
        assert r["train_acc"] * 48 / 100 == pytest.approx(round(r["train_acc"] * 48 / 100), abs=1e-4)
        assert r["val_acc"] * 12 / 100 == pytest.approx(round(r["val_acc"] * 12 / 100), abs=1e-4)
    # the recorded val accuracy is the one of the returned (last-epoch) model
    x_val, y_val = tiny_data.x_train[splits.val], tiny_data.y_train[splits.val]
    assert evaluate_accuracy(model, tiny_data, x_val, y_val) == history[-1]["val_acc"]
    assert model.training  # fit leaves the model in training mode


def test_fit_learns_the_brightness_classes(tiny_data, tiny_config):
    # 100 % test accuracy for seeds 0..4 with this recipe; chance is 33 %
    cfg = replace(tiny_config, epochs=8, width=4, lr=0.02)
    model, history, _ = _run(cfg, tiny_data)
    assert history[-1]["loss"] < history[0]["loss"]
    acc = evaluate_accuracy(model, tiny_data, tiny_data.x_test, tiny_data.y_test)
    assert acc > 80.0


def test_fit_on_epoch_extra_values(tiny_data, tiny_config):
    seen = []

    def on_epoch(epoch, model):
        seen.append((epoch, model.training))
        model.eval()  # fit must switch back to training mode
        return {"extra": epoch * 10}

    model, history, _ = _run(tiny_config, tiny_data, on_epoch=on_epoch)
    assert [r["extra"] for r in history] == [10, 20]
    assert [e for e, _ in seen] == [1, 2]
    assert model.training


def test_fit_deterministic(tiny_data, tiny_config):
    cfg = replace(tiny_config, padding=1, flip=True)
    a, ha, _ = _run(cfg, tiny_data)
    b, hb, _ = _run(cfg, tiny_data)
    assert _states_equal(a.state_dict(), b.state_dict())
    assert ha == hb
    c, _, _ = _run(cfg, tiny_data, seed=1)
    assert not _states_equal(a.state_dict(), c.state_dict())


def test_global_rng_untouched(tiny_data, tiny_config):
    cfg = replace(tiny_config, padding=1, flip=True)
    before = torch.random.get_rng_state()
    _run(cfg, tiny_data)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_build_model_independent_of_global_rng(tiny_data, tiny_config):
    torch.manual_seed(1)
    a = build_model(tiny_config, tiny_data, 0)
    torch.manual_seed(2)
    b = build_model(tiny_config, tiny_data, 0)
    assert _states_equal(a.state_dict(), b.state_dict())
    assert not _states_equal(a.state_dict(), build_model(tiny_config, tiny_data, 1).state_dict())


def test_resume_matches_uninterrupted(tiny_data, tiny_config):
    cfg = replace(tiny_config, epochs=3, padding=1, flip=True)
    states = []
    full, full_history, splits = _run(cfg, tiny_data,
                                      checkpoint=lambda s: states.append(copy.deepcopy(s)))
    assert [len(s["history"]) for s in states] == [1, 2]  # none after the last epoch
    assert set(states[0]) == {"model", "optimizer", "generators", "history", "best_val",
                              "best_model"}

    for saved in states:  # resume after epoch 1 and after epoch 2
        # through torch.save / weights_only load, as the pipeline's Checkpoint does
        buf = io.BytesIO()
        torch.save(saved, buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)
        model = build_model(cfg, tiny_data, 0)
        history = fit(model, tiny_data, splits.train, splits.val, cfg, generators(0), "cpu",
                      progress=False, resume=state)
        assert len(history) == len(full_history) == 3
        assert history == full_history
        assert _states_equal(model.state_dict(), full.state_dict())


def test_checkpoint_state_is_a_snapshot(tiny_data, tiny_config):
    cfg = replace(tiny_config, epochs=3)
    states = []
    full, full_history, splits = _run(cfg, tiny_data, checkpoint=states.append)
    assert len(states[0]["history"]) == 1
    model = build_model(cfg, tiny_data, 0)
    history = fit(model, tiny_data, splits.train, splits.val, cfg, generators(0), "cpu",
                  progress=False, resume=states[0])
    assert history == full_history
    assert _states_equal(model.state_dict(), full.state_dict())


def test_early_stopping_restores_best(tiny_data, tiny_config):
    cfg = replace(tiny_config, epochs=6, lr=1e-6, patience=1)
    snapshots = []

    def on_epoch(epoch, model):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {}

    model, history, splits = _run(cfg, tiny_data, on_epoch=on_epoch)
    assert len(history) < cfg.epochs  # stopped early
    vals = [r["val_acc"] for r in history]
    best_epoch = vals.index(max(vals)) + 1
    assert len(history) - best_epoch == cfg.patience
    x_val, y_val = tiny_data.x_train[splits.val], tiny_data.y_train[splits.val]
    assert evaluate_accuracy(model, tiny_data, x_val, y_val) == max(vals)
    assert _states_equal(model.state_dict(), snapshots[best_epoch - 1])
    assert not _states_equal(model.state_dict(), snapshots[-1])


def test_early_stopping_resume_matches(tiny_data, tiny_config):
    cfg = replace(tiny_config, epochs=6, lr=1e-6, patience=2)
    states = []
    full, full_history, splits = _run(cfg, tiny_data,
                                      checkpoint=lambda s: states.append(copy.deepcopy(s)))
    assert states and len(states) == len(full_history) - 1
    model = build_model(cfg, tiny_data, 0)
    history = fit(model, tiny_data, splits.train, splits.val, cfg, generators(0), "cpu",
                  progress=False, resume=states[0])
    assert history == full_history
    assert _states_equal(model.state_dict(), full.state_dict())


def test_predict_and_evaluate(tiny_data, tiny_config):
    model = build_model(tiny_config, tiny_data, 0)
    x, y = tiny_data.x_test, tiny_data.y_test
    preds = predict(model, tiny_data, x, batch_size=5)
    assert preds.shape == (len(x),) and preds.dtype == torch.int64
    assert torch.equal(preds, predict(model, tiny_data, x, batch_size=1000))
    assert evaluate_accuracy(model, tiny_data, x, y) == pytest.approx(
        100.0 * (preds == y).float().mean().item())
    assert math.isnan(evaluate_accuracy(model, tiny_data, x[:0], y[:0]))
    assert predict(model, tiny_data, x[:0]).shape == (0,)
    assert model.training  # predict restores the mode


def test_bf16_autocast_runs(tiny_data, tiny_config):
    cfg = replace(tiny_config, epochs=1, bf16=True)
    model, history, _ = _run(cfg, tiny_data)
    assert len(history) == 1 and math.isfinite(history[0]["loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())

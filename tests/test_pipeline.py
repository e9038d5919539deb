"""illusion.pipeline: seed streams, splits, train-or-load through the cache, interruption."""

from __future__ import annotations

import math
import os
from dataclasses import asdict

import pytest
import torch

from illusion import pipeline
from illusion.cache import ArtifactCache, Checkpoint
from illusion.pipeline import (STREAMS, generators, make_splits, split_accuracies, train_or_load)
from illusion.train import evaluate_accuracy


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _train(tiny_config, tiny_data, cache, **kwargs):
    return train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                         device="cpu", progress=False, **kwargs)


# ------------------------------------------------------------------------ generators

def test_generators_distinct_and_reproducible():
    g = generators(0)
    assert list(g) == list(STREAMS)
    draws = {k: torch.randint(0, 2**62, (4,), generator=v).tolist() for k, v in g.items()}
    assert len({tuple(d) for d in draws.values()}) == len(STREAMS)  # distinct streams
    again = {k: torch.randint(0, 2**62, (4,), generator=v).tolist()
             for k, v in generators(0).items()}
    assert again == draws
    other = {k: torch.randint(0, 2**62, (4,), generator=v).tolist()
             for k, v in generators(1).items()}
    assert all(other[k] != draws[k] for k in STREAMS)
    # a subset of names gives the same stream as the full set
    assert generators(0, ["order"])["order"].initial_seed() == generators(0)["order"].initial_seed()
    assert all(0 <= v.initial_seed() < 2**63 for v in g.values())


# ------------------------------------------------------------------------ splits

@pytest.mark.parametrize("forget", [(), (1,), (0, 2)])
def test_make_splits_invariants(tiny_data, tiny_config, forget):
    s = make_splits(tiny_data, tiny_config, 0, forget)
    train, val = set(s.train.tolist()), set(s.val.tolist())
    assert train.isdisjoint(val)
    assert train | val == set(range(len(tiny_data.y_train)))  # per_class=None: everything
    assert set(s.retain.tolist()) | set(s.forget.tolist()) == train
    assert set(s.retain.tolist()).isdisjoint(s.forget.tolist())
    f = torch.tensor(forget, dtype=torch.int64)
    assert not torch.isin(tiny_data.y_train[s.retain], f).any()
    assert torch.isin(tiny_data.y_train[s.forget], f).all()
    n_test = len(tiny_data.y_test)
    assert sorted(s.test_retain.tolist() + s.test_forget.tolist()) == list(range(n_test))
    assert torch.equal(torch.isin(tiny_data.y_test[s.test_forget], f),
                       torch.ones(len(s.test_forget), dtype=torch.bool))
    assert not torch.isin(tiny_data.y_test[s.test_retain], f).any()
    assert s.forget_classes == tuple(forget)
    assert torch.bincount(tiny_data.y_train[s.val]).tolist() == [4, 4, 4]  # round(0.2 * 20)


def test_make_splits_deterministic_and_per_class(tiny_data, tiny_config):
    from dataclasses import replace

    cfg = replace(tiny_config, per_class=10, val_fraction=0.3)
    a, b = make_splits(tiny_data, cfg, 3, ()), make_splits(tiny_data, cfg, 3, ())
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert torch.bincount(tiny_data.y_train[torch.cat([a.train, a.val])]).tolist() == [10, 10, 10]
    assert torch.bincount(tiny_data.y_train[a.val]).tolist() == [3, 3, 3]
    c = make_splits(tiny_data, cfg, 4, ())
    assert not torch.equal(a.train, c.train)


# ------------------------------------------------------------------------ train_or_load

def test_train_or_load_caches(tiny_data, tiny_config, cache):
    first = _train(tiny_config, tiny_data, cache)
    assert first.cached is False and first.kind == "original"
    assert first.spec == {"dataset": "tiny", "train": asdict(tiny_config), "seed": 0,
                          "forget": []}
    assert len(first.history) == tiny_config.epochs
    assert cache.path("original", first.spec).exists()
    assert not cache.checkpoint("original", first.spec).path.exists()
    assert not first.model.training

    second = _train(tiny_config, tiny_data, cache)
    assert second.cached is True
    assert _states_equal(first.model.state_dict(), second.model.state_dict())
    assert second.history == first.history
    assert second.seconds == first.seconds
    assert second.spec == first.spec


def test_train_or_load_seed_changes_artifact(tiny_data, tiny_config, cache):
    a = _train(tiny_config, tiny_data, cache, seed=0)
    b = _train(tiny_config, tiny_data, cache, seed=1)
    assert b.cached is False
    assert not _states_equal(a.model.state_dict(), b.model.state_dict())


def test_retrain_without_forget_class(tiny_data, tiny_config, cache, monkeypatch):
    seen = {}
    real_fit = pipeline.fit

    def spy(model, data, train_idx, val_idx, *args, **kwargs):
        seen["train"], seen["val"] = train_idx.clone(), val_idx.clone()
        return real_fit(model, data, train_idx, val_idx, *args, **kwargs)

    monkeypatch.setattr(pipeline, "fit", spy)
    tm = _train(tiny_config, tiny_data, cache, forget=[0])
    assert tm.kind == "retrain" and tm.cached is False
    assert tm.spec["forget"] == [0]
    assert cache.path("retrain", tm.spec).exists()
    assert (tiny_data.y_train[seen["train"]] != 0).all()
    assert (tiny_data.y_train[seen["val"]] != 0).all()  # no forget class in validation either
    assert torch.equal(seen["train"], tm.splits.retain)
    assert len(seen["train"]) == 32 and len(seen["val"]) == 8


def test_forget_is_normalised(tiny_data, tiny_config, cache):
    a = _train(tiny_config, tiny_data, cache, forget=[2, 0])
    assert a.spec["forget"] == [0, 2] and a.splits.forget_classes == (0, 2)
    b = _train(tiny_config, tiny_data, cache, forget=(0, 2))
    assert b.cached is True


# a repeated class is an input error, as in a grid file or on the command line (one check of
# a forget set everywhere: illusion.catalog.check_forget)
@pytest.mark.parametrize("forget", [[5], [-1], [0, 1, 2], [0, 1, 2, 2], [2, 0, 2]])
def test_bad_forget_raises(tiny_data, tiny_config, cache, forget):
    with pytest.raises(ValueError):
        _train(tiny_config, tiny_data, cache, forget=forget)
    assert not cache.root.exists() or not any(cache.root.rglob("*.pt"))


def test_unknown_profile(tiny_data, tiny_config, cache):
    with pytest.raises(KeyError):
        train_or_load(profile="nope", config=tiny_config, data=tiny_data, cache=cache,
                      device="cpu", progress=False)


def test_split_accuracies_original(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache)
    acc = split_accuracies(tm)
    assert list(acc) == ["train_retain", "train_forget", "test_retain", "test_forget"]
    assert math.isnan(acc["train_forget"]) and math.isnan(acc["test_forget"])
    d, s = tiny_data, tm.splits
    assert acc["train_retain"] == evaluate_accuracy(tm.model, d, d.x_train[s.retain], d.y_train[s.retain])
    assert acc["test_retain"] == evaluate_accuracy(tm.model, d, d.x_test, d.y_test)


def test_split_accuracies_retrain(tiny_data, tiny_config, cache):
    tm = _train(tiny_config, tiny_data, cache, forget=[1])
    acc = split_accuracies(tm, device="cpu")
    assert all(0 <= v <= 100 for v in acc.values())
    d, s = tiny_data, tm.splits
    assert len(s.test_forget) == 6 and len(s.test_retain) == 12
    assert acc["test_forget"] == evaluate_accuracy(tm.model, d, d.x_test[s.test_forget],
                                                   d.y_test[s.test_forget])


def test_interrupted_training_resumes(tiny_data, tiny_config, cache, tmp_path, monkeypatch):
    real_save = Checkpoint.save

    def save_then_interrupt(self, state):
        real_save(self, state)
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Checkpoint, "save", save_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            _train(tiny_config, tiny_data, cache)

    spec = {"dataset": "tiny", "train": asdict(tiny_config), "seed": 0, "forget": []}
    assert not cache.path("original", spec).exists()
    assert cache.checkpoint("original", spec).path.exists()
    assert sorted(p.name for p in cache.path("original", spec).parent.glob("*.pt")) == [
        cache.path("original", spec).with_suffix(".partial.pt").name]
    assert len(cache.checkpoint("original", spec).load()["history"]) == 1

    resumed_from = []
    real_fit = pipeline.fit

    def spy(*args, resume=None, **kwargs):
        resumed_from.append(None if resume is None else len(resume["history"]))
        return real_fit(*args, resume=resume, **kwargs)

    monkeypatch.setattr(pipeline, "fit", spy)
    resumed = _train(tiny_config, tiny_data, cache)
    assert resumed.cached is False
    assert resumed_from == [1]  # it continued after epoch 1 rather than starting over
    assert not cache.checkpoint("original", spec).path.exists()
    assert cache.path("original", spec).exists()

    fresh = _train(tiny_config, tiny_data, ArtifactCache(tmp_path / "other-cache"))
    assert resumed_from == [1, None]
    assert _states_equal(resumed.model.state_dict(), fresh.model.state_dict())
    assert resumed.history == fresh.history


def test_bf16_follows_the_profile_and_keys_its_own_features(tiny_data, tiny_config, cache):
    from dataclasses import replace

    from illusion.pipeline import TrainedModel, cached_features

    fp32 = train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                         device="cpu", progress=False)
    assert not fp32.bf16
    spec16 = {**fp32.spec, "train": {**fp32.spec["train"], "bf16": True}}
    bf16 = replace(fp32, spec=spec16)
    assert bf16.bf16
    # an unlearned model (or one started from the CMF original) inherits it through "original"
    nested = replace(fp32, spec={"original": {"original": spec16, "method": "cmf"}, "method": "x"})
    assert nested.bf16 and isinstance(nested, TrainedModel)
    a, b = cached_features(fp32, cache), cached_features(bf16, cache)
    assert a.train.dtype == b.train.dtype == torch.float32
    assert len(list((cache.root / "features").glob("*.pt"))) == 2  # two artifacts
    rel = (a.test - b.test).norm() / a.test.norm()
    assert 0 < rel < 0.05  # bfloat16 rounding, not another model


def test_features_from_cached_stage_features_equal_a_direct_pass(tiny_data, tiny_config, cache,
                                                                 tmp_path):
    from illusion.pipeline import cached_features, cached_stage_features

    tm = train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                       device="cpu", progress=False)
    direct = cached_features(tm, ArtifactCache(tmp_path / "other"))
    cached_stage_features(tm, cache)
    derived = cached_features(tm, cache)  # built from the stage features
    for name in ("train", "test", "train_logits", "test_logits", "train_y", "test_y"):
        assert torch.equal(getattr(direct, name), getattr(derived, name)), name


def test_every_kind_goes_through_one_routine(tiny_data, tiny_config, cache, monkeypatch):
    kinds, real = [], pipeline._model_artifact

    def spy(cache, kind, *args, **kwargs):
        kinds.append(kind)
        return real(cache, kind, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_model_artifact", spy)
    kw = dict(profile="smoke", config=tiny_config, data=tiny_data, cache=cache, device="cpu",
              progress=False)
    assert pipeline.unlearn_or_load(forget=[1], method="retrain", **kw).kind == "retrain"
    assert pipeline.unlearn_or_load(forget=[1], method="random_label+cmf", **kw).cached is False
    assert kinds == ["retrain", "original", "cmf_original", "unlearned"]


def test_an_original_read_again_shares_its_network_until_its_file_changes(train_tiny, cache,
                                                                          monkeypatch):
    monkeypatch.setattr(pipeline, "_SHARED", type(pipeline._SHARED)())
    first = train_tiny(2)
    loads = []
    real = pipeline._load_or_build
    monkeypatch.setattr(pipeline, "_load_or_build",
                        lambda *a, **k: loads.append(a[1]) or real(*a, **k))
    again = train_tiny(2)
    assert again is not first and again.model is first.model and again.cached
    assert loads == []  # not read from disk again
    path = cache.path("original", first.spec)
    path.write_bytes(path.read_bytes())  # the file rewritten (same bytes, new time)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    third = train_tiny(2)
    assert loads == ["original"] and third.model is not first.model
    assert all(torch.equal(a, b) for a, b in zip(third.model.state_dict().values(),
                                                 first.model.state_dict().values()))


def test_another_run_of_an_unlearning_has_its_own_streams_and_key(tiny_data, tiny_config,
                                                                 cache):
    """Run 0 keeps its key; run 1 is another artifact with other weights (its own batch order
    and random labels) from the same original, the same again when rebuilt; Retrain's other
    runs are other seeds, so asking for one is an error."""
    kw = dict(profile="smoke", forget=[1], method="random_label", config=tiny_config,
              data=tiny_data, cache=cache, device="cpu", progress=False)
    run0 = pipeline.unlearn_or_load(**kw)
    run1 = pipeline.unlearn_or_load(**kw, run_seed=1)
    assert "run_seed" not in run0.spec and run1.spec["run_seed"] == 1
    assert {k: v for k, v in run1.spec.items() if k != "run_seed"} == run0.spec
    assert run1.spec["original"] == run0.spec["original"]  # the same original
    w0, w1 = run0.model.fc.weight, run1.model.fc.weight
    assert not torch.equal(w0, w1)
    again = pipeline.unlearn_or_load(**kw, run_seed=1)
    assert again.cached and torch.equal(again.model.fc.weight, w1)
    with pytest.raises(ValueError, match="other runs are other seeds"):
        pipeline.unlearn_or_load(**{**kw, "method": "retrain"}, run_seed=1)

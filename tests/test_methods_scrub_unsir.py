"""SCRUB and UNSIR on tiny synthetic data: the contract (finite, deterministic, global RNG left
alone) and the mechanism each method relies on."""

from __future__ import annotations

import copy
import math
from itertools import islice

import pytest
import torch
import torch.nn.functional as F

from illusion.data import normalize
from illusion.methods import Context, create_method, run_unlearning
from illusion.methods.scrub import distill_kl
from illusion.pipeline import generators, make_splits, train_or_load

STREAMS = ("order", "augment", "labels", "noise")
TINY = {"scrub": {"batch_size": 8},
        "unsir": {"batch_size": 8, "noise_batch": 4, "noise_copies": 2, "retain_per_class": 5,
                  "noise_steps": 2, "noise_inner": 3}}


@pytest.fixture
def original(tiny_data, tiny_config, cache):
    return train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                         device="cpu", progress=False)


def unlearn(method, tm, cfg, forget=(0,), seed=0):
    s = make_splits(tm.data, cfg, seed, forget)
    model = copy.deepcopy(tm.model)
    _, history, _ = run_unlearning(method, model, tm.data, s.retain, s.forget, forget,
                                   generators(seed, STREAMS), "cpu", progress=False)
    return model, history


def context(method, tm, cfg, forget=(0,)):
    s = make_splits(tm.data, cfg, 0, forget)
    model = copy.deepcopy(tm.model)
    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    return Context(model, frozen, tm.data, s.retain, s.forget, tuple(forget),
                   torch.device("cpu"), generators(0, STREAMS), method.hp)


def record_batches(method, keep=lambda epoch, batch: True, limit=None):
    """Wrap ``method.batches``: log (epoch, kind) of each batch, keep those ``keep`` accepts."""
    seen, inner = [], method.batches

    def wrapped(ctx, epoch):
        kept = (b for b in inner(ctx, epoch) if keep(epoch, b))
        for b in islice(kept, limit):
            seen.append((epoch, b.kind))
            yield b

    method.batches = wrapped
    return seen


def same_state(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", ["scrub", "unsir"])
def test_two_steps_finite_and_deterministic(name, original, tiny_config):
    models = []
    for _ in range(2):
        method = create_method(name, epochs=1, **TINY[name])
        seen = record_batches(method, limit=2)  # two steps per epoch (UNSIR: per phase)
        model, history = unlearn(method, original, tiny_config)
        assert len(seen) == 2 * len(history) and math.isfinite(history[0]["loss"])
        models.append(model)
    assert same_state(*models)
    assert not same_state(models[0], original.model)


@pytest.mark.parametrize("name", ["scrub", "unsir"])
def test_whole_run_leaves_global_rng_alone(name, original, tiny_config):
    before = torch.random.get_rng_state()
    _, history = unlearn(create_method(name, epochs=2, **TINY[name]), original, tiny_config)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(math.isfinite(h["loss"]) for h in history)


def forget_kl(model, teacher, tm, forget_idx) -> float:
    x = normalize(tm.data.x_train[forget_idx], tm.data.mean, tm.data.std)
    with torch.no_grad():
        return distill_kl(model.eval()(x), teacher(x), 4.0).item()


def test_scrub_max_pass_moves_away_from_teacher(original, tiny_config):
    method = create_method("scrub", epochs=1, msteps=1, lr=0.05, weight_decay=0.0, batch_size=8)
    seen = record_batches(method, keep=lambda epoch, b: b.kind == "forget")
    model, history = unlearn(method, original, tiny_config)
    s = make_splits(original.data, tiny_config, 0, (0,))
    assert {kind for _, kind in seen} == {"forget"} and history[0]["loss"] < 0
    before = forget_kl(original.model, original.model, original, s.forget)
    after = forget_kl(model, original.model, original, s.forget)
    assert before == pytest.approx(0.0, abs=1e-6) and after > before + 1e-3


def test_scrub_msteps_controls_forget_passes(original, tiny_config):
    for msteps, expected in [(0, set()), (1, {0})]:
        method = create_method("scrub", epochs=2, msteps=msteps, batch_size=8)
        seen = record_batches(method)
        unlearn(method, original, tiny_config)
        assert {epoch for epoch, kind in seen if kind == "forget"} == expected
        assert {epoch for epoch, kind in seen if kind == "retain"} == {0, 1}


def noise_ce(model, noise, label) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(noise), torch.full((len(noise),), label)).item()


def test_unsir_setup_learns_noise_without_touching_the_model(original, tiny_config):
    method = create_method("unsir", **{**TINY["unsir"], "noise_steps": 5, "noise_inner": 8})
    ctx = context(method, original, tiny_config)
    model_before = copy.deepcopy(ctx.model)
    frozen_before = copy.deepcopy(ctx.original)
    method.setup(ctx)
    assert same_state(ctx.model, model_before) and same_state(ctx.original, frozen_before)
    assert ctx.model.training == model_before.training
    # the first draw of a fresh "noise" stream is the initial noise of the first forget class
    init = torch.randn(ctx.state["noise_x"].shape, generator=generators(0, STREAMS)["noise"])
    learned = ctx.state["noise_x"]
    assert noise_ce(ctx.original, learned, 0) > noise_ce(ctx.original, init, 0)


def test_unsir_impair_noise_carries_its_forget_label(original, tiny_config):
    forget = (0, 1)
    method = create_method("unsir", **TINY["unsir"])
    ctx = context(method, original, tiny_config, forget)
    method.setup(ctx)
    noise_x, noise_y = ctx.state["noise_x"], ctx.state["noise_y"]
    sub_y = ctx.state["subset_y"]
    assert len(sub_y) == 5 and set(sub_y.tolist()) == {2}
    assert noise_y.tolist() == [0] * 4 + [1] * 4
    kinds, noise_rows = [], 0
    for phase in ("impair", "repair"):
        ctx.phase = phase
        for b in method.batches(ctx, 0):
            kinds.append(b.kind)
            if b.kind == "noise":
                for x, y in zip(b.x[b.is_forget], b.y[b.is_forget]):
                    match = (noise_x == x).flatten(1).all(1)  # which noise image this row is
                    assert match.sum() == 1 and noise_y[match].item() == y.item()
                assert set(b.y[~b.is_forget].tolist()) <= {2}
                noise_rows += int(b.is_forget.sum())
            else:
                assert set(b.y.tolist()) == {2}
    assert noise_rows == 2 * 4 * 2  # forget classes x noise_batch x noise_copies
    n_impair = kinds.count("noise")
    assert n_impair == 3 and kinds[n_impair:] == ["retain"]  # (16 + 5) / 8 -> 3, then 5 / 8 -> 1

def test_unsir_impairs_then_repairs_each_with_a_fresh_adam(original, tiny_config, monkeypatch):
    """[A]'s order: every impair epoch (noise ∪ retain subset, Adam at impair_lr), then every
    repair epoch (retain subset only, a new Adam at lr)."""
    import illusion.methods.base as base

    made, make = [], base.make_optimizer

    def spy(phase, params, hp):
        opt = make(phase, params, hp)
        made.append((phase.name, opt))
        return opt

    monkeypatch.setattr(base, "make_optimizer", spy)
    method = create_method("unsir", epochs=2, lr=3e-4, impair_lr=7e-4, **TINY["unsir"])
    seen = record_batches(method)
    _, history = unlearn(method, original, tiny_config)
    assert [h["phase"] for h in history] == ["impair", "impair", "repair", "repair"]
    assert [name for name, _ in made] == ["impair", "repair"] and made[0][1] is not made[1][1]
    for (name, opt), lr in zip(made, (7e-4, 3e-4)):
        assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == lr
        assert opt.param_groups[0]["weight_decay"] == 0.0
    kinds = {epoch: {kind for e, kind in seen if e == epoch} for epoch in range(4)}
    assert kinds == {0: {"noise"}, 1: {"noise"}, 2: {"retain"}, 3: {"retain"}}


def test_unsir_logit_objective_lowers_the_target_logit(original, tiny_config):
    from illusion.methods.unsir import error_maximising_noise

    model = original.model.eval()
    init = torch.randn((8, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    learned = error_maximising_noise(model, init, 0, 20, 0.1, 0.0, objective="logit")
    with torch.no_grad():
        assert model(learned)[:, 0].mean() < model(init)[:, 0].mean()
    with pytest.raises(ValueError, match="noise_objective"):
        error_maximising_noise(model, init, 0, 1, 0.1, 0.0, objective="nope")


def test_scrub_uses_plain_sgd_unless_told(original, tiny_config, monkeypatch):
    import illusion.methods.base as base

    made, make = [], base.make_optimizer
    monkeypatch.setattr(base, "make_optimizer",
                        lambda *a: made.append(make(*a)) or made[-1])
    for nesterov in (False, True):
        kw = {} if not nesterov else {"nesterov": True}
        unlearn(create_method("scrub", epochs=1, msteps=0, **TINY["scrub"], **kw), original,
                tiny_config)
        assert isinstance(made[-1], torch.optim.SGD)
        assert made[-1].param_groups[0]["nesterov"] is nesterov
        assert made[-1].param_groups[0]["momentum"] == 0.9

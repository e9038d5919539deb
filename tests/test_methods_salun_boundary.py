"""SalUn (global saliency mask as a hard constraint) and Boundary Shrink (FGSM relabelling)."""

from __future__ import annotations

import copy

import pytest
import torch

from illusion.methods import Context, create_method, run_unlearning
from illusion.methods.boundary_shrink import shrink_labels
from illusion.methods.salun import saliency_mask
from illusion.pipeline import generators, make_splits, train_or_load

STREAMS = ("order", "augment", "labels", "noise")
FORGET = (0,)


@pytest.fixture
def original(tiny_data, tiny_config, cache):
    return train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                         device="cpu", progress=False)


@pytest.fixture
def splits(tiny_data, tiny_config):
    return make_splits(tiny_data, tiny_config, 0, FORGET)


def _context(original, splits, method) -> Context:
    model = copy.deepcopy(original.model)
    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    return Context(model, frozen, original.data, splits.retain, splits.forget, FORGET,
                   torch.device("cpu"), generators(0, STREAMS), method.hp)


def _run(name, original, splits, **hp):
    model = copy.deepcopy(original.model)
    method = create_method(name, **{"epochs": 1, "batch_size": 8, **hp})
    run_unlearning(method, model, original.data, splits.retain, splits.forget, FORGET,
                   generators(0, STREAMS), "cpu", progress=False)
    return model


def _mask(original, splits, **hp) -> list[torch.Tensor]:
    method = create_method("salun", batch_size=8, **hp)
    ctx = _context(original, splits, method)
    method.setup(ctx)
    return ctx.state["mask"]


# ------------------------------------------------------------------------ SalUn

def test_saliency_mask_is_global_and_floors():
    big, small = torch.full((3, 2), 10.0), -torch.ones(7)  # sign is irrelevant: |g|
    mask = saliency_mask([small, big], 0.5)  # N = 13 -> floor(6.5) = 6 kept
    assert [m.shape for m in mask] == [small.shape, big.shape]
    assert mask[1].all() and not mask[0].any()  # one tensor holds all the largest entries
    assert sum(int(m.sum()) for m in saliency_mask([small, big], 0.99)) == 12  # floor(12.87)
    with pytest.raises(ValueError, match="threshold"):
        saliency_mask([big], 1.5)


def test_salun_mask_on_model_keeps_half_globally(original, splits):
    mask = _mask(original, splits)
    n = sum(m.numel() for m in mask)
    assert sum(int(m.sum()) for m in mask) == int(0.5 * n)  # floor(threshold · N)
    fractions = {round(m.float().mean().item(), 3) for m in mask}
    assert len(fractions) > 2  # ranked across tensors, not 50% of each tensor
    assert len(mask) == len(list(original.model.parameters()))  # parameters only, no buffers


def test_salun_mask_leaves_model_untouched(original, splits):
    method = create_method("salun", batch_size=8)
    ctx = _context(original, splits, method)
    before = copy.deepcopy(ctx.model.state_dict())
    method.setup(ctx)
    for k, v in ctx.model.state_dict().items():  # BN running statistics included
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None for p in ctx.model.parameters())


def test_salun_masked_out_weights_never_move(original, splits):
    mask = _mask(original, splits)
    model = _run("salun", original, splits, lr=0.5, momentum=0.9, weight_decay=0.5, epochs=2)
    moved = 0
    for keep, p, p0 in zip(mask, model.parameters(), original.model.parameters()):
        assert torch.equal(p[~keep], p0[~keep])  # bit-identical under decay and momentum
        moved += int((p[keep] != p0[keep]).sum())
    assert moved > 0


@pytest.mark.parametrize("threshold,low,high",
                         [(1.0, 0.9, 1.0), (0.01, 0.0, 0.01), (0.0, 0.0, 0.0)])
def test_salun_threshold_bounds_the_changed_share(original, splits, threshold, low, high):
    model = _run("salun", original, splits, threshold=threshold, lr=0.1)
    pairs = list(zip(model.parameters(), original.model.parameters()))
    changed = sum(int((p != q).sum()) for p, q in pairs) / sum(p.numel() for p, _ in pairs)
    assert low <= changed <= high


@pytest.mark.parametrize("name", ["salun", "boundary_shrink"])
def test_same_generators_same_model_and_global_rng_untouched(original, splits, name):
    rng = torch.random.get_rng_state()
    a = _run(name, original, splits, lr=0.05)
    b = _run(name, original, splits, lr=0.05)
    assert torch.equal(rng, torch.random.get_rng_state()), "global RNG touched"
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), original.model.parameters()))


# ------------------------------------------------------------------------ Boundary Shrink

def test_shrink_labels_never_keep_the_true_class(original, splits):
    ctx = _context(original, splits, create_method("boundary_shrink"))
    x, y = ctx.inputs(splits.forget, augment=False), original.data.y_train[splits.forget]
    for bound in (0.1, 0.0):  # bound 0: FGSM cannot cross, the best other class is taken
        new = shrink_labels(ctx, x, y, bound)
        assert new.shape == y.shape and bool((new != y).all())
    assert all(p.grad is None for p in ctx.model.parameters())  # the FGSM step leaks nothing
    assert all(p.grad is None and not p.requires_grad for p in ctx.original.parameters())


def test_boundary_shrink_trains_model_not_frozen_copy(original, splits):
    method = create_method("boundary_shrink", batch_size=8)
    ctx = _context(original, splits, method)
    frozen = copy.deepcopy(ctx.original.state_dict())
    method.setup(ctx)
    ctx.model.train()
    for batch in method.batches(ctx, 0):
        ctx.model.zero_grad(set_to_none=True)
        method.backward(ctx, batch)
    for k, v in ctx.original.state_dict().items():
        assert torch.equal(v, frozen[k]), k
    assert all(p.grad is None for p in ctx.original.parameters())
    assert all(p.grad is not None for p in ctx.model.parameters())

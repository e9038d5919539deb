"""Contract tests over the method registry, the classifier-only edits and `illusion unlearn`."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from illusion import cli
from illusion.methods import available, create_method, hparams_for, run_unlearning
from illusion.methods.classifier_only import nc_flip_terms
from illusion.pipeline import generators, train_or_load, unlearn_or_load

STREAMS = ("order", "augment", "labels", "noise")


@pytest.fixture
def original(tiny_data, tiny_config, cache):
    return train_or_load(profile="smoke", config=tiny_config, data=tiny_data, cache=cache,
                         device="cpu", progress=False)


def _run(name, original, **hp):
    model = copy.deepcopy(original.model)
    s = original.splits
    retain, forget = s.train[original.data.y_train[s.train] != 0], s.train[original.data.y_train[s.train] == 0]
    valid = create_method(name).hp
    method = create_method(name, **{k: v for k, v in {"epochs": 1, "batch_size": 8, **hp}.items()
                                    if k in valid})
    _, history, seconds = run_unlearning(method, model, original.data, retain, forget, (0,),
                                         generators(0, STREAMS), "cpu", progress=False)
    return model, history, seconds


LOOPED = [m for m in available() if m != "retrain"]


def test_registry_lists_every_family():
    names = set(available())
    assert {"retrain", "finetune", "grad_ascent", "random_label", "neggrad_plus", "l1_sparse",
            "prune_row", "nc_flip", "last_layer:random_label"} <= names
    with pytest.raises(KeyError, match="choose from"):
        create_method("nope")
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        create_method("random_label", nope=1)


@pytest.mark.parametrize("name", LOOPED)
def test_every_method_runs_deterministically(name, original):
    rng = torch.random.get_rng_state()
    a, hist_a, seconds = _run(name, original)
    b, hist_b, _ = _run(name, original)
    assert torch.equal(rng, torch.random.get_rng_state()), "global RNG touched"
    assert all(math.isfinite(h["loss"]) for h in hist_a) and seconds >= 0
    assert hist_a == hist_b
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    for k, v in original.model.state_dict().items():  # the cached original is never mutated
        assert torch.equal(v, original.model.state_dict()[k])


@pytest.mark.parametrize("name", [m for m in LOOPED if m not in ("prune_row", "nc_flip")])
def test_loss_based_methods_change_the_model(name, original):
    model, _, _ = _run(name, original, lr=0.05)
    changed = any(not torch.equal(p, q) for p, q in
                  zip(model.parameters(), original.model.parameters()))
    assert changed


def test_prune_row_zeroes_only_the_forget_row(original):
    model, _, _ = _run("prune_row", original)
    assert torch.all(model.fc.weight[0] == 0) and model.fc.bias[0] == 0
    torch.testing.assert_close(model.fc.weight[1:], original.model.fc.weight[1:])
    for (k, v), w in zip(model.state_dict().items(), original.model.state_dict().values()):
        if not k.startswith("fc."):
            assert torch.equal(v, w), k


@pytest.mark.parametrize("name", ["last_layer:random_label", "last_layer:neggrad_plus"])
def test_last_layer_touches_only_the_head(name, original):
    model, _, _ = _run(name, original, lr=0.05)
    assert not torch.equal(model.fc.weight, original.model.fc.weight)
    for (k, v), w in zip(model.state_dict().items(), original.model.state_dict().values()):
        if not k.startswith("fc."):
            assert torch.equal(v, w), k  # BN running statistics included


def test_last_layer_zero_head_starts_from_zero(original):
    model, _, _ = _run("last_layer:finetune", original, lr=0.0, zero_head=True, momentum=0.0)
    assert torch.all(model.fc.weight == 0) and torch.all(model.fc.bias == 0)


def _etf(k: int, d: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    e = (torch.eye(k, dtype=torch.float64) - 1.0 / k) * math.sqrt(k / (k - 1))
    return e @ q.T  # (K, D) rows: a simplex ETF


@pytest.mark.parametrize("ratio,retain_survives", [(0.5, True), (0.95, True), (1.05, False)])
def test_nc_flip_bound_on_collapsed_features(ratio, retain_survives):
    k, alpha, forget = 5, 2.0, [0]
    means = _etf(k, 8) + 3.0  # class means with a non-zero global mean
    mu_g = means.mean(0)
    weight = alpha * (means - mu_g)
    a_hat, centred = nc_flip_terms(weight, means, mu_g, forget)
    assert a_hat == pytest.approx(alpha)
    c = ratio * (k - 1) * a_hat
    # NC classifier on uncentred features: w_j = α(μ_j − μ_G), b_j = −w_j · μ_G
    w, b = weight.clone(), -(weight @ mu_g)
    w[0] = -c * centred[0]
    b[0] = c * centred[0] @ mu_g
    pred = (means @ w.T + b).argmax(1)  # collapsed features = class means
    assert pred[0] != 0  # the forget class is never predicted for its own mean
    assert bool(torch.all(pred[1:] == torch.arange(1, k))) is retain_survives


def test_nc_flip_and_prune_keep_features(original):
    from illusion.features import extract_features

    x = original.data.x_test
    f0 = extract_features(original.model, original.data, x)
    for name in ("nc_flip", "prune_row"):
        model, _, _ = _run(name, original)
        torch.testing.assert_close(extract_features(model, original.data, x), f0)


def test_hparams_config_resolves_profiles():
    assert hparams_for("random_label", "paper")["lr"] == 1e-2
    assert hparams_for("last_layer:random_label", "cpu") == hparams_for("random_label", "cpu")
    assert hparams_for("nope", "cpu") == {}
    for profile in ("smoke", "cpu", "paper"):
        for name in available():
            create_method(name, **hparams_for(name, profile))  # every entry is valid


def test_unlearn_or_load_caches_and_keeps_splits(tiny_data, tiny_config, cache):
    kw = dict(profile="smoke", config=tiny_config, data=tiny_data, cache=cache, device="cpu",
              progress=False, forget=[1], method="random_label", hparams={"epochs": 1})
    a = unlearn_or_load(**kw)
    b = unlearn_or_load(**kw)
    assert not a.cached and b.cached and a.kind == "random_label"
    assert set(tiny_data.y_train[a.splits.train].tolist()) == {0, 1, 2}  # probe needs all classes
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    r = unlearn_or_load(**{**kw, "method": "retrain", "hparams": None})
    assert r.kind == "retrain" and r.spec["forget"] == [1]


def test_cli_unlearn_json_schema(capsys, tiny_profile):
    rc = cli.main(["unlearn", "--profile", "smoke", "--forget", "1", "--method", "prune_row",
                   "--json", "--no-progress"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rec = json.loads(out)
    assert {"method", "dataset", "profile", "seed", "forget", "accuracy", "mia_efficacy",
            "seconds"} <= set(rec)
    assert set(rec["accuracy"]) == {"output", "probe", "ncc"}
    assert set(rec["accuracy"]["output"]) == {"train_retain", "train_forget", "test_retain",
                                              "test_forget"}
    assert set(rec["accuracy"]["probe"]) == set(rec["accuracy"]["ncc"]) == {"test_retain",
                                                                           "test_forget"}
    assert rec["accuracy"]["output"]["test_forget"] == 0.0  # a zeroed row never wins... almost


@pytest.mark.parametrize("argv", [["--method", "nope"], ["--method", "random_label", "--set", "x=1"],
                                  ["--method", "random_label", "--set", "oops"]])
def test_cli_unlearn_bad_input(capsys, tiny_profile, argv):
    assert cli.main(["unlearn", "--profile", "smoke", "--forget", "1", "--no-progress"] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("illusion: error:")


@pytest.mark.parametrize("ratio,retain_survives", [(0.5, True), (1.05, False)])
def test_nc_flip_head_on_collapsed_features(ratio, retain_survives):
    from illusion.methods.classifier_only import nc_flip_head

    k, alpha = 4, 1.5
    means = _etf(k, 6, seed=3) - 2.0
    mu_g = means.mean(0)
    weight = alpha * (means - mu_g)
    bias = -(weight @ mu_g)
    feats, labels = means.repeat(3, 1), torch.arange(k).repeat(3)  # collapsed: 3 copies
    w, b, terms = nc_flip_head(weight, bias, feats, labels, [2], ratio)
    assert terms["alpha"] == pytest.approx(alpha) and terms["bound"] == pytest.approx(3 * alpha)
    pred = (means @ w.T + b).argmax(1)
    assert pred[2] != 2
    keep = torch.tensor([0, 1, 3])
    assert bool(torch.all(pred[keep] == keep)) is retain_survives
    torch.testing.assert_close(w[keep], weight[keep])  # retained rows untouched


def _forget_acc(model, data, idx):
    from illusion.train import evaluate_accuracy

    return evaluate_accuracy(model, data, data.x_train[idx], data.y_train[idx])


# Per-method settings strong enough to act within a few steps on the tiny problem.
LOWERING = {"finetune": {"lr": 0.1, "epochs": 4}, "grad_ascent": {"lr": 0.05, "epochs": 2},
            "random_label": {"lr": 0.05, "epochs": 2}, "neggrad_plus": {"lr": 0.05, "epochs": 2},
            "scrub": {"lr": 0.05, "epochs": 2, "msteps": 2},
            "unsir": {"lr": 0.05, "epochs": 2, "noise_batch": 16, "noise_copies": 4},
            "salun": {"lr": 0.05, "epochs": 2}, "l1_sparse": {"lr": 0.1, "epochs": 4},
            "boundary_shrink": {"lr": 0.05, "epochs": 3}, "nc_flip": {},
            "last_layer:random_label": {"lr": 0.2, "epochs": 3}}


@pytest.fixture
def trained_original(train_tiny):
    return train_tiny(epochs=6)


@pytest.mark.parametrize("name", sorted(LOWERING))
def test_each_method_lowers_forget_accuracy(name, trained_original):
    s, data = trained_original.splits, trained_original.data
    forget_idx = s.train[data.y_train[s.train] == 0]
    before = _forget_acc(trained_original.model, data, forget_idx)
    model, _, _ = _run(name, trained_original, **LOWERING[name])
    assert before >= 50, "the tiny original must know the forget class"
    assert _forget_acc(model, data, forget_idx) < before


def test_prune_row_zeroes_the_row_and_keeps_a_sample_only_where_no_logit_beats_zero(
        trained_original):
    """Pruning sets the forget row and bias to 0, so a forget sample stays classified as the
    forget class exactly where every other logit is below 0 (a tiny model can be such that it
    happens for all of them, so "accuracy drops" is not a law; this is)."""
    from illusion.data import normalize

    s, data = trained_original.splits, trained_original.data
    forget_idx = s.train[data.y_train[s.train] == 0]
    model, _, _ = _run("prune_row", trained_original)
    assert torch.all(model.fc.weight[0] == 0) and model.fc.bias[0] == 0
    torch.testing.assert_close(model.fc.weight[1:], trained_original.model.fc.weight[1:])
    with torch.no_grad():
        logits = trained_original.model.eval()(normalize(data.x_train[forget_idx], data.mean,
                                                         data.std))
    kept = (logits[:, 1:].max(1).values < 0).double().mean().item() * 100
    assert _forget_acc(model, data, forget_idx) == pytest.approx(kept, abs=1e-9)


def test_random_labels_avoid_forget_classes_and_use_their_generator(trained_original):
    from illusion.methods.base import Batch, Context
    from illusion.methods.random_label import relabel_forget

    g = generators(0, STREAMS)
    data = trained_original.data
    ctx = Context(trained_original.model, trained_original.model, data, torch.arange(3),
                  torch.arange(3), (0, 2), torch.device("cpu"), g, {})
    y = torch.tensor([0, 1, 2] * 200)
    batch = Batch(torch.zeros(len(y), 1, 8, 8), y, "mixed", is_forget=(y != 1))
    rng = torch.random.get_rng_state()
    state = g["labels"].get_state()
    new = relabel_forget(ctx, batch)
    assert torch.equal(rng, torch.random.get_rng_state())
    assert not torch.equal(state, g["labels"].get_state())  # drawn from the "labels" stream
    assert set(new.tolist()) == {1}  # only retained class 1 is left to choose from
    g["labels"].set_state(state)
    assert torch.equal(relabel_forget(ctx, batch), new)  # same stream state -> same labels


def test_paper_hparams_follow_a_scripts_per_forget_set_size_and_dataset():
    """[A]'s run scripts set some learning rates per single/multi-class forgetting and per
    dataset; hparams_for resolves them from the forget set's size and the dataset."""
    lr = lambda m, n=1, d=None: hparams_for(m, "paper", n, d)["lr"]  # noqa: E731
    assert lr("random_label+cmf") == 1e-4 and lr("random_label+cmf", 3) == 2e-3
    assert lr("salun+cmf") == 2e-4 and lr("salun+cmf", 3, "cifar10") == 2e-3
    assert lr("scrub+cmf") == 5e-3 and lr("scrub+cmf", 3) == 1e-3
    assert lr("neggrad_plus+cmf") == lr("neggrad_plus+cmf", 3) == 1e-4
    # CIFAR-100 has its own tables; the CIFAR-10 multi table does not apply there
    assert lr("scrub+cmf", 10, "cifar100") == 5e-3
    assert lr("neggrad_plus", 1, "cifar100") == 5e-5 and lr("neggrad_plus", 10, "cifar100") == 1e-4
    assert lr("scrub", 1, "cifar100") == 1e-3 and lr("scrub", 10, "cifar100") == 3e-4
    assert hparams_for("unsir", "paper", 1, "cifar100") == {"epochs": 3, "lr": 3e-5,
                                                          "impair_lr": 2e-4}
    assert hparams_for("random_label+cmf", "cpu", 3) == hparams_for("random_label+cmf", "cpu")
    # UNSIR: Adam in both phases at [A]'s learning rates; classifier-only its own value
    phases = create_method("unsir", **hparams_for("unsir", "paper")).phases()
    assert [(p.name, p.optimizer, p.lr) for p in phases] == [("impair", "adam", 1e-4),
                                                             ("repair", "adam", 5e-5)]
    assert lr("last_layer:unsir") == 2e-3 and lr("last_layer:random_label") == 1e-2
    # SCRUB: plain SGD, as SCRUB's and [A]'s code
    (phase,) = create_method("scrub", **hparams_for("scrub", "paper")).phases()
    assert phase.optimizer == "sgd" and phase.nesterov is False


def test_pipeline_resolves_multi_class_hparams(tiny_data, tiny_config, cache, monkeypatch):
    import illusion.methods.config as config

    table = {"smoke": {"random_label": {"epochs": 1, "lr": 1e-2},
                       "multi": {"random_label": {"lr": 2e-2}}}}
    monkeypatch.setattr(config, "_table", lambda: table)
    kw = dict(profile="smoke", config=tiny_config, data=tiny_data, cache=cache, device="cpu",
              progress=False, method="random_label")
    assert unlearn_or_load(forget=[1], **kw).spec["hparams"]["lr"] == 1e-2
    assert unlearn_or_load(forget=[1, 2], **kw).spec["hparams"]["lr"] == 2e-2


def test_context_indexes_batches_on_its_device(tiny_data):
    """The unlearning loop's batches come from one device copy of the training split (issue
    18: no host-to-device copy per batch on a GPU); on the CPU that copy is the data itself."""
    import dataclasses

    from illusion.methods.base import Context

    idx = torch.arange(6)
    args = (torch.nn.Identity(), torch.nn.Identity(), tiny_data, idx, idx[:0], (0,))
    cpu = Context(*args, torch.device("cpu"), generators(0, STREAMS), {"batch_size": 4})
    assert cpu.x_train.data_ptr() == tiny_data.x_train.data_ptr()  # no copy on the CPU
    meta = Context(*args, torch.device("meta"), generators(0, STREAMS), {"batch_size": 4})
    meta.data = dataclasses.replace(tiny_data, x_train=tiny_data.x_train[:0],
                                    y_train=tiny_data.y_train[:0])  # the host split, gone
    batch = meta.batch(idx[:4], "retain")
    assert batch.x.device.type == batch.y.device.type == "meta"
    assert batch.x.shape == (4, *tiny_data.x_train.shape[1:]) and batch.y.shape == (4,)


# ------------------------------------------------------------------- variants (Wrapper)

def test_wrapper_delegates_every_hook_of_method():
    """Every public hook of Method is forwarded to the base once, in Wrapper, with its
    arguments and result; where the method starts is the base's unless a variant sets it."""
    import inspect

    from illusion.methods import Method, Wrapper

    hooks = [n for n, f in vars(Method).items() if inspect.isfunction(f) and not n.startswith("_")]
    assert {"setup", "batches", "loss", "backward", "after_step", "phases", "parameters",
            "train_mode", "scale_lr", "logits", "ce"} <= set(hooks)
    calls = []

    class Recorder:
        start_from, from_scratch = "elsewhere", True

        def __getattr__(self, name):
            return lambda *args: calls.append((name, args)) or f"{name} result"

    wrapper = Wrapper.__new__(Wrapper)
    wrapper.base = Recorder()
    for name in hooks:
        assert name in vars(Wrapper), f"Wrapper does not forward {name}"
        hook = vars(Method)[name]
        args = tuple(object() for _ in list(inspect.signature(hook).parameters)[1:])
        result = getattr(wrapper, name)(*args)
        assert calls[-1] == (name, args)
        if hook.__annotations__.get("return") != "None":
            assert result == f"{name} result"
    assert wrapper.start_from == "elsewhere" and wrapper.from_scratch is True
    assert create_method("scrub+cmf").start_from == "cmf_original"
    assert create_method("last_layer:scrub").start_from == "original"
    assert not create_method("scrub+ec").from_scratch


def test_a_variant_takes_one_registration(monkeypatch, original):
    from illusion.methods import (Wrapper, parse_method_name, register_variant,
                                  resolve_method)
    from illusion.methods import base

    with monkeypatch.context() as mp:
        mp.setattr(base, "_VARIANTS", dict(base._VARIANTS))

        @register_variant("{}+twice", bases=("finetune", "random_label"))
        class Twice(Wrapper):
            own = {"factor": 2.0}

            def scale_lr(self, epoch: int, step: int) -> float:
                return self.hp["factor"] * self.base.scale_lr(epoch, step)

        assert {"finetune+twice", "random_label+twice"} <= set(available())
        variant, name = parse_method_name("random_label+twice")
        assert variant.wrapper is Twice and name == "random_label"
        m = create_method("random_label+twice", lr=0.5)
        assert isinstance(m, Twice) and m.name == "random_label+twice"
        assert m.hp == {**create_method("random_label", lr=0.5).hp, "factor": 2.0}
        assert m.scale_lr(0, 0) == 2.0
        assert resolve_method("random_label+twice", "paper", {"factor": 3.0}).hp == {
            **create_method("random_label", **hparams_for("random_label", "paper")).hp,
            "factor": 3.0}
        with pytest.raises(KeyError):
            create_method("scrub+twice")  # not one of its bases
        _, history, _ = _run("finetune+twice", original)
        assert math.isfinite(history[0]["loss"])

        @register_variant("{}+clash", bases=("salun",))
        class Clash(Wrapper):
            own = {"threshold": 0.1}  # a hyperparameter of the base

        with pytest.raises(ValueError, match="clash"):
            create_method("salun+clash")
        with pytest.raises(ValueError, match="already registered"):
            register_variant("{}+twice", bases=("scrub",))(Twice)
    assert "random_label+twice" not in available()
    with pytest.raises(KeyError):
        create_method("random_label+twice")


def test_variants_inherit_their_base_hparams(monkeypatch):
    """A variant's hyperparameters are its base's (override tables included) updated by its
    own entry, except those whose default the variant sets itself."""
    import illusion.methods.config as config
    from illusion.methods import resolve_method

    for n, dataset in ((1, None), (2, None), (10, "cifar100")):
        assert hparams_for("last_layer:scrub", "paper", n, dataset) == \
            hparams_for("scrub", "paper", n, dataset)
    assert hparams_for("scrub+cmf", "paper") == {**hparams_for("scrub", "paper"), "lr": 5e-3}
    assert hparams_for("scrub+ec", "paper")["batch_size"] == 64  # SCRUB's, inherited
    table = {"p": {"neggrad_plus": {"epochs": 7, "lr": 0.3, "clip": 0.7, "ascent_weight": 2.0},
                   "unsir": {"noise_objective": "ce", "noise_copies": 3},
                   "neggrad_plus+ec": {"lr": 0.1}}}
    monkeypatch.setattr(config, "_table", lambda: table)
    hp = resolve_method("neggrad_plus+cmf", "p").hp
    assert (hp["epochs"], hp["lr"]) == (7, 0.3)  # inherited
    assert (hp["clip"], hp["ascent_weight"]) == (0.0, 0.5)  # CMF's own for NegGrad+, kept
    hp = resolve_method("unsir+cmf", "p").hp
    assert (hp["noise_objective"], hp["noise_copies"]) == ("logit", 3)
    hp = resolve_method("neggrad_plus+ec", "p", {"epochs": 1}).hp
    assert (hp["epochs"], hp["lr"], hp["clip"]) == (1, 0.1, 0.7)
    assert resolve_method("neggrad_plus", "p").hp == create_method(
        "neggrad_plus", **table["p"]["neggrad_plus"]).hp


def test_a_method_declares_the_rules_of_its_own_hyperparameters():
    """``Method.rules`` checks a hyperparameter the shared rules do not know, when the method
    is created, so that a new method needs no line in ``checks.RULES``."""
    from illusion.methods.base import Method, _own_rules
    from illusion.methods.checks import check_hparams

    class Own(Method):
        name = "own"
        defaults = {"alpha": 0.5}
        rules = {"alpha": ("float", 0.0, 1.0, False)}

    check_hparams("own", Own().hp, _own_rules(Own()))
    with pytest.raises(ValueError, match="own: hyperparameter alpha=2.0"):
        check_hparams("own", Own(alpha=2.0).hp, _own_rules(Own(alpha=2.0)))
    check_hparams("own", Own(alpha=2.0).hp)  # without them, any finite number passes

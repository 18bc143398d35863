"""The stage's acceptance checklist (验收标准): 14 items in four sections.

Every exercise in `catalog.py` names the item it proves; `dllab progress` prints this list with
the exercises behind each item and their status.
"""

from __future__ import annotations

from dataclasses import dataclass

from dllab.lab.checks import Text


@dataclass(frozen=True)
class Item:
    key: str  # what `catalog.py` refers to
    section: Text  # heading it is printed under
    title: Text  # the checklist line, as the stage's syllabus words it


_THEORY = {"en": "Theory", "zh": "理论基础"}
_FRAMEWORK = {"en": "Framework skills", "zh": "框架能力"}
_ARCHITECTURES = {"en": "Model architectures", "zh": "模型架构"}
_DEBUGGING = {"en": "Debugging and tuning", "zh": "调试与优化"}

ITEMS: tuple[Item, ...] = (
    Item(
        "backprop",
        _THEORY,
        {"en": "Derive backpropagation by hand", "zh": "能手推反向传播 (Backpropagation) 算法"},
    ),
    Item(
        "vanishing_gradients",
        _THEORY,
        {
            "en": "Understand vanishing/exploding gradients and their cures "
            "(ReLU, BatchNorm, ResNet)",
            "zh": "理解梯度消失/爆炸及其解决方案 (ReLU, BatchNorm, ResNet)",
        },
    ),
    Item(
        "conv_pool",
        _THEORY,
        {
            "en": "Know the arithmetic of convolution and pooling",
            "zh": "掌握卷积 (Convolution) 和池化 (Pooling) 的计算细节",
        },
    ),
    Item(
        "attention",
        _THEORY,
        {
            "en": "Understand the mathematics of attention",
            "zh": "理解注意力机制 (Attention) 的数学原理",
        },
    ),
    Item(
        "tensor_ops",
        _FRAMEWORK,
        {"en": "Use PyTorch Tensor operations fluently", "zh": "熟练使用 PyTorch 的 Tensor 操作"},
    ),
    Item(
        "custom_module",
        _FRAMEWORK,
        {
            "en": "Build complex networks as a custom nn.Module",
            "zh": "能自定义 nn.Module 构建复杂网络",
        },
    ),
    Item(
        "dataloader",
        _FRAMEWORK,
        {
            "en": "Load a custom Dataset with DataLoader",
            "zh": "熟练使用 DataLoader 加载自定义数据集",
        },
    ),
    Item(
        "training_loop",
        _FRAMEWORK,
        {"en": "Write a complete training loop", "zh": "能编写完整的训练循环 (Training Loop)"},
    ),
    Item(
        "resnet_vgg",
        _ARCHITECTURES,
        {"en": "CNN: reproduce ResNet or VGG", "zh": "CNN：能复现 ResNet 或 VGG"},
    ),
    Item(
        "lstm_timeseries",
        _ARCHITECTURES,
        {"en": "RNN: use an LSTM on a time series", "zh": "RNN：能使用 LSTM 处理时间序列"},
    ),
    Item(
        "transformer",
        _ARCHITECTURES,
        {
            "en": "Transformer: understand the encoder/decoder structure",
            "zh": "Transformer：理解 Encoder/Decoder 结构",
        },
    ),
    Item(
        "loss_curves",
        _DEBUGGING,
        {"en": "Read loss curves and tune from them", "zh": "能看懂 Loss 曲线并进行调优"},
    ),
    Item(
        "overfitting",
        _DEBUGGING,
        {
            "en": "Handle overfitting (Dropout, Weight Decay, Data Augmentation)",
            "zh": "掌握过拟合处理 (Dropout, Weight Decay, Data Augmentation)",
        },
    ),
    Item(
        "checkpoints",
        _DEBUGGING,
        {"en": "Save and load model checkpoints", "zh": "能够保存和加载模型检查点 (Checkpoint)"},
    ),
)

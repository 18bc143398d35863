"""The stage's acceptance checklist (验收标准): 14 items in four sections.

Every exercise in `catalog.py` names the item it proves; `dllab progress` prints this list with
the exercises behind each item and their status, what the learner can do once it is done
(`can`), and the project runs that show the skill at work (`runs`: recipe-name prefixes).
"""

from __future__ import annotations

from dataclasses import dataclass

from dllab.lab.checks import Text


@dataclass(frozen=True)
class Item:
    key: str  # what `catalog.py` refers to
    section: Text  # heading it is printed under
    title: Text  # the checklist line, as the stage's syllabus words it
    can: Text  # in plain words, what the learner can do once the item is done
    runs: tuple[str, ...] = ()  # recipes (name prefixes) whose finished run puts it to work


_THEORY = {"en": "Theory", "zh": "理论基础"}
_FRAMEWORK = {"en": "Framework skills", "zh": "框架能力"}
_ARCHITECTURES = {"en": "Model architectures", "zh": "模型架构"}
_DEBUGGING = {"en": "Debugging and tuning", "zh": "调试与优化"}

ITEMS: tuple[Item, ...] = (
    Item(
        "backprop",
        _THEORY,
        {"en": "Derive backpropagation by hand", "zh": "能手推反向传播 (Backpropagation) 算法"},
        {
            "en": "You can work out every gradient of a small network on paper and check it against autograd.",
            "zh": "你能在纸上推出小型网络的每个梯度，并用自动求导核对。",
        },
    ),
    Item(
        "vanishing_gradients",
        _THEORY,
        {
            "en": "Understand vanishing/exploding gradients and their cures "
            "(ReLU, BatchNorm, ResNet)",
            "zh": "理解梯度消失/爆炸及其解决方案 (ReLU, BatchNorm, ResNet)",
        },
        {
            "en": "You can tell from per-layer gradient norms why a deep net stops learning, and fix it.",
            "zh": "你能从逐层梯度范数看出深层网络为何学不动，并加以修正。",
        },
    ),
    Item(
        "conv_pool",
        _THEORY,
        {
            "en": "Know the arithmetic of convolution and pooling",
            "zh": "掌握卷积 (Convolution) 和池化 (Pooling) 的计算细节",
        },
        {
            "en": "You can compute what a convolution or pooling layer outputs, its shape and its cost.",
            "zh": "你能算出卷积层或池化层的输出、形状和计算量。",
        },
    ),
    Item(
        "attention",
        _THEORY,
        {
            "en": "Understand the mathematics of attention",
            "zh": "理解注意力机制 (Attention) 的数学原理",
        },
        {
            "en": "You can write attention from its formula, stable for any scores, masks included.",
            "zh": "你能按公式写出注意力（含掩码），对任何分数都数值稳定。",
        },
    ),
    Item(
        "tensor_ops",
        _FRAMEWORK,
        {"en": "Use PyTorch Tensor operations fluently", "zh": "熟练使用 PyTorch 的 Tensor 操作"},
        {
            "en": "You can reshape, index and broadcast tensors without loops.",
            "zh": "你能不写循环地对张量做变形、索引和广播。",
        },
    ),
    Item(
        "custom_module",
        _FRAMEWORK,
        {
            "en": "Build complex networks as a custom nn.Module",
            "zh": "能自定义 nn.Module 构建复杂网络",
        },
        {
            "en": "You can write your own nn.Module and compose it into larger networks.",
            "zh": "你能写出自己的 nn.Module，并组合成更大的网络。",
        },
    ),
    Item(
        "dataloader",
        _FRAMEWORK,
        {
            "en": "Load a custom Dataset with DataLoader",
            "zh": "熟练使用 DataLoader 加载自定义数据集",
        },
        {
            "en": "You can turn your own data into a Dataset and feed it in batches.",
            "zh": "你能把自己的数据做成 Dataset 并按批次送入模型。",
        },
    ),
    Item(
        "training_loop",
        _FRAMEWORK,
        {"en": "Write a complete training loop", "zh": "能编写完整的训练循环 (Training Loop)"},
        {
            "en": "You can train a model end to end with a loop you wrote yourself.",
            "zh": "你能用自己写的训练循环把模型从头训练到尾。",
        },
        runs=("quickstart",),
    ),
    Item(
        "resnet_vgg",
        _ARCHITECTURES,
        {"en": "CNN: reproduce ResNet or VGG", "zh": "CNN：能复现 ResNet 或 VGG"},
        {
            "en": "You can build a residual network and train it on real images.",
            "zh": "你能搭建残差网络并在真实图像上训练。",
        },
        runs=("cifar10-resnet", "fashion-mnist"),
    ),
    Item(
        "lstm_timeseries",
        _ARCHITECTURES,
        {"en": "RNN: use an LSTM on a time series", "zh": "RNN：能使用 LSTM 处理时间序列"},
        {
            "en": "You can forecast a time series with an LSTM and beat a naive baseline.",
            "zh": "你能用 LSTM 预测时间序列，并胜过朴素基线。",
        },
        runs=("sunspots-lstm", "co2-lstm"),
    ),
    Item(
        "transformer",
        _ARCHITECTURES,
        {
            "en": "Transformer: understand the encoder/decoder structure",
            "zh": "Transformer：理解 Encoder/Decoder 结构",
        },
        {
            "en": "You can explain and assemble a Transformer encoder and decoder.",
            "zh": "你能讲清并搭建 Transformer 的编码器与解码器。",
        },
        runs=("translate-en-zh", "gpt-", "mlm-"),
    ),
    Item(
        "loss_curves",
        _DEBUGGING,
        {"en": "Read loss curves and tune from them", "zh": "能看懂 Loss 曲线并进行调优"},
        {
            "en": "You can read a run's loss curves and say what to change next.",
            "zh": "你能读懂一次训练的 Loss 曲线，并判断下一步该改什么。",
        },
    ),
    Item(
        "overfitting",
        _DEBUGGING,
        {
            "en": "Handle overfitting (Dropout, Weight Decay, Data Augmentation)",
            "zh": "掌握过拟合处理 (Dropout, Weight Decay, Data Augmentation)",
        },
        {
            "en": "You can spot overfitting and reduce it with dropout, weight decay and augmentation.",
            "zh": "你能发现过拟合，并用 Dropout、权重衰减和数据增强加以缓解。",
        },
        runs=("fashion-mnist",),
    ),
    Item(
        "checkpoints",
        _DEBUGGING,
        {"en": "Save and load model checkpoints", "zh": "能够保存和加载模型检查点 (Checkpoint)"},
        {
            "en": "You can save a model mid-training and resume it exactly.",
            "zh": "你能在训练中途保存模型，并准确地恢复训练。",
        },
    ),
)

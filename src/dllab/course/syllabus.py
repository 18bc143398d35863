"""The stage in teaching order: page 000's modules and page 001's projects, and what goes where.

Modules are numbered as on page 000 of the course (01 neural-network basics … 06 projects),
then page 002's generative models (07) and reinforcement learning (08);
a module's lessons are the files `lessons/NN-*.py` (found, not listed here: `lessons.py`).
Projects P01–P07 sit where page 001's learning path puts them: P01 and P02 after the CNN
module, P06 and P07 after the Transformer module, and the other three (P03–P05) at the end as
electives ("选做其他 3 个项目"). A project is built once a recipe with one of its prefixes ships.

What this file decides, as data: which module each exercise belongs to (by the checklist item
it proves, `ITEM_MODULE`, unless `EXERCISE_MODULE` says otherwise) and which stage each recipe
belongs to (`Runs.prefixes`; the longest matching prefix wins, so `fashion-mnist-vit` can sit
under Transformers while `fashion-mnist` is a project of module 06).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from dllab.course.errors import CourseError
from dllab.lab.checks import Text, text


@dataclass(frozen=True)
class Runs:
    """Recipes that do one piece of a stage's practical work: a finished run of any one does it."""

    title: Text  # what the runs are, e.g. "image classification"
    prefixes: tuple[str, ...]  # recipe names starting with one of these; the first is suggested


@dataclass(frozen=True)
class Stage:
    key: str  # "01" … "06" (page 000's modules) or "P01" … "P07" (page 001's projects)
    title: Text
    about: Text  # what it covers, as the course page lists it
    runs: tuple[Runs, ...] = ()  # practical work; projects are built once one recipe exists
    has_lessons: bool = False  # a module taught by lessons/NN-*.py (01–06)
    elective: bool = False  # page 001's "选做": `course next` suggests it after the rest

    @property
    def is_project(self) -> bool:
        return self.key.startswith("P")


def _runs(en: str, zh: str, *prefixes: str) -> Runs:
    return Runs(text(en, zh), prefixes)


def _module(key: str, title: Text, about: Text, *runs: Runs) -> Stage:
    return Stage(key, title, about, runs, has_lessons=True)


def _project(key: str, title: Text, about: Text, *prefixes: str, elective: bool = False) -> Stage:
    return Stage(key, title, about, (Runs(title, prefixes),), elective=elective)


STAGES: tuple[Stage, ...] = (
    _module(
        "01",
        text("Neural-network basics", "神经网络基础"),
        text(
            "perceptron, MLP, backpropagation, activation functions",
            "感知机、MLP、反向传播、激活函数",
        ),
    ),  # fmt: skip
    _module(
        "02",
        text("PyTorch basics", "PyTorch基础"),
        text("Tensor, autograd, nn.Module, DataLoader", "Tensor、自动求导、nn.Module、DataLoader"),
        _runs("a first training run", "第一次训练", "quickstart"),
    ),
    _module(
        "03",
        text("Convolutional networks", "卷积神经网络"),
        text("convolution, pooling, ResNet, transfer learning", "卷积层、池化、ResNet、迁移学习"),
        _runs(
            "a CNN trained on images",
            "在图像上训练一个 CNN",
            "cifar10-",
            "fashion-mnist-probe",
            "fashion-mnist-finetune",
            "fashion-mnist-scratch",
        ),
    ),  # fmt: skip
    _project(
        "P01",
        text("Industrial visual inspection", "工业视觉检测"),
        text("CNN + transfer learning", "CNN + 迁移学习"),
        "defects-",
    ),
    _project(
        "P02",
        text("Real-time video detection (YOLO)", "基于YOLOv11的视频实时检测系统"),
        text("YOLO + real-time inference", "YOLO + 实时推理"),
        "detection-",
    ),
    _module(
        "04",
        text("Recurrent networks", "循环神经网络"),
        text("RNN, LSTM, GRU, sequence prediction", "RNN、LSTM、GRU、序列预测"),
        _runs("a sequence model trained", "训练一个序列模型", "sunspots-", "co2-", "skipgram-"),
    ),
    _module(
        "05",
        text("Transformer", "Transformer"),
        text("attention, BERT, GPT", "Attention机制、BERT、GPT"),
        _runs("a Transformer trained", "训练一个 Transformer", "gpt-", "mlm-", "fashion-mnist-vit"),
    ),  # fmt: skip
    _project(
        "P06",
        text("Transformer translation", "基于Transformer的翻译系统"),
        text("Transformer + BPE", "Transformer + BPE"),
        "translate-",
    ),
    _project(
        "P07",
        text("Information extraction with pretrained models", "基于预训练模型的信息提取系统"),
        text("BERT + NER/RE", "BERT + NER/RE"),
        "ner-",
        "ie-",
    ),
    _module(
        "06",
        text("Projects", "综合项目"),
        text(
            "image classification, text sentiment; deployment", "图像分类、文本情感分析；模型部署"
        ),
        _runs("image classification", "图像分类", "fashion-mnist"),
        _runs("text sentiment", "文本情感分析", "sentiment-"),
    ),
    _project(
        "P03",
        text("OCR of receipts", "OCR票据识别"),
        text("text detection and recognition + post-processing", "文字检测与识别 + 后处理"),
        "ocr-",
        elective=True,
    ),
    _project(
        "P04",
        text("Road-scene segmentation", "自动驾驶场景图像分割"),
        text("U-Net + DeepLab", "U-Net + DeepLab"),
        "segmentation-",
        elective=True,
    ),
    _project(
        "P05",
        text("Medical image analysis", "医学影像分析"),
        text("3D CNN + MONAI", "3D CNN + MONAI"),
        "medical-",
        elective=True,
    ),
    # Page 002's chapters beyond page 000's modules: generative models and reinforcement
    # learning, after the projects (page 002 lists them under advanced topics).
    _module(
        "07",
        text("Generative models", "生成模型"),
        text(
            "GAN, DCGAN, WGAN, VAE, diffusion, style transfer",
            "GAN、DCGAN、WGAN、VAE、扩散模型、风格迁移",
        ),
        _runs("a generative model trained", "训练一个生成模型", "gan-", "vae-", "ddpm-"),
    ),
    _module(
        "08",
        text("Reinforcement learning", "强化学习"),
        text(
            "MDPs, Q-learning and DQN, policy gradients and actor-critic",
            "马尔可夫决策过程、Q-Learning与深度Q网络、策略梯度与Actor-Critic",
        ),
        _runs("an agent trained", "训练一个智能体", "rl-"),
    ),
)

# The module where each checklist item is taught (page 000's 验收标准 against its modules).
ITEM_MODULE = {
    "backprop": "01",
    "vanishing_gradients": "01",
    "loss_curves": "01",
    "overfitting": "01",
    "tensor_ops": "02",
    "custom_module": "02",
    "dataloader": "02",
    "training_loop": "02",
    "checkpoints": "02",
    "conv_pool": "03",
    "resnet_vgg": "03",
    "lstm_timeseries": "04",
    "attention": "05",
    "transformer": "05",
}
# Exercises taught somewhere other than their item's module.
EXERCISE_MODULE = {
    "viterbi": "05",  # the CRF lesson (05-06) teaches it, for NER
    "augmentation": "03",  # data augmentation is taught with the image models
    "dice_loss": "03",  # the segmentation lesson (03-10) teaches it; it proves backprop
    "quantize": "06",  # the deployment lesson (06-01) teaches them, with the projects
    "distillation_loss": "06",
    "gradient_penalty": "07",
    "reparam_kl": "07",
    "ddpm_step": "07",
    "value_iteration": "08",
    "q_learning_update": "08",
    "gae": "08",
    "ppo_clip_loss": "08",
}
ELSEWHERE = "06"  # an exercise or item nobody placed yet is shown with the projects

_BY_KEY = {s.key: s for s in STAGES}
assert len(_BY_KEY) == len(STAGES), "duplicate stage key"


def get_stage(key: str) -> Stage:
    """The module or project `key` ("03", "3", "p01", "P1"…); an unknown key lists them all."""
    wanted = key.strip().upper()
    if wanted.isdigit():
        wanted = wanted.zfill(2)
    elif wanted.startswith("P") and wanted[1:].isdigit():
        wanted = "P" + wanted[1:].zfill(2)
    if wanted in _BY_KEY:
        return _BY_KEY[wanted]
    close = difflib.get_close_matches(wanted, _BY_KEY, n=2, cutoff=0.5)
    also = f" (did you mean {', '.join(close)}?)" if close else ""
    raise CourseError(
        f"no module or project called {key!r}{also}; the course has modules 01-08 and "
        f"projects P01-P07: `dllab course` shows them"
    )


def exercise_module(name: str, item: str) -> str:
    """The module that teaches exercise `name` (which proves checklist item `item`)."""
    return EXERCISE_MODULE.get(name) or ITEM_MODULE.get(item, ELSEWHERE)


def place_recipe(name: str) -> tuple[Stage, Runs] | None:
    """Where recipe `name` belongs: the stage and runs group of its longest matching prefix."""
    best: tuple[int, Stage, Runs] | None = None
    for stage in STAGES:
        for runs in stage.runs:
            for prefix in runs.prefixes:
                if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), stage, runs)
    return None if best is None else best[1:]

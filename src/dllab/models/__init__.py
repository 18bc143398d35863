"""Model families, one per file, all built through `create_model(name, **kw)`.

Every image classifier takes a float batch `(B, C, H, W)` and returns logits `(B, classes)`;
builders are keyword-only: `num_classes`, `in_channels`, `image_size` (side of the square
input), plus family-specific options.
"""

from dllab.models.registry import MODELS, create_model, list_models, register_model

# Importing a family registers its variants.
from dllab.models import bert, cnn, crf, cyclegan, detection_reference, detector, diffusion, efficientnet_lite, fasttext, forecast, gan, gpt, medical, mlp, resnet, rnn, segmentation, seq2seq, skipgram, textcnn, transformer, unet, vae, vgg, vit  # noqa: E402, F401  isort: skip  # fmt: skip

__all__ = ["MODELS", "create_model", "list_models", "register_model"]

"""A 1-D fully convolutional net that scores every position of a signal as a peak centre."""

from torch import nn

from dllab.models.registry import register_model


@register_model("peak-net")
def peak_net(*, width: int = 16, layers: int = 3) -> nn.Module:
    blocks, c = [], 1
    for _ in range(layers):
        blocks += [nn.Conv1d(c, width, 5, padding=2), nn.ReLU()]
        c = width
    return PeakNet(nn.Sequential(*blocks, nn.Conv1d(c, 1, 1)))


class PeakNet(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, signal):  # (B, L) -> peak logits (B, L)
        return self.body(signal[:, None]).squeeze(1)

"""Grad-CAM against the class activation map it must equal on a pool-then-linear network."""

import torch
from torch import nn

from dllab.viz.gradcam import grad_cam


def _cam_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # the layer explained: A (B, 4, 8, 8)
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def test_grad_cam_equals_the_class_activation_map_by_hand():
    """y_c = sum_k w_ck mean(A_k) + b_c, so d y_c / d A_k = w_ck / 64 at every position and
    Grad-CAM = ReLU(sum_k w_ck A_k) / 64 (Zhou et al.'s CAM, scaled)."""
    net = _cam_net()
    x = torch.randn(2, 3, 8, 8)
    cam = grad_cam(net, x, net[0], target=torch.tensor([1, 2]), normalize=False)
    a = net[0](x).detach()
    w = net[3].weight.detach()
    maps = [torch.relu(torch.einsum("k,khw->hw", w[c], a[i])) / 64 for i, c in enumerate([1, 2])]
    expected = torch.stack(maps)
    assert cam.shape == (2, 8, 8)
    assert torch.allclose(cam, expected, atol=1e-6)


def test_default_target_is_the_predicted_class_and_maps_are_scaled_to_one():
    net = _cam_net()
    x = torch.randn(3, 3, 8, 8)
    predicted = net(x).argmax(1)
    cam = grad_cam(net, x, net[0])
    assert torch.allclose(cam, grad_cam(net, x, net[0], target=predicted))
    assert torch.allclose(cam.flatten(1).amax(1), torch.ones(3))
    assert all(p.grad is None for p in net.parameters())

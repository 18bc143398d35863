"""The exercises: names, the checklist item each proves, titles and hints, in English and Chinese.

Each exercise `NAME` has files beside this one: `skeletons/NAME.py` (what `dllab lab start`
writes), `solutions_data/NAME.dat` (the reference, encoded: see `vault.py`), `exercises/NAME.py`
(the grader, which generates cases at check time) and, when the learner's code makes objects,
`drivers/NAME.py` (the part of the check that runs beside the learner's code). This module imports neither torch nor the graders, so
`dllab lab list` and `hint` answer at once. It is long because it is content: a title and
three hints per exercise, each in two languages.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib import resources

from dllab.lab.checklist import ITEMS
from dllab.lab.checks import Text, text
from dllab.lab.errors import LabError


@dataclass(frozen=True)
class Exercise:
    name: str  # file names and the command line use it
    item: str  # key of the checklist item it proves (`checklist.ITEMS`)
    title: Text  # one line: what the learner writes
    hints: tuple[Text, ...]  # revealed one at a time, vaguest first
    n_cases: int = 6  # generated cases per check: enough shapes to catch an edge
    time_limit: float = 20.0  # seconds for the learner's code: loading it and all the cases

    @property
    def numpy_only(self) -> bool:
        """Written by hand in NumPy: the child refuses torch, so F.conv2d cannot do the work."""
        return self.name in NUMPY_BY_HAND


# Exercises whose point is to write the computation with NumPy alone (gradient_norms is not
# one: it may build its net in torch).
NUMPY_BY_HAND = frozenset(
    {"mlp_backprop", "softmax_xent", "batchnorm", "conv2d", "maxpool", "attention", "dropout",
     "weight_decay", "augmentation", "gru_cell", "lstm_cell", "viterbi", "beam_search",
     "loss_curves", "iou", "nms", "map50", "sgd_adam", "perceptron", "scalar_autograd",
     "pca_svd", "lr_schedules", "conv2d_backward", "rnn_bptt", "quantize",
     "distillation_loss", "conv_transpose", "miou_confusion", "dice_loss",
     "gradient_penalty", "reparam_kl", "ddpm_step", "value_iteration", "q_learning_update",
     "gae", "ppo_clip_loss"}
)  # fmt: skip


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "perceptron",
        "backprop",
        text(
            "The perceptron learning rule, equal to sklearn's Perceptron",
            "感知机学习规则，结果与 sklearn 的 Perceptron 一致",
        ),
        (
            text(
                "A mistake is y * (w @ x + b) <= 0: the wrong side of the boundary, or on it. "
                "Only then do w and b change.",
                "出错的条件是 y * (w @ x + b) <= 0：在边界错误的一侧，或者就在边界上。"
                "只有这时 w 和 b 才改变。",
            ),
            text(
                "The update w += lr * y * x turns w towards x when y = +1 and away when "
                "y = -1; b += lr * y does the same for the bias.",
                "更新 w += lr * y * x 在 y = +1 时把 w 转向 x，y = -1 时转离 x；"
                "b += lr * y 对偏置做同样的事。",
            ),
            text(
                "Visit the samples in their given order (no shuffling) and count the updates "
                "of each epoch; on separable data the count reaches 0.",
                "按给定顺序访问样本（不打乱），并统计每轮的更新次数；在线性可分的数据上它最终"
                "会变为 0。",
            ),
        ),
    ),
    Exercise(
        "mlp_backprop",
        "backprop",
        text(
            "Forward and backward pass of a 2-layer ReLU MLP in NumPy",
            "用 NumPy 手写两层 ReLU MLP 的前向与反向传播",
        ),
        (
            text(
                "Keep what the forward pass computes (z1, h, y_hat): the backward pass needs it.",
                "保存前向传播的中间结果（z1、h、y_hat）：反向传播要用。",
            ),
            text(
                "dL/dy_hat = 2 * (y_hat - y) / y.size, because the loss is a mean over N * O "
                "numbers. For y = h @ W.T + b: dL/dW = dL/dy.T @ h, dL/db = dL/dy.sum(0), "
                "dL/dh = dL/dy @ W.",
                "dL/dy_hat = 2 * (y_hat - y) / y.size，因为损失是 N * O 个数的平均。"
                "对 y = h @ W.T + b：dL/dW = dL/dy.T @ h，dL/db = dL/dy.sum(0)，dL/dh = dL/dy @ W。"
                "",
            ),
            text(
                "The ReLU passes the gradient where its input was positive and blocks it "
                "elsewhere: dL/dz1 = dL/dh * (z1 > 0).",
                "ReLU 在输入为正处让梯度通过，其余处截断：dL/dz1 = dL/dh * (z1 > 0)。",
            ),
        ),
    ),
    Exercise(
        "softmax_xent",
        "backprop",
        text(
            "Softmax cross-entropy and its gradient, numerically stable",
            "数值稳定的 softmax 交叉熵及其梯度",
        ),
        (
            text(
                "log softmax(z)_k = z_k - log(sum_j exp(z_j)). Subtract each row's max first: "
                "the result is the same and exp can no longer overflow.",
                "log softmax(z)_k = z_k - log(sum_j exp(z_j))。先减去每行的最大值："
                "结果不变，而 exp 不会再溢出。",
            ),
            text(
                "Pick each row's target with fancy indexing: logp[np.arange(N), targets].",
                "用花式索引取出每行目标类：logp[np.arange(N), targets]。",
            ),
            text(
                "The gradient is (softmax(z) - one_hot(targets)) / N: N because the loss is a "
                "mean over the batch.",
                "梯度是 (softmax(z) - one_hot(targets)) / N：除以 N 是因为损失是 batch 上的平均。",
            ),
        ),
    ),
    Exercise(
        "scalar_autograd",
        "backprop",
        text(
            "A scalar autograd engine (micrograd): Value with +, *, **, tanh, exp and backward",
            "标量自动求导引擎（micrograd）：支持 +、*、**、tanh、exp 和 backward 的 Value",
        ),
        (
            text(
                "Each operation builds out = Value(result, (self, other)) and gives it a "
                "closure out._backward that adds out.grad times the local derivative to each "
                "input: d(a + b)/da = 1, d(a * b)/da = b.data. Wrap a plain number in a Value "
                "first; __radd__ and __rmul__ can return self + other and self * other.",
                "每个运算构造 out = Value(result, (self, other))，并给它一个闭包 out._backward，"
                "把 out.grad 乘以局部导数加到每个输入上：d(a + b)/da = 1，d(a * b)/da = b.data。"
                "普通数字先包装成 Value；__radd__ 和 __rmul__ 可以直接返回 self + other 和 "
                "self * other。",
            ),
            text(
                "Always +=, never =: in a * a or a + a the same node is both inputs, and a node "
                "used by two later nodes receives a share from each. backward() sets "
                "self.grad = 1.0, then runs _backward in reverse topological order: a DFS that "
                "appends a node after visiting its _prev, with a `seen` set so each runs once.",
                "永远用 +=，不要用 =：在 a * a 或 a + a 里同一个节点同时是两个输入，被两个后续节点"
                "使用的节点会从每个节点各得到一份。backward() 先设 self.grad = 1.0，再按拓扑序的"
                "逆序调用 _backward：深度优先搜索在访问完 _prev 之后才把节点加入列表，并用 `seen` "
                "集合保证每个节点只运行一次。",
            ),
            text(
                "Local derivatives: d tanh(x)/dx = 1 - tanh(x)**2 (keep t = math.tanh(x)), "
                "d exp(x)/dx = exp(x), d x**k/dx = k * x**(k - 1).",
                "局部导数：d tanh(x)/dx = 1 - tanh(x)**2（保存 t = math.tanh(x)），"
                "d exp(x)/dx = exp(x)，d x**k/dx = k * x**(k - 1)。",
            ),
        ),
    ),
    Exercise(
        "pca_svd",
        "backprop",
        text(
            "PCA through the SVD in NumPy, equal to sklearn's PCA",
            "用 NumPy 通过 SVD 实现 PCA，结果与 sklearn 的 PCA 一致",
        ),
        (
            text(
                "Centre first: Xc = X - X.mean(axis=0). Then U, S, Vt = np.linalg.svd(Xc, "
                "full_matrices=False); the principal components are the first k ROWS of Vt, "
                "already sorted by S.",
                "先中心化：Xc = X - X.mean(axis=0)。再 U, S, Vt = np.linalg.svd(Xc, "
                "full_matrices=False)；主成分是 Vt 的前 k 行，已按 S 从大到小排好。",
            ),
            text(
                "The variance along component i is S[i]**2 / (N - 1) (Xc.T @ Xc / (N - 1) is "
                "the covariance matrix and Vt diagonalises it). The ratio divides by the sum "
                "over ALL components, before keeping k.",
                "沿第 i 个成分的方差是 S[i]**2 / (N - 1)（Xc.T @ Xc / (N - 1) 是协方差矩阵，"
                "Vt 把它对角化）。比例要除以所有成分方差之和，在只保留 k 个之前计算。",
            ),
            text(
                "Projection: (X - mean) @ components.T. A component's sign is arbitrary (v and "
                "-v span the same axis), so the grader compares each one up to its sign.",
                "投影：(X - mean) @ components.T。成分的符号是任意的（v 和 -v 是同一条轴），"
                "所以评分器对每个成分都允许相差一个符号。",
            ),
        ),
    ),
    Exercise(
        "distillation_loss",
        "backprop",
        text(
            "Knowledge distillation: Hinton's loss and its gradient in NumPy, equal to torch's",
            "知识蒸馏：用 NumPy 写 Hinton 的蒸馏损失及其梯度，结果与 torch 一致",
        ),
        (
            text(
                "Soften BOTH with the same T: p_s = softmax(s / T), p_t = softmax(t / T), each "
                "through a log-softmax with the row max subtracted. KL(p_t || p_s) = sum over "
                "classes of p_t * (log p_t - log p_s), summed over the batch and divided by N "
                "(batchmean).",
                "学生和教师都用同一个 T 软化：p_s = softmax(s / T)，p_t = softmax(t / T)，"
                "都通过减去行最大值的 log-softmax 计算。KL(p_t || p_s) = 对类别求和 "
                "p_t * (log p_t - log p_s)，再对 batch 求和并除以 N（batchmean）。",
            ),
            text(
                "loss = alpha * T**2 * KL + (1 - alpha) * CE, where CE is the ordinary "
                "cross-entropy of the plain logits s with the labels. T**2 keeps the soft "
                "term's gradients as large as the hard term's whatever T is.",
                "loss = alpha * T**2 * KL + (1 - alpha) * CE，其中 CE 是原始 logits s 与标签的"
                "普通交叉熵。T**2 使软目标项的梯度无论 T 取多少都与硬目标项同一量级。",
            ),
            text(
                "Gradient: d(T**2 * KL)/ds = T * (p_s - p_t) / N (the chain rule through s / T "
                "gives 1/T) and dCE/ds = (softmax(s) - one_hot(labels)) / N; weight them by "
                "alpha and 1 - alpha.",
                "梯度：d(T**2 * KL)/ds = T * (p_s - p_t) / N（经过 s / T 的链式法则带来 1/T），"
                "dCE/ds = (softmax(s) - one_hot(labels)) / N；再分别乘以 alpha 和 1 - alpha。",
            ),
        ),
    ),
    Exercise(
        "dice_loss",
        "backprop",
        text(
            "Soft Dice loss for segmentation and its gradient in NumPy, equal to MONAI's",
            "用 NumPy 写分割用的软 Dice 损失及其梯度，结果与 MONAI 一致",
        ),
        (
            text(
                "p = softmax(logits) over axis 1 (subtract the max first); the one-hot target "
                "is np.moveaxis(np.eye(C)[target], -1, 1). inter = (p * g).sum((2, 3)) and "
                "denom = p.sum((2, 3)) + g.sum((2, 3)), both (N, C).",
                "p = 对 axis 1 做 softmax（先减去最大值）；one-hot 目标是 "
                "np.moveaxis(np.eye(C)[target], -1, 1)。inter = (p * g).sum((2, 3))，"
                "denom = p.sum((2, 3)) + g.sum((2, 3))，二者形状都是 (N, C)。",
            ),
            text(
                "loss = mean of 1 - (2 * inter + s) / (denom + s) over all N * C entries. By "
                "the quotient rule, dL/dp = -(2 * g * (denom + s) - (2 * inter + s)) / "
                "(denom + s)**2 / (N * C), broadcast over the pixels.",
                "loss = 对全部 N * C 项的 1 - (2 * inter + s) / (denom + s) 取平均。由商的求导"
                "法则，dL/dp = -(2 * g * (denom + s) - (2 * inter + s)) / (denom + s)**2 / "
                "(N * C)，在像素上广播。",
            ),
            text(
                "Back through the softmax, pixel by pixel: dlogits = p * (dp - (p * dp).sum("
                "axis=1, keepdims=True)). Every probability depends on every logit of its "
                "pixel, so the diagonal p * (1 - p) alone is wrong.",
                "逐像素穿过 softmax 反传：dlogits = p * (dp - (p * dp).sum(axis=1, "
                "keepdims=True))。每个概率都依赖于该像素的所有 logits，只用对角项 p * (1 - p) "
                "是错的。",
            ),
        ),
    ),
    Exercise(
        "gradient_norms",
        "vanishing_gradients",
        text(
            "Per-layer gradient norms of a deep sigmoid net: which layers vanish?",
            "深层 sigmoid 网络逐层梯度范数：哪些层梯度消失了？",
        ),
        (
            text(
                "You may build the net in torch and call loss.backward(), or backpropagate by "
                "hand in NumPy; either way, read W.grad layer by layer.",
                "可以用 torch 搭网络再调用 loss.backward()，也可以用 NumPy 手写反向传播；"
                "然后逐层读取 W 的梯度。",
            ),
            text(
                "The norm is the Frobenius norm: np.linalg.norm(grad) or grad.norm(). The first "
                "layer (next to the input) comes first in the list.",
                "范数用 Frobenius 范数：np.linalg.norm(grad) 或 grad.norm()。列表第一个是"
                "最靠近输入的那一层。",
            ),
            text(
                "sigmoid'(z) = s(1 - s) <= 0.25, so each sigmoid layer can shrink the gradient "
                "by 4x or more: the layers near the input are the ones that vanish.",
                "sigmoid'(z) = s(1 - s) <= 0.25，每经过一层 sigmoid 梯度至少缩小 4 倍："
                "靠近输入的层最先消失。",
            ),
        ),
    ),
    Exercise(
        "batchnorm",
        "vanishing_gradients",
        text(
            "BatchNorm forward (train and eval) and backward in NumPy",
            "用 NumPy 实现 BatchNorm 的前向（训练与评估模式）和反向",
        ),
        (
            text(
                "Training: normalise with the batch's mean and biased variance (divide by N). "
                "Eval: use running_mean and running_var, and leave them unchanged.",
                "训练：用本 batch 的均值和有偏方差（除以 N）归一化。评估：用 running_mean 和 "
                "running_var，并且不更新它们。",
            ),
            text(
                "PyTorch updates the running variance with the UNBIASED batch variance "
                "(divide by N - 1): running = (1 - momentum) * running + momentum * batch.",
                "PyTorch 用无偏的 batch 方差（除以 N - 1）更新 running_var："
                "running = (1 - momentum) * running + momentum * batch。",
            ),
            text(
                "Backward: with x_hat = (x - mean) / std, dbeta = dout.sum(0), dgamma = (dout * "
                "x_hat).sum(0) and, with g = dout * gamma, "
                "dx = (g - g.mean(0) - x_hat * (g * x_hat).mean(0)) / std.",
                "反向：x_hat = (x - mean) / std，dbeta = dout.sum(0)，dgamma = (dout * x_hat)."
                "sum(0)，dx = (g - g.mean(0) - x_hat * (g * x_hat).mean(0)) / std，其中 "
                "g = dout * gamma。",
            ),
        ),
    ),
    Exercise(
        "conv2d",
        "conv_pool",
        text(
            "Convolution: output size, im2col and conv2d with stride and padding",
            "卷积：输出尺寸公式、im2col 以及带步长和填充的 conv2d",
        ),
        (
            text(
                "Output size = floor((size + 2 * padding - kernel_size) / stride) + 1: count "
                "where the window's top-left corner can go.",
                "输出尺寸 = floor((size + 2 * padding - kernel_size) / stride) + 1：数一数窗口"
                "左上角能放在几个位置。",
            ),
            text(
                "im2col: pad with np.pad, then for every (i, j) inside the kernel take the "
                "strided slice x[:, :, i : i + stride * H_out : stride, j : ...]; row c * kh * kw "
                "+ i * kw + j of the result holds channel c at kernel offset (i, j).",
                "im2col：先用 np.pad 填充，再对卷积核内的每个 (i, j) 取带步长的切片 "
                "x[:, :, i : i + stride * H_out : stride, j : ...]；结果的第 c * kh * kw + i * kw "
                "+ j 行是通道 c 在核内偏移 (i, j) 处的值。",
            ),
            text(
                "conv2d is one matrix product: weight.reshape(O, -1) @ cols gives (N, O, L); "
                "add the bias, reshape to (N, O, H_out, W_out). No kernel flip: deep learning's "
                "convolution is a cross-correlation.",
                "conv2d 就是一次矩阵乘法：weight.reshape(O, -1) @ cols 得到 (N, O, L)；加上偏置，"
                "reshape 成 (N, O, H_out, W_out)。不翻转卷积核：深度学习中的卷积其实是互相关。",
            ),
        ),
    ),
    Exercise(
        "conv2d_backward",
        "conv_pool",
        text(
            "The backward pass of conv2d (dx, dw, db) with stride and padding, in NumPy",
            "用 NumPy 实现带步长和填充的 conv2d 反向传播（dx、dw、db）",
        ),
        (
            text(
                "db sums dout over everything but the output channel: dout.sum(axis=(0, 2, 3)). "
                "Work on the padded input xp and a zero dxp of its shape; crop dxp at the end.",
                "db 对 dout 除输出通道以外的轴求和：dout.sum(axis=(0, 2, 3))。在填充后的输入 xp "
                "和同形状的全零 dxp 上计算，最后再把 dxp 裁剪回来。",
            ),
            text(
                "For each kernel offset (i, j), the slice win = xp[:, :, i : i + stride * H_out "
                ": stride, j : j + stride * W_out : stride] is what w[:, :, i, j] met: "
                "dw[:, :, i, j] = np.einsum('nohw,nchw->oc', dout, win).",
                "对每个卷积核偏移 (i, j)，切片 win = xp[:, :, i : i + stride * H_out : stride, "
                "j : j + stride * W_out : stride] 就是 w[:, :, i, j] 乘过的输入："
                "dw[:, :, i, j] = np.einsum('nohw,nchw->oc', dout, win)。",
            ),
            text(
                "The same slice of dxp receives np.einsum('nohw,oc->nchw', dout, w[:, :, i, j]) "
                "with += : overlapping windows add up. Then dx = dxp[:, :, p : p + H, p : p + W].",
                "dxp 的同一个切片用 += 加上 np.einsum('nohw,oc->nchw', dout, w[:, :, i, j])："
                "重叠的窗口要累加。最后 dx = dxp[:, :, p : p + H, p : p + W]。",
            ),
        ),
    ),
    Exercise(
        "maxpool",
        "conv_pool",
        text(
            "Max pooling forward and backward (overlapping windows too)",
            "最大池化的前向与反向（包括重叠窗口）",
        ),
        (
            text(
                "Loop over the kernel offsets (i, j), not over pixels: each offset gives a "
                "strided view of shape (N, C, H_out, W_out); the max over offsets is the output.",
                "循环卷积核内的偏移 (i, j)，不要循环像素：每个偏移给出一个形状为 "
                "(N, C, H_out, W_out) 的带步长视图；对所有偏移取最大值就是输出。",
            ),
            text(
                "Backward: only the input that was the max of a window receives that window's "
                "gradient; the others receive 0.",
                "反向：只有窗口里取到最大值的那个输入得到该窗口的梯度，其余为 0。",
            ),
            text(
                "When windows overlap (stride < kernel_size), one input can be the max of "
                "several windows: add the gradients (+=), do not overwrite them. "
                "np.add.at helps.",
                "窗口重叠（stride < kernel_size）时，一个输入可能是多个窗口的最大值："
                "梯度要累加（+=），不能覆盖。可以用 np.add.at。",
            ),
        ),
    ),
    Exercise(
        "conv_transpose",
        "conv_pool",
        text(
            "Transposed convolution: its output size and values in NumPy, equal to torch's",
            "转置卷积：用 NumPy 求输出尺寸和输出值，结果与 torch 一致",
        ),
        (
            text(
                "size_out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) "
                "+ output_padding + 1: the copies of the kernel span (size - 1) * stride + "
                "dilation * (kernel_size - 1) + 1 pixels, padding crops each border, "
                "output_padding adds at the end.",
                "size_out = (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) "
                "+ output_padding + 1：卷积核的各个副本覆盖 (size - 1) * stride + dilation * "
                "(kernel_size - 1) + 1 个像素，padding 从每条边裁掉，output_padding 加在末尾。",
            ),
            text(
                "Scatter, do not gather: input pixel (y, x) adds x[:, :, y, x] times "
                "weight[:, :, i, j] at output (y * stride + i * dilation, x * stride + "
                "j * dilation). weight is (C_in, C_out, kh, kw): contract its FIRST axis with "
                "the input's channels, e.g. np.einsum('nchw,co->nohw', x, weight[:, :, i, j]).",
                "是散布而不是收集：输入像素 (y, x) 把 x[:, :, y, x] 乘以 weight[:, :, i, j] 加到"
                "输出的 (y * stride + i * dilation, x * stride + j * dilation)。weight 形状是 "
                "(C_in, C_out, kh, kw)：它的第一维与输入通道相乘求和，例如 "
                "np.einsum('nchw,co->nohw', x, weight[:, :, i, j])。",
            ),
            text(
                "For each (i, j) the target positions form one strided slice: "
                "canvas[:, :, i * d : i * d + stride * (H - 1) + 1 : stride, ...] += .... Make "
                "the canvas H_out + 2 * padding tall, then keep canvas[:, :, padding : padding "
                "+ H_out, padding : padding + W_out]. No kernel flip in this form.",
                "对每个 (i, j)，目标位置是一个带步长的切片："
                "canvas[:, :, i * d : i * d + stride * (H - 1) + 1 : stride, ...] += ...。"
                "画布高 H_out + 2 * padding，最后取 canvas[:, :, padding : padding + H_out, "
                "padding : padding + W_out]。这种写法不需要翻转卷积核。",
            ),
        ),
    ),
    Exercise(
        "attention",
        "attention",
        text(
            "Scaled dot-product attention with a mask, in NumPy",
            "用 NumPy 实现带掩码的缩放点积注意力",
        ),
        (
            text(
                "scores = q @ k^T / sqrt(d), where d is the size of q's last axis "
                "(Vaswani et al. 2017, eq. 1). Use swapaxes(-1, -2) so leading batch axes work.",
                "scores = q @ k^T / sqrt(d)，d 是 q 最后一维的大小（Vaswani 等 2017，公式 1）。"
                "用 swapaxes(-1, -2)，这样前面的 batch 维也能处理。",
            ),
            text(
                "Where mask is False set the score to -inf before the softmax: "
                "np.where(mask, scores, -np.inf). The softmax runs over the keys (last axis).",
                "在 softmax 之前把 mask 为 False 的位置设为 -inf：np.where(mask, scores, -np.inf)。"
                "softmax 对 key 维（最后一维）进行。",
            ),
            text(
                "Why 1/sqrt(d)? q . k is a sum of d products; with unit-variance entries its "
                "variance is d. Without the scale the softmax saturates and its gradient vanishes.",
                "为什么是 1/sqrt(d)？q . k 是 d 个乘积之和，各元素方差为 1 时它的方差是 d。"
                "不缩放的话 softmax 会饱和，梯度消失。",
            ),
        ),
    ),
    Exercise(
        "masked_mha",
        "attention",
        text(
            "Multi-head attention with padding and causal masks, equal to nn.MultiheadAttention",
            "带填充掩码与因果掩码的多头注意力，结果与 nn.MultiheadAttention 一致",
        ),
        (
            text(
                "in_proj_weight.chunk(3) gives W_q, W_k, W_v (and the bias likewise). Split "
                "each projection into heads: (B, L, d) -> (B, L, h, d / h) -> (B, h, L, d / h).",
                "in_proj_weight.chunk(3) 得到 W_q、W_k、W_v（偏置同理）。把每个投影拆成多头："
                "(B, L, d) -> (B, L, h, d / h) -> (B, h, L, d / h)。",
            ),
            text(
                "Build one bool `blocked` (B, 1, T, S): key_padding_mask[:, None, None, :] "
                "(True at padding) OR, if causal, torch.ones(T, S).triu(1) (the future). It "
                "broadcasts over the heads.",
                "构造一个 bool 的 `blocked` (B, 1, T, S)：key_padding_mask[:, None, None, :]"
                "（填充处为 True），如果 causal 再或上 torch.ones(T, S).triu(1)（未来）。"
                "它会在头的维度上广播。",
            ),
            text(
                "scores.masked_fill(blocked, float('-inf')) BEFORE the softmax: exp(-inf) = 0, "
                "and each row still sums to 1. Zeroing weights after the softmax does not.",
                "在 softmax 之前 scores.masked_fill(blocked, float('-inf'))：exp(-inf) = 0，"
                "每行之和仍为 1。softmax 之后再置零就不是了。",
            ),
        ),
    ),
    Exercise(
        "tensor_ops",
        "tensor_ops",
        text(
            "Tensor operations: broadcasting, gather, reshape/permute",
            "张量操作：广播、gather、reshape/permute",
        ),
        (
            text(
                "Broadcasting: a[:, None, :] - b[None, :, :] has shape (N, M, D).",
                "广播：a[:, None, :] - b[None, :, :] 的形状是 (N, M, D)。",
            ),
            text(
                "torch.gather(logits, 1, index[:, None]) picks one entry per row; squeeze it back "
                "to (N,). Fancy indexing logits[torch.arange(N), index] does the same.",
                "torch.gather(logits, 1, index[:, None]) 每行取一个元素，再 squeeze 回 (N,)。"
                "花式索引 logits[torch.arange(N), index] 效果相同。",
            ),
            text(
                "patchify: reshape to (B, C, H/p, p, W/p, p), permute to (B, H/p, W/p, C, p, p), "
                "then reshape to (B, H/p * W/p, C * p * p).",
                "patchify：先 reshape 成 (B, C, H/p, p, W/p, p)，permute 成 "
                "(B, H/p, W/p, C, p, p)，再 reshape 成 (B, H/p * W/p, C * p * p)。",
            ),
        ),
    ),
    Exercise(
        "quantize",
        "tensor_ops",
        text(
            "Affine int8/uint8 quantisation, per tensor and per channel, equal to torch's",
            "仿射 int8/uint8 量化（逐张量与逐通道），结果与 torch 一致",
        ),
        (
            text(
                "Widen the range to include 0: lo = min(x_min, 0), hi = max(x_max, 0). Then "
                "scale = (hi - lo) / (qmax - qmin), at least float32's eps, and zero_point = "
                "qmin - round(lo / scale), clamped to [qmin, qmax] and returned as an int.",
                "先把范围扩展到包含 0：lo = min(x_min, 0)，hi = max(x_max, 0)。再算 "
                "scale = (hi - lo) / (qmax - qmin)（不小于 float32 的 eps），"
                "zero_point = qmin - round(lo / scale)，截断到 [qmin, qmax] 并以 int 返回。",
            ),
            text(
                "q = clip(np.round(x / scale) + zero_point, qmin, qmax): np.round rounds halves "
                "to even like torch's nearbyint, and values beyond the range saturate. Back: "
                "(q - zero_point) * scale.",
                "q = clip(np.round(x / scale) + zero_point, qmin, qmax)：np.round 像 torch 的 "
                "nearbyint 一样把一半舍入到偶数，超出范围的值饱和。还原：(q - zero_point) * scale。",
            ),
            text(
                "Per channel: reduce with x.min(axis=others) where others are all axes but "
                "`axis`, and broadcast the (C,) parameters with reshape(shape) where shape is "
                "all 1 except -1 at `axis`.",
                "逐通道：用 x.min(axis=others) 归约，others 是除 `axis` 外的所有轴；把 (C,) 的参数 "
                "reshape 成除 `axis` 处为 -1 外全为 1 的形状再广播。",
            ),
        ),
    ),
    Exercise(
        "custom_module",
        "custom_module",
        text(
            "A custom nn.Module: residual MLP blocks in a ModuleList",
            "自定义 nn.Module：用 ModuleList 组织残差 MLP 块",
        ),
        (
            text(
                "Call super().__init__() first; then every nn.Module you assign to self.name "
                "is registered with its parameters.",
                "先调用 super().__init__()；之后赋给 self.name 的每个 nn.Module "
                "都会连同参数一起注册。",
            ),
            text(
                "A Python list of modules is invisible to PyTorch (no parameters, no .to(), no "
                "state_dict): use nn.ModuleList.",
                "普通 Python 列表里的模块对 PyTorch 不可见（没有参数、.to() 和 state_dict "
                "都不管它）："
                "请用 nn.ModuleList。",
            ),
            text(
                "The block is pre-norm: x + fc2(relu(fc1(norm(x)))). The names norm, fc1, fc2, "
                "embed, blocks and head matter: the grader loads weights by name.",
                "这个块是 pre-norm：x + fc2(relu(fc1(norm(x))))。名字 norm、fc1、fc2、embed、"
                "blocks、head 都要一致：评分器按名字加载权重。",
            ),
        ),
    ),
    Exercise(
        "window_dataset",
        "dataloader",
        text(
            "A custom Dataset of sliding windows and a reproducible DataLoader",
            "自定义滑动窗口 Dataset 与可复现的 DataLoader",
        ),
        (
            text(
                "A series of length L has L - window (input, target) pairs: the input of item i "
                "is series[i : i + window], its target series[i + window].",
                "长度为 L 的序列有 L - window 个（输入，目标）对：第 i 项的输入是 "
                "series[i : i + window]，目标是 series[i + window]。",
            ),
            text(
                "Return float32 tensors: torch.as_tensor(..., dtype=torch.float32). The default "
                "collate_fn stacks them into (B, window) and (B,).",
                "返回 float32 张量：torch.as_tensor(..., dtype=torch.float32)。默认的 collate_fn "
                "会把它们堆叠成 (B, window) 和 (B,)。",
            ),
            text(
                "Reproducible shuffling: DataLoader(..., shuffle=shuffle, "
                "generator=torch.Generator().manual_seed(seed)).",
                "可复现的打乱：DataLoader(..., shuffle=shuffle, "
                "generator=torch.Generator().manual_seed(seed))。",
            ),
        ),
    ),
    Exercise(
        "training_loop",
        "training_loop",
        text(
            "A complete training loop: train_epoch, evaluate and fit",
            "完整的训练循环：train_epoch、evaluate 与 fit",
        ),
        (
            text(
                "Each step: optimizer.zero_grad(), loss = loss_fn(model(x), y), loss.backward(), "
                "optimizer.step(). Without zero_grad the gradients of all steps add up.",
                "每一步：optimizer.zero_grad()，loss = loss_fn(model(x), y)，loss.backward()，"
                "optimizer.step()。不调用 zero_grad 的话，所有步的梯度会累加起来。",
            ),
            text(
                "model.train() at the start of train_epoch, model.eval() and torch.no_grad() in "
                "evaluate: dropout and BatchNorm behave differently in the two modes.",
                "train_epoch 开头调用 model.train()，evaluate 中用 model.eval() 和 "
                "torch.no_grad()：dropout 和 BatchNorm 在两种模式下行为不同。",
            ),
            text(
                "The mean loss is over samples: add loss.item() * len(x) per batch and divide "
                "by the number of samples, since the last batch may be smaller.",
                "平均损失按样本计算：每个 batch 累加 loss.item() * len(x)，最后除以样本总数，"
                "因为最后一个 batch 可能更小。",
            ),
        ),
    ),
    Exercise(
        "sgd_adam",
        "training_loop",
        text(
            "SGD with momentum and Adam from scratch, step for step equal to torch.optim",
            "从零实现带动量的 SGD 与 Adam，每一步都与 torch.optim 一致",
        ),
        (
            text(
                "Momentum keeps a running sum of gradients: buf = momentum * buf + grad, then "
                "w -= lr * buf. Return the new buffer: the grader passes it back next step.",
                "动量保存梯度的累计和：buf = momentum * buf + grad，然后 w -= lr * buf。"
                "返回新的缓冲：评分器下一步会把它传回来。",
            ),
            text(
                "Nesterov (torch's form) steps along grad + momentum * buf, with the buffer "
                "already updated: a look at where momentum is about to carry w.",
                "Nesterov（torch 的写法）沿 grad + momentum * buf 更新，其中缓冲已经更新过："
                "先看一眼动量将把 w 带到哪里。",
            ),
            text(
                "Adam divides m by (1 - beta1**t) and v by (1 - beta2**t), t from 1: both start "
                "at 0, and without the correction the first steps are badly scaled.",
                "Adam 把 m 除以 (1 - beta1**t)、v 除以 (1 - beta2**t)，t 从 1 开始：二者都从 0 "
                "开始，不修正的话前几步的尺度会严重失真。",
            ),
        ),
    ),
    Exercise(
        "residual_block",
        "resnet_vgg",
        text("ResNet's basic block with its shortcut", "ResNet 的 BasicBlock 及其 shortcut"),
        (
            text(
                "conv1 is 3x3 with the block's stride and padding 1; conv2 is 3x3, stride 1. "
                "Both have bias=False: the BatchNorm after them has its own bias.",
                "conv1 是 3x3、步长为 stride、padding 1；conv2 是 3x3、步长 1。两者都 "
                "bias=False：紧随其后的 BatchNorm 自带偏置。",
            ),
            text(
                "When stride != 1 or in_channels != out_channels the input no longer has the "
                "output's shape: the shortcut is nn.Sequential(1x1 conv with the same stride, "
                "BatchNorm2d). Otherwise it is the identity, nn.Sequential().",
                "当 stride != 1 或 in_channels != out_channels 时，输入与输出形状不同：shortcut 为 "
                "nn.Sequential(相同步长的 1x1 卷积, BatchNorm2d)；否则为恒等映射 nn.Sequential()。",
            ),
            text(
                "Order (He et al. 2016): relu(bn1(conv1(x))) -> bn2(conv2(.)) -> add the "
                "shortcut -> relu. The last ReLU comes after the addition.",
                "顺序（He 等 2016）：relu(bn1(conv1(x))) -> bn2(conv2(.)) -> 加上 shortcut -> "
                "relu。"
                "最后一个 ReLU 在相加之后。",
            ),
        ),
    ),
    Exercise(
        "iou",
        "resnet_vgg",
        text(
            "Box area and IoU of two sets of boxes, equal to torchvision.ops.box_iou",
            "框面积与两组框的 IoU，结果与 torchvision.ops.box_iou 一致",
        ),
        (
            text(
                "Broadcast one set against the other: boxes1[:, None, :2] and boxes2[None, :, :2] "
                "have shapes (N, 1, 2) and (1, M, 2), so np.maximum of them is (N, M, 2).",
                "让两组框互相广播：boxes1[:, None, :2] 和 boxes2[None, :, :2] 的形状是 "
                "(N, 1, 2) 和 (1, M, 2)，二者的 np.maximum 是 (N, M, 2)。",
            ),
            text(
                "The overlap runs from the larger top-left corner to the smaller bottom-right "
                "one; where they cross, the boxes do not overlap: np.clip(width, 0, None).",
                "重叠区域从较大的左上角到较小的右下角；二者交叉时说明框不重叠："
                "np.clip(width, 0, None)。",
            ),
            text(
                "union = area1[:, None] + area2[None, :] - intersection; coordinates are "
                "continuous, so the width is x2 - x1 (no +1).",
                "并集 = area1[:, None] + area2[None, :] - 交集；坐标是连续的，宽度为 x2 - x1"
                "（不加 1）。",
            ),
        ),
    ),
    Exercise(
        "nms",
        "resnet_vgg",
        text(
            "Greedy non-maximum suppression, per image and per class, equal to torchvision's",
            "贪心非极大值抑制（NMS），按图像与按类别，结果与 torchvision 一致",
        ),
        (
            text(
                "Compute all IoUs once (box_iou(boxes, boxes)), then loop over "
                "np.argsort(-scores): a box not yet suppressed is kept and suppresses every box "
                "with iou[i] > iou_threshold.",
                "先一次算出所有 IoU（box_iou(boxes, boxes)），再遍历 np.argsort(-scores)："
                "还没被抑制的框保留下来，并抑制所有 iou[i] > iou_threshold 的框。",
            ),
            text(
                "Strictly greater: a box whose IoU equals the threshold is kept, as in "
                "torchvision. The kept indices come out in decreasing order of score.",
                "严格大于：IoU 恰好等于阈值的框保留，与 torchvision 一致。保留的下标按分数从高到低"
                "输出。",
            ),
            text(
                "batched_nms: for each label, idx = np.flatnonzero(labels == label); "
                "idx[nms(boxes[idx], scores[idx], t)] are its kept indices. Merge the classes "
                "and sort by decreasing score.",
                "batched_nms：对每个类别 idx = np.flatnonzero(labels == label)；"
                "idx[nms(boxes[idx], scores[idx], t)] 就是该类保留的下标。合并各类后按分数从高到低"
                "排序。",
            ),
        ),
    ),
    Exercise(
        "map50",
        "resnet_vgg",
        text(
            "mAP@0.5 by hand: matching, precision-recall and 101-point AP, equal to torchmetrics",
            "手算 mAP@0.5：匹配、精度-召回曲线与 101 点 AP，结果与 torchmetrics 一致",
        ),
        (
            text(
                "Matching: loop over np.argsort(-scores); among the ground-truth boxes not yet "
                "taken, pick the highest IoU (set taken ones to -1 before np.argmax); at >= 0.5 "
                "it is a TP and that box is taken.",
                "匹配：遍历 np.argsort(-scores)；在还没被占用的真实框中取 IoU 最大的（先把已占用"
                "的设为 -1 再 np.argmax）；IoU >= 0.5 就是 TP，并占用该框。",
            ),
            text(
                "After sorting the pooled predictions by score: tp = np.cumsum(is_tp), "
                "fp = np.cumsum(~is_tp); recall = tp / n_gt, precision = tp / (tp + fp). The "
                "interpolated precision is np.maximum.accumulate(precision[::-1])[::-1].",
                "把汇总的预测按分数排序后：tp = np.cumsum(is_tp)，fp = np.cumsum(~is_tp)；"
                "recall = tp / n_gt，precision = tp / (tp + fp)。插值精度是 "
                "np.maximum.accumulate(precision[::-1])[::-1]。",
            ),
            text(
                "np.searchsorted(recall, np.linspace(0, 1, 101), side='left') gives the first "
                "rank reaching each level; an index past the end means the level is never "
                "reached and counts 0 (append a 0 to the precision).",
                "np.searchsorted(recall, np.linspace(0, 1, 101), side='left') 给出每个召回率水平"
                "第一次达到的位置；越过末尾的下标表示从未达到，记为 0（在 precision 末尾补一个 0）。",
            ),
        ),
    ),
    Exercise(
        "miou_confusion",
        "resnet_vgg",
        text(
            "Segmentation metrics: a confusion matrix with an ignore index, IoU per class and "
            "mIoU, equal to torchmetrics",
            "分割指标：带忽略标签的混淆矩阵、逐类 IoU 与 mIoU，结果与 torchmetrics 一致",
        ),
        (
            text(
                "Drop the pixels whose target is ignore_index first. Then one np.bincount of "
                "target * C + preds with minlength C * C, reshaped to (C, C), counts every "
                "(true, predicted) pair: row = true class, column = prediction.",
                "先去掉目标为 ignore_index 的像素。然后对 target * C + preds 做一次 "
                "np.bincount（minlength 为 C * C），reshape 成 (C, C)，就统计了每个"
                "（真实，预测）对：行是真实类别，列是预测。",
            ),
            text(
                "TP = np.diag(cm); TP + FP = column sums cm.sum(0); TP + FN = row sums "
                "cm.sum(1). The union is cm.sum(0) + cm.sum(1) - TP; IoU = TP / union.",
                "TP = np.diag(cm)；TP + FP = 列和 cm.sum(0)；TP + FN = 行和 cm.sum(1)。"
                "并集是 cm.sum(0) + cm.sum(1) - TP；IoU = TP / 并集。",
            ),
            text(
                "A class with union 0 appears in neither prediction nor target: give it IoU 0 "
                "in the per-class array but average only over the classes with union > 0.",
                "并集为 0 的类别在预测和目标中都没有出现：逐类数组里记为 0，但只对并集 > 0 "
                "的类别求平均。",
            ),
        ),
    ),
    Exercise(
        "rnn_bptt",
        "lstm_timeseries",
        text(
            "Backpropagation through time for a vanilla tanh RNN, in NumPy",
            "用 NumPy 实现普通 tanh RNN 的随时间反向传播（BPTT）",
        ),
        (
            text(
                "Forward: h = h0; for each x_t: h = np.tanh(x_t @ w_ih.T + h @ w_hh.T + b); "
                "keep every h and np.stack them into (T, N, H).",
                "前向：h = h0；对每个 x_t：h = np.tanh(x_t @ w_ih.T + h @ w_hh.T + b)；"
                "保存每个 h，再 np.stack 成 (T, N, H)。",
            ),
            text(
                "Backward, t from T - 1 down to 0: dh = dhs[t] + dh_next (dh_next starts at 0), "
                "dz = dh * (1 - hs[t]**2): the tanh's derivative written with its output.",
                "反向，t 从 T - 1 到 0：dh = dhs[t] + dh_next（dh_next 初始为 0），"
                "dz = dh * (1 - hs[t]**2)：用 tanh 的输出写出它的导数。",
            ),
            text(
                "Then dw_ih += dz.T @ x[t], dw_hh += dz.T @ h_prev (h_prev = hs[t - 1], or h0 "
                "when t = 0), db += dz.sum(0), dh_next = dz @ w_hh; after the loop, dh0 is "
                "dh_next.",
                "然后 dw_ih += dz.T @ x[t]，dw_hh += dz.T @ h_prev（h_prev = hs[t - 1]，"
                "t = 0 时为 h0），db += dz.sum(0)，dh_next = dz @ w_hh；循环结束后 dh0 就是 "
                "dh_next。",
            ),
        ),
    ),
    Exercise(
        "lstm_cell",
        "lstm_timeseries",
        text(
            "One LSTM step and a whole sequence in NumPy, equal to torch.nn.LSTM",
            "用 NumPy 实现 LSTM 单步与整段序列，结果与 torch.nn.LSTM 一致",
        ),
        (
            text(
                "gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh has shape (N, 4H); split it into "
                "four (N, H) blocks in PyTorch's order: input, forget, cell (g), output.",
                "gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh 的形状是 (N, 4H)；按 PyTorch 的顺序"
                "切成四块 (N, H)：输入门、遗忘门、候选细胞 (g)、输出门。",
            ),
            text(
                "i, f, o go through a sigmoid; g through tanh. c' = f * c + i * g, "
                "h' = o * tanh(c').",
                "i、f、o 经过 sigmoid；g 经过 tanh。c' = f * c + i * g，h' = o * tanh(c')。",
            ),
            text(
                "lstm_sequence is a loop over time calling lstm_cell, keeping every h: "
                "outputs[t] = h_t.",
                "lstm_sequence 就是沿时间循环调用 lstm_cell，并保存每一步的 h：outputs[t] = h_t。",
            ),
        ),
    ),
    Exercise(
        "gru_cell",
        "lstm_timeseries",
        text(
            "One GRU step and a whole sequence in NumPy, equal to torch.nn.GRU",
            "用 NumPy 实现 GRU 单步与整段序列，结果与 torch.nn.GRU 一致",
        ),
        (
            text(
                "Compute both products once: x @ W_ih.T + b_ih and h @ W_hh.T + b_hh, each "
                "(N, 3H); split each into three (N, H) blocks in PyTorch's order r, z, n.",
                "两个矩阵乘法各算一次：x @ W_ih.T + b_ih 和 h @ W_hh.T + b_hh，形状都是 "
                "(N, 3H)；各自按 PyTorch 的顺序 r、z、n 切成三块 (N, H)。",
            ),
            text(
                "r = sigmoid(i_r + h_r), z = sigmoid(i_z + h_z), n = tanh(i_n + r * h_n): "
                "the reset gate multiplies the hidden side AFTER its product, bias included.",
                "r = sigmoid(i_r + h_r)，z = sigmoid(i_z + h_z)，n = tanh(i_n + r * h_n)："
                "重置门乘在 h 一侧的矩阵乘积（含偏置）之后。",
            ),
            text(
                "h' = (1 - z) * n + z * h: z is how much of the old state survives. "
                "gru_sequence loops over time and keeps every h.",
                "h' = (1 - z) * n + z * h：z 表示旧状态保留多少。gru_sequence 沿时间循环，"
                "保存每一步的 h。",
            ),
        ),
    ),
    Exercise(
        "lstm_forecaster",
        "lstm_timeseries",
        text(
            "An LSTM forecaster for a time series and multi-step forecasting",
            "用 LSTM 预测时间序列，并做多步预测",
        ),
        (
            text(
                "nn.LSTM wants (B, T, features) with batch_first=True: x.unsqueeze(-1) turns "
                "(B, T) into (B, T, 1).",
                "nn.LSTM 在 batch_first=True 时要求 (B, T, features)：x.unsqueeze(-1) 把 (B, T) "
                "变成 (B, T, 1)。",
            ),
            text(
                "The prediction comes from the LAST time step: output[:, -1] (B, H) -> head -> "
                "(B, 1) -> squeeze(-1) -> (B,).",
                "预测来自最后一个时间步：output[:, -1] (B, H) -> head -> (B, 1) -> squeeze(-1) -> "
                "(B,)。",
            ),
            text(
                "forecast: keep a window of fixed length; predict one value, append it, drop the "
                "oldest value, repeat. Use model.eval() and torch.no_grad().",
                "forecast：保持窗口长度不变；预测一个值，追加到末尾，丢掉最早的值，重复。"
                "使用 model.eval() 和 torch.no_grad()。",
            ),
        ),
    ),
    Exercise(
        "viterbi",
        "lstm_timeseries",
        text(
            "Viterbi decoding of a linear-chain CRF (a BiLSTM-CRF tagger's last step)",
            "线性链 CRF 的 Viterbi 解码（BiLSTM-CRF 标注器的最后一步）",
        ),
        (
            text(
                "best[j] after step t is the score of the best path ending in tag j. Start with "
                "best = start + emissions[0]; the (K, K) array best[:, None] + transitions holds "
                "every way to reach tag j (columns) from tag i (rows).",
                "第 t 步之后 best[j] 是以 tag j 结尾的最佳路径的分数。初始化 best = start + "
                "emissions[0]；(K, K) 数组 best[:, None] + transitions 列出从 tag i（行）到 "
                "tag j（列）的所有走法。",
            ),
            text(
                "Take the max over the rows (axis 0) and add emissions[t]; store the argmax "
                "over the rows as back-pointers. The best tag at each position alone is not "
                "the answer: transitions tie the positions together.",
                "对行（axis 0）取最大值再加上 emissions[t]；把按行的 argmax 存为回溯指针。"
                "每个位置单独最好的 tag 不是答案：转移分数把各位置联系在一起。",
            ),
            text(
                "At the sentence's last real token add `end`, take the argmax, then follow the "
                "back-pointers from the end to the start and reverse. Padding (mask False) is "
                "not decoded.",
                "在句子最后一个真实 token 处加上 `end`，取 argmax，再从后往前沿回溯指针走，"
                "最后反转。填充部分（mask 为 False）不解码。",
            ),
        ),
    ),
    Exercise(
        "positional_encoding",
        "transformer",
        text(
            "A decoder's causal mask and sinusoidal positional encoding",
            "解码器的因果掩码与正弦位置编码",
        ),
        (
            text(
                "Query i may attend to keys j <= i (the past and itself): "
                "torch.tril(torch.ones(T, T, dtype=torch.bool)).",
                "query i 只能关注 j <= i 的 key（过去和自己）："
                "torch.tril(torch.ones(T, T, dtype=torch.bool))。",
            ),
            text(
                "PE[pos, 2i] = sin(pos / 10000^(2i / d)), PE[pos, 2i + 1] = cos(pos / 10000^(2i "
                "/ d)) (Vaswani et al. 2017, section 3.5): sine and cosine interleave.",
                "PE[pos, 2i] = sin(pos / 10000^(2i / d))，PE[pos, 2i + 1] = cos(pos / 10000^(2i / "
                "d))（Vaswani 等 2017，3.5 节）：正弦和余弦交替排列。",
            ),
            text(
                "Build the angles as an outer product: positions (T, 1) times frequencies "
                "(1, d / 2); write pe[:, 0::2] = sin, pe[:, 1::2] = cos.",
                "用外积构造角度：位置 (T, 1) 乘以频率 (1, d / 2)；再写 pe[:, 0::2] = sin，"
                "pe[:, 1::2] = cos。",
            ),
        ),
    ),
    Exercise(
        "encoder_layer",
        "transformer",
        text(
            "A Transformer encoder layer equal to nn.TransformerEncoderLayer",
            "实现与 nn.TransformerEncoderLayer 一致的 Transformer 编码器层",
        ),
        (
            text(
                "in_proj_weight stacks W_q, W_k, W_v: (x @ W.T + b).chunk(3, dim=-1) gives q, k, "
                "v. Split each into heads: (B, T, d) -> (B, h, T, d / h).",
                "in_proj_weight 把 W_q、W_k、W_v 叠在一起：(x @ W.T + b).chunk(3, dim=-1) 得到 q、"
                "k、v。再拆成多头：(B, T, d) -> (B, h, T, d / h)。",
            ),
            text(
                "Each head scales by 1/sqrt(d / h), its own size, not the model's. Merge the heads "
                "back to (B, T, d) before out_proj.",
                "每个头按 1/sqrt(d / h) 缩放，用的是单个头的维度而不是模型维度。"
                "在 out_proj 之前把多头合并回 (B, T, d)。",
            ),
            text(
                "Post-norm (the 2017 paper and PyTorch's default): x = norm1(x + attn(x)); "
                "x = norm2(x + linear2(relu(linear1(x)))). F.layer_norm takes the weights.",
                "Post-norm（2017 年论文和 PyTorch 的默认）：x = norm1(x + attn(x))；"
                "x = norm2(x + linear2(relu(linear1(x))))。F.layer_norm 可以传入权重。",
            ),
        ),
    ),
    Exercise(
        "sinusoidal_positions",
        "transformer",
        text(
            "Sinusoidal encodings of any positions, and the matrix that shifts them",
            "任意位置的正弦位置编码，以及平移它们的矩阵",
        ),
        (
            text(
                "w_i = base ** (-2i / d_model) for i = 0..d_model/2 - 1; the angles are "
                "positions[..., None] * w, shape (*positions.shape, d_model / 2).",
                "w_i = base ** (-2i / d_model)，i = 0..d_model/2 - 1；角度是 "
                "positions[..., None] * w，形状为 (*positions.shape, d_model / 2)。",
            ),
            text(
                "pe[..., 0::2] = sin(angles), pe[..., 1::2] = cos(angles): the ellipsis works "
                "for positions of any shape. Use the base you are given.",
                "pe[..., 0::2] = sin(angles)，pe[..., 1::2] = cos(angles)：省略号让任意形状的 "
                "positions 都适用。使用传入的 base。",
            ),
            text(
                "sin(a + b) = sin a cos b + cos a sin b and cos(a + b) = cos a cos b - sin a sin b "
                "with b = k w_i: rows 2i and 2i + 1 of M are [cos, sin] and [-sin, cos] in "
                "columns 2i, 2i + 1.",
                "sin(a + b) = sin a cos b + cos a sin b，cos(a + b) = cos a cos b - sin a sin b，"
                "其中 b = k w_i：M 的第 2i 行和第 2i + 1 行在第 2i、2i + 1 列上分别是 [cos, sin] 和 "
                "[-sin, cos]。",
            ),
        ),
    ),
    Exercise(
        "beam_search",
        "transformer",
        text(
            "Beam search with finished hypotheses and length normalisation",
            "带已完成假设与长度归一化的束搜索（beam search）",
        ),
        (
            text(
                "Scores are sums of log-probabilities: extending by a token adds log p, so "
                "scores[i, v] = score_i + logp[i, v] for all live i and tokens v at once; "
                "np.argsort(scores, axis=None)[::-1] ranks them all.",
                "分数是对数概率之和：扩展一个 token 就加上 log p，所以对所有活跃的 i 和 token v "
                "一次算出 scores[i, v] = score_i + logp[i, v]；np.argsort(scores, axis=None)[::-1] "
                "给它们全部排序。",
            ),
            text(
                "Keep beam_size - len(finished) extensions. One that ends in eos goes to the "
                "finished list and is never extended again; the loop stops when none is live or "
                "after max_len steps.",
                "保留 beam_size - len(finished) 个扩展。以 eos 结尾的放进已完成列表，不再扩展；"
                "没有活跃假设或走满 max_len 步时停止。",
            ),
            text(
                "Rank finished + live by score / len(tokens) ** length_penalty (tokens after bos, "
                "eos included). Every token adds a negative number, so without this the "
                "shortest hypotheses win.",
                "按 score / len(tokens) ** length_penalty 给 已完成 + 活跃 的假设排序（tokens 不含 "
                "bos，含 eos）。每个 token 都加上一个负数，不归一化的话最短的假设总是赢。",
            ),
        ),
    ),
    Exercise(
        "loss_curves",
        "loss_curves",
        text(
            "Read loss curves: overfitting, underfitting, good fit or diverging",
            "读懂 loss 曲线：过拟合、欠拟合、拟合良好还是发散",
        ),
        (
            text(
                "Look at the ends and the minimum: train_loss[-1], val_loss[-1], min(val_loss). "
                "Check for divergence first (nan/inf, or a loss that ends above where it began).",
                "看末尾和最小值：train_loss[-1]、val_loss[-1]、min(val_loss)。先判断是否发散"
                "（出现 nan/inf，或者结束时比开始时还高）。",
            ),
            text(
                "Underfitting: even the training loss stays high (here chance level is "
                "ln 10 = 2.30; above 1.0 is high). Overfitting: train keeps falling while "
                "validation turns up and ends well above its minimum (more than 10%).",
                "欠拟合：连训练损失都很高（这里随机猜的水平是 ln 10 = 2.30，高于 1.0 就算高）。"
                "过拟合：训练损失一直下降，验证损失却回升，最后比其最小值高出很多（超过 10%）。",
            ),
            text(
                "best_epoch is where early stopping would restore: int(np.nanargmin(val_loss)).",
                "best_epoch 就是早停会恢复的位置：int(np.nanargmin(val_loss))。",
            ),
        ),
        n_cases=12,
    ),
    Exercise(
        "lr_schedules",
        "loss_curves",
        text(
            "Learning-rate schedules: warmup + cosine and one-cycle, equal to torch's",
            "学习率调度：warmup + 余弦与 one-cycle，与 torch 的调度器一致",
        ),
        (
            text(
                "Warmup: for step < warmup_steps the rate is base_lr * (step + 1) / "
                "warmup_steps, so step 0 already trains and step warmup_steps - 1 reaches "
                "base_lr.",
                "warmup：step < warmup_steps 时学习率为 base_lr * (step + 1) / warmup_steps，"
                "所以第 0 步就开始训练，第 warmup_steps - 1 步达到 base_lr。",
            ),
            text(
                "Cosine: with progress = (step - warmup_steps) / (total_steps - warmup_steps), "
                "lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2.",
                "余弦：令 progress = (step - warmup_steps) / (total_steps - warmup_steps)，"
                "lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * progress)) / 2。",
            ),
            text(
                "One-cycle: initial = max_lr / div_factor, final = initial / final_div_factor, "
                "peak = pct_start * total_steps - 1. Up to the peak anneal initial -> max_lr "
                "with pct = step / peak, then max_lr -> final with pct = (step - peak) / "
                "(total_steps - 1 - peak); anneal(a, b, pct) = b + (a - b) * (1 + cos(pi * "
                "pct)) / 2.",
                "one-cycle：initial = max_lr / div_factor，final = initial / final_div_factor，"
                "peak = pct_start * total_steps - 1。峰值之前从 initial 退火到 max_lr，"
                "pct = step / peak；之后从 max_lr 到 final，pct = (step - peak) / "
                "(total_steps - 1 - peak)；anneal(a, b, pct) = b + (a - b) * (1 + cos(pi * pct)) "
                "/ 2。",
            ),
        ),
    ),
    Exercise(
        "dropout",
        "overfitting",
        text(
            "Inverted dropout forward and backward, train and eval modes",
            "反向缩放（inverted）dropout 的前向与反向，训练与评估模式",
        ),
        (
            text(
                "p is the probability of DROPPING an element: keep it where u >= p.",
                "p 是丢弃一个元素的概率：在 u >= p 的位置保留。",
            ),
            text(
                "Inverted dropout divides what it keeps by 1 - p, so the expected output equals "
                "the input and eval mode needs no rescaling.",
                "inverted dropout 把保留下来的值除以 1 - p，使输出的期望等于输入，"
                "评估时就不必再缩放。",
            ),
            text(
                "In eval mode (training=False) dropout is the identity: out = x, mask = ones. "
                "Backward: dx = dout * mask.",
                "评估模式（training=False）下 dropout 是恒等映射：out = x，mask 全为 1。"
                "反向：dx = dout * mask。",
            ),
        ),
    ),
    Exercise(
        "weight_decay",
        "overfitting",
        text(
            "Weight decay: SGD with L2 and AdamW's decoupled decay",
            "权重衰减：带 L2 的 SGD 与 AdamW 的解耦衰减",
        ),
        (
            text(
                "SGD's weight_decay is an L2 penalty (wd / 2) * ||w||^2 in the loss: it adds "
                "wd * w to the gradient. w_new = w - lr * (grad + wd * w).",
                "SGD 的 weight_decay 相当于损失里加 L2 惩罚 (wd / 2) * ||w||^2：梯度加上 wd * w。"
                "w_new = w - lr * (grad + wd * w)。",
            ),
            text(
                "AdamW (Loshchilov & Hutter 2019) decouples the decay: first w *= 1 - lr * wd, "
                "then the Adam step with the plain gradient.",
                "AdamW（Loshchilov 与 Hutter 2019）把衰减解耦：先 w *= 1 - lr * wd，"
                "再用原始梯度做 Adam 更新。",
            ),
            text(
                "Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; m_hat = m / (1 - b1^t); "
                "v_hat = v / (1 - b2^t); w -= lr * m_hat / (sqrt(v_hat) + eps). t starts at 1.",
                "Adam：m = b1 m + (1 - b1) g；v = b2 v + (1 - b2) g^2；m_hat = m / (1 - b1^t)；"
                "v_hat = v / (1 - b2^t)；w -= lr * m_hat / (sqrt(v_hat) + eps)。t 从 1 开始。",
            ),
        ),
    ),
    Exercise(
        "augmentation",
        "overfitting",
        text(
            "Data augmentation: random flip and padded random crop",
            "数据增强：随机翻转与填充后随机裁剪",
        ),
        (
            text(
                "Draw a flip and an offset for EACH image, not one for the whole batch.",
                "为每张图片分别抽取是否翻转和裁剪偏移，而不是整个 batch 共用一个。",
            ),
            text(
                "np.pad(images, ((0, 0), (0, 0), (p, p), (p, p))) pads with zeros; a crop at "
                "offset (dy, dx) is padded[n, :, dy : dy + H, dx : dx + W] with dy, dx in 0..2p.",
                "np.pad(images, ((0, 0), (0, 0), (p, p), (p, p))) 用零填充；偏移 (dy, dx) "
                "处的裁剪是 "
                "padded[n, :, dy : dy + H, dx : dx + W]，dy、dx 取 0..2p。",
            ),
            text(
                "A left-right flip reverses the last axis: image[..., ::-1]. Flip first, then "
                "crop; "
                "do not modify the input array.",
                "左右翻转就是反转最后一维：image[..., ::-1]。先翻转再裁剪；不要修改输入数组。",
            ),
        ),
    ),
    Exercise(
        "checkpoint",
        "checkpoints",
        text(
            "Save and load a training state so that training continues identically",
            "保存与加载训练状态，使训练能完全一致地继续",
        ),
        (
            text(
                "A training state is more than the weights: save model.state_dict(), "
                "optimizer.state_dict() and the epoch together in one dict.",
                "训练状态不只是权重：把 model.state_dict()、optimizer.state_dict() 和 epoch 放进"
                "同一个字典一起保存。",
            ),
            text(
                "Adam keeps moment estimates per parameter; without them the next steps differ. "
                "optimizer.load_state_dict restores them.",
                "Adam 为每个参数保存了动量估计；没有它们，后续的更新就会不同。"
                "optimizer.load_state_dict 会恢复它们。",
            ),
            text(
                "torch.save(state, path) writes it; torch.load(path) reads it back (tensors, "
                "numbers and dicts load with the safe default weights_only=True).",
                "torch.save(state, path) 写入；torch.load(path) 读回（张量、"
                "数字和字典在安全的默认值 "
                "weights_only=True 下即可加载）。",
            ),
        ),
    ),
    Exercise(
        "gradient_penalty",
        "backprop",
        text(
            "WGAN-GP's gradient penalty, with the critic's input gradient by hand",
            "WGAN-GP 的梯度惩罚，手写 critic 对输入的梯度",
        ),
        (
            text(
                "For score = w2 . tanh(W1 x + b1) + b2: h = tanh(x @ W1.T + b1), and the "
                "gradient of each row's score is (w2 * (1 - h**2)) @ W1, shape (N, D) like x.",
                "对 score = w2 . tanh(W1 x + b1) + b2：h = tanh(x @ W1.T + b1)，每一行得分的"
                "梯度是 (w2 * (1 - h**2)) @ W1，形状 (N, D) 与 x 相同。",
            ),
            text(
                "Take the gradient at the interpolates x_hat = eps * real + (1 - eps) * fake "
                "(eps is (N, 1): one weight per sample), not at the real or the fake samples.",
                "梯度在插值点 x_hat = eps * real + (1 - eps) * fake 处计算（eps 形状为 (N, 1)："
                "每个样本一个权重），而不是在真实或生成样本处。",
            ),
            text(
                "One L2 norm per sample, np.linalg.norm(g, axis=1), then "
                "lam * np.mean((norms - 1) ** 2): squared, averaged over the batch, times lam.",
                "每个样本一个 L2 范数 np.linalg.norm(g, axis=1)，然后 "
                "lam * np.mean((norms - 1) ** 2)：平方、在 batch 上平均、乘以 lam。",
            ),
        ),
    ),
    Exercise(
        "reparam_kl",
        "backprop",
        text(
            "The VAE's reparameterised sample and its KL term against N(0, I)",
            "VAE 的重参数化采样及其相对 N(0, I) 的 KL 项",
        ),
        (
            text(
                "logvar is log sigma^2, so sigma = exp(0.5 * logvar); z = mu + sigma * eps keeps "
                "the randomness in eps, and gradients reach mu and logvar.",
                "logvar 是 log sigma^2，所以 sigma = exp(0.5 * logvar)；z = mu + sigma * eps "
                "把随机性放在 eps 里，梯度就能传到 mu 和 logvar。",
            ),
            text(
                "Per dimension, KL(N(mu, sigma^2) || N(0, 1)) = 0.5 * (mu^2 + sigma^2 - 1 - "
                "log sigma^2), which is never negative.",
                "每一维的 KL(N(mu, sigma^2) || N(0, 1)) = 0.5 * (mu^2 + sigma^2 - 1 - "
                "log sigma^2)，它永远非负。",
            ),
            text(
                "Sum over the latent dims (axis=1), then average over the batch: "
                "np.mean(np.sum(kl, axis=1)).",
                "在潜变量维度上求和（axis=1），再在 batch 上平均：np.mean(np.sum(kl, axis=1))。",
            ),
        ),
    ),
    Exercise(
        "ddpm_step",
        "training_loop",
        text(
            "DDPM: the linear schedule's alpha_bar, the forward noising step and the loss",
            "DDPM：线性调度的 alpha_bar、前向加噪一步和损失",
        ),
        (
            text(
                "betas = np.linspace(beta_start, beta_end, T); alpha_bar = "
                "np.cumprod(1 - betas): step 0 already has one factor, 1 - beta[0].",
                "betas = np.linspace(beta_start, beta_end, T)；alpha_bar = "
                "np.cumprod(1 - betas)：第 0 步已经有一个因子 1 - beta[0]。",
            ),
            text(
                "x_t = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps: square roots, "
                "and the cumulative alpha_bar, not the alpha of step t.",
                "x_t = sqrt(alpha_bar[t]) * x0 + sqrt(1 - alpha_bar[t]) * eps：要开平方，"
                "并且用累积的 alpha_bar，而不是第 t 步的 alpha。",
            ),
            text(
                "alpha_bar[t] has shape (N,); reshape it to (N, 1, ...) with "
                ".reshape((-1,) + (1,) * (x0.ndim - 1)) so each sample gets its own. The loss "
                "is np.mean((eps - eps_hat) ** 2).",
                "alpha_bar[t] 的形状是 (N,)；用 .reshape((-1,) + (1,) * (x0.ndim - 1)) 变成 "
                "(N, 1, ...)，让每个样本用自己的值。损失是 np.mean((eps - eps_hat) ** 2)。",
            ),
        ),
    ),
    Exercise(
        "value_iteration",
        "training_loop",
        text(
            "Value iteration on FrozenLake: V* and the greedy policy",
            "FrozenLake 上的价值迭代：V* 与贪心策略",
        ),
        (
            text(
                "The expected reward of (s, a) is np.sum(P * R, axis=2); then "
                "Q = r_exp + gamma * P @ V has shape (S, A).",
                "(s, a) 的期望奖励是 np.sum(P * R, axis=2)；然后 "
                "Q = r_exp + gamma * P @ V 的形状为 (S, A)。",
            ),
            text(
                "V = Q.max(axis=1), then V[terminal] = 0 (np.where(terminal, 0.0, ...)); repeat "
                "until the largest change of a sweep is below tol.",
                "V = Q.max(axis=1)，然后 V[terminal] = 0（np.where(terminal, 0.0, ...)）；"
                "重复直到一轮中的最大变化小于 tol。",
            ),
            text(
                "The policy: Q from the final V, then np.argmax(Q >= Q.max(axis=1, "
                "keepdims=True) - 1e-6, axis=1), the lowest of the tied actions.",
                "策略：用最终的 V 算出 Q，然后 np.argmax(Q >= Q.max(axis=1, "
                "keepdims=True) - 1e-6, axis=1)，即并列动作中编号最小的。",
            ),
        ),
    ),
    Exercise(
        "q_learning_update",
        "training_loop",
        text(
            "The tabular Q-learning and SARSA updates over a batch of transitions",
            "一批转移上的表格型 Q-learning 与 SARSA 更新",
        ),
        (
            text(
                "Loop over the transitions in order and update a copy of Q: a pair (s, a) may "
                "repeat, and later transitions must see the earlier updates.",
                "按顺序遍历这些转移，更新 Q 的副本：同一对 (s, a) 可能重复出现，"
                "后面的转移要看到前面的更新。",
            ),
            text(
                "Q-learning's target is r + gamma * Q[s'].max() * (1 - done); SARSA's is "
                "r + gamma * Q[s', a'] * (1 - done).",
                "Q-learning 的目标是 r + gamma * Q[s'].max() * (1 - done)；SARSA 的是 "
                "r + gamma * Q[s', a'] * (1 - done)。",
            ),
            text(
                "Q[s, a] += alpha * (target - Q[s, a]): alpha scales the error, the step "
                "towards the target.",
                "Q[s, a] += alpha * (target - Q[s, a])：alpha 乘的是误差，即朝目标迈出的那一步。",
            ),
        ),
    ),
    Exercise(
        "gae",
        "training_loop",
        text(
            "Generalised advantage estimation over a rollout with episode ends",
            "含回合结束的 rollout 上的广义优势估计（GAE）",
        ),
        (
            text(
                "Go backwards from t = T - 1, carrying the advantage of step t + 1 (0 to start); "
                "next_value is last_value at the last step, values[t + 1] elsewhere.",
                "从 t = T - 1 往回走，带着第 t + 1 步的优势（初始为 0）；next_value 在最后一步"
                "是 last_value，其余是 values[t + 1]。",
            ),
            text(
                "not_done = 1 - dones[t] multiplies both gamma * next_value in delta and the "
                "carried advantage: nothing crosses an episode end.",
                "not_done = 1 - dones[t] 既乘 delta 中的 gamma * next_value，也乘传递的优势："
                "任何东西都不能跨过回合结束。",
            ),
            text(
                "delta = r + gamma * next_value * not_done - values[t]; "
                "adv = delta + gamma * lam * not_done * adv; returns = advantages + values.",
                "先算 delta = r + gamma * next_value * not_done - values[t]，再算 "
                "adv = delta + gamma * lam * not_done * adv；最后回报 returns = advantages + values。",
            ),
        ),
    ),
    Exercise(
        "ppo_clip_loss",
        "training_loop",
        text(
            "PPO's clipped surrogate loss and value loss",
            "PPO 的截断代理损失与价值损失",
        ),
        (
            text(
                "ratio = np.exp(logprobs - old_logprobs): the logs' difference is the log of "
                "the ratio.",
                "ratio = np.exp(logprobs - old_logprobs)：对数之差是比值的对数。",
            ),
            text(
                "Clip the ratio, not the advantage: np.clip(ratio, 1 - clip_eps, 1 + clip_eps).",
                "截断的是比值而不是优势：np.clip(ratio, 1 - clip_eps, 1 + clip_eps)。",
            ),
            text(
                "As a loss: np.mean(np.maximum(-A * ratio, -A * clipped)), the larger (more "
                "pessimistic) of the two; the value loss is 0.5 * np.mean((values - returns) ** 2).",
                "写成损失：np.mean(np.maximum(-A * ratio, -A * clipped))，取两者中较大"
                "（更保守）的；价值损失是 0.5 * np.mean((values - returns) ** 2)。",
            ),
        ),
    ),
)

_BY_NAME = {e.name: e for e in EXERCISES}
assert len(_BY_NAME) == len(EXERCISES), "duplicate exercise name"
assert {e.item for e in EXERCISES} == {i.key for i in ITEMS}, "an item has no exercise"


def get_exercise(name: str) -> Exercise:
    """The exercise called `name`; an unknown name lists the closest ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        close = difflib.get_close_matches(name, _BY_NAME, n=3, cutoff=0.5)
        also = f" (did you mean {', '.join(close)}?)" if close else ""
        raise LabError(
            f"no exercise called {name!r}{also}; `dllab lab list` shows all {len(EXERCISES)}"
        ) from None


def skeleton_source(name: str) -> str:
    """The file `dllab lab start NAME` writes."""
    return (
        resources.files("dllab.lab.skeletons")
        .joinpath(f"{get_exercise(name).name}.py")
        .read_text(encoding="utf-8")
    )


def solution_source(name: str) -> str:
    """The reference solution (shown only after the exercise has passed; see `vault.py`)."""
    from dllab.lab import vault

    return vault.read(get_exercise(name).name)

"""Grader for scalar_autograd: a micrograd-style Value class, against torch autograd.

Each case runs small probe graphs (one per operation, a node used twice, a diamond where the
order of the backward pass matters) and one random graph, all through `drivers/scalar_autograd.py`
in the child, and compares every node's data and grad with torch autograd on the same graph
(float64 scalars, `retain_grad` on every node). Known wrong engines run here too (gradients
overwritten instead of accumulated, `_backward` called in plain depth-first order), so the
message can name the mistake.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dllab.lab.checks import Case, Failed, assert_close, drive, driver_source, text

DRIVER = driver_source("scalar_autograd")

ACCUMULATE = text(
    "A node used twice gets a gradient from each use: add them up (+=), do not overwrite "
    "the gradient with the last one.",
    "被使用两次的节点会从每次使用各得到一份梯度：要把它们加起来（+=），不能用最后一份覆盖。",
)
TOPO = text(
    "Run a node's _backward only once, and only after every node that uses it has run its own: "
    "that is a topological order of the graph, reversed. A plain depth-first recursion sends "
    "a gradient on before it is complete.",
    "每个节点的 _backward 只能运行一次，而且要等所有用到它的节点都运行完之后：也就是图的拓扑序的"
    "逆序。简单的深度优先递归会在梯度还没累加完整时就把它往下传。",
)
SEED = text(
    "backward() starts by setting the output's own gradient to 1 (dL/dL = 1); everything else "
    "starts at 0.",
    "backward() 首先把输出自身的梯度设为 1（dL/dL = 1）；其余节点的梯度从 0 开始。",
)
LOCAL = {
    "tanh": text(
        "The local derivative of tanh is wrong: it is neither 1 nor tanh itself (hint 3).",
        "tanh 的局部导数不对：它既不是 1，也不是 tanh 本身（见提示 3）。",
    ),
    "exp": text(
        "The local derivative of exp is exp itself, times the gradient that arrives.",
        "exp 的局部导数就是 exp 本身，再乘以传来的梯度。",
    ),
    "pow": text(
        "The power rule: the local derivative of x ** k brings the exponent down and lowers it "
        "by one.",
        "幂法则：x ** k 的局部导数是把指数乘到前面，再把指数减一。",
    ),
    "mul": text(
        "The local derivative of a * b with respect to a is b (and to b is a): each input gets "
        "the OTHER one's value.",
        "a * b 对 a 的局部导数是 b（对 b 是 a）：每个输入得到的是另一个输入的值。",
    ),
}


def _describe(leaves, ops) -> str:
    """The graph as a learner would type it: 'v2 = v0 * v1; v3 = tanh(v2)'."""
    forms = {"add": "v{i} + v{a}", "mul": "v{i} * v{a}", "addc": "v{i} + {a}",
             "mulc": "v{i} * {a}", "radd": "{a} + v{i}", "rmul": "{a} * v{i}",
             "pow": "v{i} ** {a}", "tanh": "v{i}.tanh()", "exp": "v{i}.exp()"}  # fmt: skip
    parts = [f"v{k} = Value({x:.3g})" for k, x in enumerate(leaves)]
    for k, (op, i, a) in enumerate(ops, start=len(leaves)):
        a = f"{a:.3g}" if isinstance(a, float) else a
        parts.append(f"v{k} = " + forms[op].format(i=i, a=a))
    return "; ".join(parts)


def _forward(leaves, ops):
    """Node values and, per node, its (input node, local derivative) edges."""
    vals, edges = list(leaves), [[] for _ in leaves]
    for op, i, a in ops:
        x = vals[i]
        if op in ("add", "mul"):
            y = vals[a]
            v = x + y if op == "add" else x * y
            edges.append([(i, 1.0), (a, 1.0)] if op == "add" else [(i, y), (a, x)])
        elif op in ("addc", "radd"):
            v = x + a
            edges.append([(i, 1.0)])
        elif op in ("mulc", "rmul"):
            v = x * a
            edges.append([(i, a)])
        elif op == "pow":
            v = x**a
            edges.append([(i, a * x ** (a - 1))])
        elif op == "tanh":
            v = math.tanh(x)
            edges.append([(i, 1 - v * v)])
        else:
            v = math.exp(x)
            edges.append([(i, v)])
        vals.append(v)
    return vals, edges


def _wrong_grads(leaves, ops, *, overwrite=False, depth_first=None, local=None):
    """The gradients a known wrong engine computes (reverse creation order is topological)."""
    vals, edges = _forward(leaves, ops)
    if local is not None:  # one op's local derivative replaced by 1
        for k, (op, _, _) in enumerate(ops, start=len(leaves)):
            if op == local:
                edges[k] = [(p, 1.0) for p, _ in edges[k]]
    grads = [0.0] * len(vals)
    grads[-1] = 1.0
    if depth_first is not None:  # _backward, then recurse into the distinct inputs

        def visit(k):
            for p, d in edges[k]:
                grads[p] += d * grads[k]
            for p in sorted({p for p, _ in edges[k]}, reverse=depth_first):
                visit(p)

        visit(len(vals) - 1)
        return grads
    for k in reversed(range(len(vals))):
        for p, d in edges[k]:
            grads[p] = d * grads[k] if overwrite else grads[p] + d * grads[k]
    return grads


_TORCH_OPS = {
    "add": lambda x, y: x + y,
    "mul": lambda x, y: x * y,
    "addc": lambda x, c: x + c,
    "mulc": lambda x, c: x * c,
    "radd": lambda x, c: c + x,
    "rmul": lambda x, c: c * x,
    "pow": lambda x, c: x**c,
    "tanh": lambda x, _: torch.tanh(x),
    "exp": lambda x, _: torch.exp(x),
}


def _torch(leaves, ops):
    """(data, grad) of every node from torch autograd."""
    nodes = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in leaves]
    for op, i, a in ops:
        y = _TORCH_OPS[op](nodes[i], nodes[a] if op in ("add", "mul") else a)
        y.retain_grad()
        nodes.append(y)
    nodes[-1].backward()
    grads = [0.0 if v.grad is None else float(v.grad) for v in nodes]
    return [float(v.detach()) for v in nodes], grads


def _random_graph(rng):
    """A graph of 2-3 leaves and 5-8 operations where nodes are reused; values stay small."""
    leaves = [round(float(x), 3) for x in rng.uniform(-1.5, 1.5, size=int(rng.integers(2, 4)))]
    vals, ops = list(leaves), []
    names = ["add", "mul", "addc", "mulc", "radd", "rmul", "pow", "tanh", "exp"]
    for _ in range(int(rng.integers(5, 9))):
        op, i = str(rng.choice(names)), int(rng.integers(len(vals)))
        if op in ("add", "mul"):
            a = int(rng.integers(len(vals)))  # any earlier node: reuse happens
        elif op == "pow":
            a = int(rng.integers(2, 4))
        elif op in ("tanh", "exp"):
            a = None
        else:
            a = round(float(rng.uniform(-2, 2)), 2)
        value = _forward(leaves, [*ops, [op, i, a]])[0][-1]
        if abs(value) > 8:
            op, a = "tanh", None
        ops.append([op, i, a])
        vals.append(_forward(leaves, ops)[0][-1])
    used = {i for _, i, _ in ops} | {a for op, _, a in ops if op in ("add", "mul")}
    for k in range(len(vals) - 1):  # sum the dangling nodes into the output
        if k not in used:
            ops.append(["add", len(leaves) + len(ops) - 1, k])
    return leaves, ops


def _probes(rng):
    """(name, leaves, ops) of small graphs that each test one thing."""
    a, b = (round(float(x), 3) for x in rng.uniform(0.3, 1.5, size=2) * rng.choice([-1, 1], 2))
    c = round(float(rng.uniform(-2, 2)), 2)
    k = int(rng.integers(2, 4))
    return [
        ("add", [a, b], [["add", 0, 1]]),
        ("mul", [a, b], [["mul", 0, 1]]),
        ("numbers", [a], [["addc", 0, c], ["radd", 1, c], ["mulc", 2, c], ["rmul", 3, c]]),
        ("pow", [a], [["pow", 0, k]]),
        ("tanh", [a], [["tanh", 0, None]]),
        ("exp", [a], [["exp", 0, None]]),
        ("a + a", [a], [["add", 0, 0]]),
        ("a * a", [a], [["mul", 0, 0]]),
        ("diamond", [a], [["tanh", 0, None], ["mulc", 1, c], ["add", 1, 2]]),
    ]


def _judge(module, leaves, ops):
    desc = _describe(leaves, ops)
    got = drive(module, DRIVER, "run", leaves, ops)
    if "not_value" in got:
        raise Failed(
            text(
                f"{got['not_value']} returned a {got['type']}, not a Value, in: {desc}",
                f"{got['not_value']} 返回了 {got['type']}，而不是 Value，出现在：{desc}",
            ),
            text(
                "Every operation returns a new Value that remembers its inputs.",
                "每个运算都要返回一个记住了其输入的新 Value。",
            ),
        )
    data, grads = _torch(leaves, ops)
    assert_close(f"data of v0..v{len(data) - 1} in: {desc}", got["data"], data)
    mistakes = [(np.zeros(len(grads)), SEED)]
    mistakes += [(_wrong_grads(leaves, ops, overwrite=True), ACCUMULATE)]
    mistakes += [(_wrong_grads(leaves, ops, depth_first=r), TOPO) for r in (False, True)]
    mistakes += [(_wrong_grads(leaves, ops, local=op), why) for op, why in LOCAL.items()]
    assert_close(f"grad of v0..v{len(grads) - 1} in: {desc}", got["grad"], grads,
                 mistakes=mistakes)  # fmt: skip


def make_case(index: int, rng: np.random.Generator) -> Case:
    probes = _probes(rng)
    leaves, ops = _random_graph(rng)

    def check(module):
        for _, p_leaves, p_ops in probes:
            _judge(module, p_leaves, p_ops)
        _judge(module, leaves, ops)

    return Case(
        text(
            f"{len(probes)} small graphs (+, *, numbers, **, tanh, exp, a + a, a * a, a "
            f"diamond), then {len(leaves)} leaves and {len(ops)} operations",
            f"{len(probes)} 个小图（+、*、与数字运算、**、tanh、exp、a + a、a * a、菱形），"
            f"然后是 {len(leaves)} 个叶子和 {len(ops)} 个运算",
        ),
        check,
    )

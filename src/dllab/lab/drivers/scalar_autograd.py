"""Child side of scalar_autograd: build an expression graph of the learner's Values, backprop.

A graph is `leaves` (numbers) and `ops`, each [op, i, arg] making a new node from node i:
"add"/"mul" with node arg, "addc"/"mulc" with the number arg on the right, "radd"/"rmul" with
it on the left, "pow" with the exponent arg, "tanh"/"exp" alone. The last node is the output.
"""

OPS = {
    "add": ("Value.__add__", lambda a, b: a + b),
    "mul": ("Value.__mul__", lambda a, b: a * b),
    "addc": ("Value.__add__", lambda a, c: a + c),
    "mulc": ("Value.__mul__", lambda a, c: a * c),
    "radd": ("Value.__radd__", lambda a, c: c + a),
    "rmul": ("Value.__rmul__", lambda a, c: c * a),
    "pow": ("Value.__pow__", lambda a, c: a**c),
    "tanh": ("Value.tanh", lambda a, _: a.tanh()),
    "exp": ("Value.exp", lambda a, _: a.exp()),
}


def run(learner, leaves, ops):
    """Every node's data and grad after output.backward(), or what was not a Value."""
    nodes = [learner.call("Value", x) for x in leaves]
    kind = type(nodes[0])
    for op, i, arg in ops:
        label, fn = OPS[op]
        other = nodes[arg] if op in ("add", "mul") else arg
        out = learner.invoke(label, fn, nodes[i], other)
        if not isinstance(out, kind):
            return {"not_value": label, "type": type(out).__name__}
        nodes.append(out)
    learner.invoke("Value.backward", _backward, nodes[-1])
    data = [learner.invoke("Value.data", _number, v, "data") for v in nodes]
    grad = [learner.invoke("Value.grad", _number, v, "grad") for v in nodes]
    return {"data": data, "grad": grad}


def _backward(value):
    value.backward()


def _number(value, attribute):
    return float(getattr(value, attribute))

"""Exercise scalar_autograd: a tiny autograd engine for scalars, like Karpathy's micrograd.

A `Value` wraps one number (`data`) and, after `backward()`, holds dL/d(this value) in `grad`,
where L is the Value that `backward` was called on. Every operation returns a NEW Value that
remembers its inputs (`_prev`) and a function `_backward` that, given the new Value's grad,
adds the right share to its inputs' grads (the chain rule, one node at a time):

    a = Value(2.0); b = Value(-3.0)
    c = a * b + a          # a is used twice
    d = c.tanh()
    d.backward()           # fills d.grad, c.grad, b.grad, a.grad …
    a.grad                 # = dd/da, both uses of `a` added together

Plain Python: `math` is enough, and torch is refused. The grader builds random graphs of your
Values (with `+`, `*`, numbers on either side, `**` a number, `tanh`, `exp`, nodes used more
than once) and compares every data and grad with torch autograd. Grade it with
`dllab lab check scalar_autograd`.
"""

from __future__ import annotations

import math  # noqa: F401  (math.tanh and math.exp will be useful)


class Value:
    """A scalar in a computation graph: `data`, `grad` and how to send the grad back."""

    def __init__(self, data: float, _children: tuple = ()) -> None:
        """Store data as a float, grad = 0.0, _backward = a function that does nothing, and
        _prev = the Values this one was made from.

        TODO: four attributes.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def __add__(self, other: Value | float) -> Value:
        """self + other, where other may be a plain number (wrap it in a Value first).

        TODO: make `out`, then define its _backward (each input gets out.grad times the local
        derivative, ADDED to what it already has) and attach it.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def __radd__(self, other: float) -> Value:
        """other + self when other is a number (Python calls this after float.__add__ fails).

        TODO: one line.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def __mul__(self, other: Value | float) -> Value:
        """self * other, where other may be a plain number.

        TODO: like __add__, with the local derivatives of a product.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def __rmul__(self, other: float) -> Value:
        """other * self when other is a number.

        TODO: one line.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def __pow__(self, exponent: float) -> Value:
        """self ** exponent, where exponent is a plain number (not a Value).

        TODO: the power rule in _backward.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def tanh(self) -> Value:
        """tanh(self).

        TODO: keep t = math.tanh(self.data); the local derivative can be written with t.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def exp(self) -> Value:
        """exp(self).

        TODO: the local derivative of exp is easy to remember.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

    def backward(self) -> None:
        """Fill in .grad of every Value this one depends on (dL/dv, with L = self).

        TODO: list the nodes in topological order (a node after all its inputs: a depth-first
        search that appends a node once its children are done), set self.grad = 1.0, then
        call each node's _backward in REVERSE order, each exactly once.
        """
        raise NotImplementedError("Need to implement for exercise scalar_autograd")

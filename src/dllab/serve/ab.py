"""A/B testing: which variant answers a request, and the log its outcomes are judged from.

Assignment hashes the request's key (sha256, so it does not change between processes or
Python versions, unlike `hash`) to a point in [0, 1) and picks the variant whose share of
the split covers it: the same key always meets the same variant, and over many keys each
variant gets its share. A request without a key is assigned by its random id.

In shadow mode the first variant answers every request and the others are scored on the
same input without being returned, so a candidate is judged on live traffic at no risk.

The log is JSON Lines: one `assign` line per (request, variant) with the predicted label,
one `feedback` line when the true label arrives. Each line is written whole with one
`write` on a file opened for appending, under a lock, so lines never interleave.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from dllab.errors import InputError

__all__ = ["AbLog", "Router", "parse_split"]


def parse_split(split: str | None, n: int) -> list[float]:
    """Traffic shares of `n` variants: "0.9" gives the first 0.9 and the rest equal parts
    of 0.1; "0.5,0.3,0.2" gives each its own. None: equal shares."""
    if split is None:
        return [1.0 / n] * n
    try:
        parts = [float(p) for p in split.split(",")]
    except ValueError as exc:
        raise InputError(f"--split {split!r} is not numbers; e.g. --split 0.9") from exc
    if n == 1:
        raise InputError("--split needs two or more runs to split traffic between")
    if len(parts) == 1:
        parts += [(1.0 - parts[0]) / (n - 1)] * (n - 1)
    if len(parts) != n or min(parts) < 0 or abs(sum(parts) - 1.0) > 1e-6:
        raise InputError(
            f"--split {split!r} does not give {n} shares >= 0 summing to 1; "
            f"give one share for the first run (e.g. 0.9) or {n} comma-separated shares"
        )
    return parts


def key_point(key: str) -> float:
    """A stable point in [0, 1) for `key`."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class Router:
    """Picks the variant that answers a key; `shadow` also names those scored silently."""

    def __init__(self, names: list[str], shares: list[float], shadow: bool = False) -> None:
        self.names, self.shares, self.shadow = names, shares, shadow

    def assign(self, key: str) -> tuple[str, list[str]]:
        """(the variant that answers, the variants scored in its shadow)."""
        if self.shadow:
            return self.names[0], self.names[1:]
        point, edge = key_point(key), 0.0
        for name, share in zip(self.names, self.shares, strict=True):
            edge += share
            if point < edge:
                return name, []
        return self.names[-1], []  # rounding: the top of the last share


class AbLog:
    """The JSONL log of assignments and feedback, and the recent predictions by request id
    (what `/feedback` checks a label against)."""

    def __init__(self, path: Path | None, remember: int = 100_000) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.recent: OrderedDict[str, dict[str, str]] = OrderedDict()  # id -> variant -> label
        self.remember = remember
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115  open for the app's life

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps({"time": round(time.time(), 3), **record}) + "\n"
        with self.lock:
            self.file.write(line)
            self.file.flush()

    def assigned(self, rid: str, key: str, variant: str, label: str, shadow: bool) -> None:
        with self.lock:
            self.recent.setdefault(rid, {})[variant] = label
            while len(self.recent) > self.remember:
                self.recent.popitem(last=False)
        self._write(
            {
                "event": "assign",
                "id": rid,
                "key": key,
                "variant": variant,
                "label": label,
                "shadow": shadow,
            }
        )

    def feedback(self, rid: str, label: str) -> dict[str, bool] | None:
        """Record the true label of request `rid`; per variant whether it was right (None:
        an id this server does not remember)."""
        with self.lock:
            predicted = self.recent.get(rid)
        if predicted is None:
            return None
        self._write({"event": "feedback", "id": rid, "label": label})
        return {v: p == label for v, p in predicted.items()}

    def close(self) -> None:
        if self.path is not None:
            with self.lock:
                self.file.close()

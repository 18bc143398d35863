"""word2vec.c's binary vectors file, which gensim's `KeyedVectors` also reads and writes.

The format: a header line `V D`, then per token its UTF-8 bytes, a space and `D` little-endian
float32, and a newline. `KeyedVectors.load_word2vec_format(path, binary=True)` reads what
`write_word2vec_binary` writes, and `read_word2vec_binary` reads it back exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["read_word2vec_binary", "write_word2vec_binary"]


def write_word2vec_binary(tokens: list[str], vectors: torch.Tensor, path: Path) -> Path:
    """Write `tokens` and their `vectors (V, D)` (as float32) to `path`; returns `path`.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "v.bin"
    >>> read_word2vec_binary(write_word2vec_binary(["好", "书"], torch.eye(2), p))[0]
    ['好', '书']
    """
    data = vectors.float().numpy().astype("<f4")
    with path.open("wb") as f:
        f.write(f"{len(tokens)} {data.shape[1]}\n".encode())
        for token, row in zip(tokens, data, strict=True):
            f.write(token.encode("utf-8") + b" " + row.tobytes() + b"\n")
    return path


def read_word2vec_binary(path: Path) -> tuple[list[str], torch.Tensor]:
    """Tokens and their vectors `(V, D)` float32 from a file `write_word2vec_binary` wrote."""
    raw = Path(path).read_bytes()
    header, _, body = raw.partition(b"\n")
    n, dim = (int(x) for x in header.split())
    tokens, rows, at = [], np.empty((n, dim), dtype="<f4"), 0
    for i in range(n):
        space = body.index(b" ", at)
        tokens.append(body[at:space].decode("utf-8"))
        at = space + 1 + 4 * dim
        rows[i] = np.frombuffer(body[space + 1 : at], dtype="<f4")
        at += 1  # the newline after each vector
    return tokens, torch.from_numpy(rows)

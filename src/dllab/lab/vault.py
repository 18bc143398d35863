"""The reference solutions, kept as encoded package data rather than importable modules.

A learner who wants the answer before passing has to decode `solutions_data/NAME.dat` on
purpose (compressed, XORed with a fixed keystream, base85): no `import`, symlink or `grep`
finds it by accident. This is a speed bump, not a secret — the key is in this file, and a
learner with a debugger can read anything on their own machine. `dllab lab solution NAME`
shows a solution once the exercise has passed.

Authors add or update a reference with `python -m dllab.lab.vault NAME FILE`.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import zlib
from importlib import resources
from pathlib import Path

MAGIC = b"dllab-lab solution v1\n"
_KEY = b"dllab-lab: the reference opens after your check passes"
FOLDER = "solutions_data"


def _keystream(n: int) -> bytes:
    blocks = (hashlib.sha256(_KEY + i.to_bytes(8, "big")).digest() for i in range(n // 32 + 1))
    return b"".join(blocks)[:n]


def encode(source: str) -> bytes:
    """The .dat bytes of a solution's source."""
    packed = zlib.compress(source.encode("utf-8"), 9)
    mixed = bytes(a ^ b for a, b in zip(packed, _keystream(len(packed)), strict=True))
    return MAGIC + base64.b85encode(mixed) + b"\n"


def decode(data: bytes) -> str:
    """The source a .dat holds; `ValueError` when it is not one."""
    if not data.startswith(MAGIC):
        raise ValueError("not a dllab-lab solution file")
    mixed = base64.b85decode(data[len(MAGIC) :].strip())
    packed = bytes(a ^ b for a, b in zip(mixed, _keystream(len(mixed)), strict=True))
    return zlib.decompress(packed).decode("utf-8")


def read(name: str) -> str:
    """The reference solution of exercise `name` (an exact name from the catalog)."""
    data = resources.files("dllab.lab").joinpath(f"{FOLDER}/{name}.dat").read_bytes()
    return decode(data)


def main(argv: list[str]) -> None:
    """`python -m dllab.lab.vault NAME FILE`: store FILE as the reference of NAME."""
    name, file = argv
    target = Path(__file__).parent / FOLDER / f"{name}.dat"
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(encode(Path(file).read_text(encoding="utf-8")))
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])

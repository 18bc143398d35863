"""Layer one virtual environment over another: LAYER's own packages first, BASE's after them.

litert-torch pins typing-extensions below 4.13 (through xdsl 0.28), and the serving stack's
pydantic 2.14 needs 4.16 or later, so `--format tflite` cannot share `.venv`. Rather than
install torch a second time, `make install-tflite` builds `.venv-tflite` with only what
litert-torch brings (and the older pydantic it needs) and reaches everything else in `.venv`
through a `.pth` file. `site.addsitedir` (not a bare path line) so that BASE's own `.pth`
files, such as the editable dllab's, are read too.

    python scripts/layer_venv.py BASE_VENV LAYER_VENV
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PTH = "zz_dllab_base.pth"  # sorted last: LAYER's own .pth files run first


def purelib(venv: Path) -> Path:
    """The site-packages folder of `venv`, as its own interpreter names it."""
    out = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    base, layer = (Path(a).resolve() for a in argv)
    for venv in (base, layer):
        if not (venv / "bin" / "python").exists():
            print(f"{venv} is not a virtual environment (no bin/python)", file=sys.stderr)
            return 2
    line = f"import site; site.addsitedir({str(purelib(base))!r})\n"
    (purelib(layer) / PTH).write_text(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

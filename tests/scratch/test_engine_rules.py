"""The rules of dllab.scratch: NumPy only, small readable files, torch-free imports."""

import subprocess
import sys
from pathlib import Path

import dllab.scratch

SCRATCH = Path(dllab.scratch.__file__).parent
MAX_LINES = 400  # per file; past ~400 a file is usually two things (STYLE.md, convention 2)


def test_no_file_in_scratch_imports_torch():
    offenders = [
        f"{path.relative_to(SCRATCH)}:{number}"
        for path in SCRATCH.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.strip().startswith(("import torch", "from torch"))
    ]
    assert offenders == []


def test_importing_scratch_loads_neither_torch_nor_scipy():
    code = "import sys, dllab.scratch; print(sorted({'torch', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_scratch_file_stays_within_the_line_budget():
    sizes = {p.name: len(p.read_text().splitlines()) for p in SCRATCH.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}

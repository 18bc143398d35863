"""scripts/layer_venv.py: a layered environment finds its own packages first, the base's after
them (the base's own .pth files included), and bad arguments are refused in one line."""

import subprocess
import sys
import venv
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "layer_venv.py"


def _purelib(env: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([env / "bin" / "python", "-c", code], capture_output=True, text=True)
    return Path(out.stdout.strip())


def test_the_layer_shadows_the_base_and_still_reads_its_pth_files(tmp_path):
    base, layer = tmp_path / "base", tmp_path / "layer"
    for env in (base, layer):
        venv.create(env, with_pip=False)
    (_purelib(base) / "shared.py").write_text("WHERE = 'base'\n")
    (_purelib(base) / "only_in_base.py").write_text("WHERE = 'base'\n")
    (tmp_path / "editable").mkdir()  # as an editable install's .pth adds its source folder
    (tmp_path / "editable" / "from_pth.py").write_text("WHERE = 'editable'\n")
    (_purelib(base) / "editable.pth").write_text(str(tmp_path / "editable") + "\n")
    (_purelib(layer) / "shared.py").write_text("WHERE = 'layer'\n")

    done = subprocess.run([sys.executable, SCRIPT, base, layer], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    code = "import shared, only_in_base, from_pth; print(shared.WHERE, only_in_base.WHERE, from_pth.WHERE)"
    out = subprocess.run([layer / "bin" / "python", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["layer", "base", "editable"], out.stderr


def test_a_folder_that_is_not_an_environment_is_refused_in_one_line(tmp_path):
    venv.create(tmp_path / "base", with_pip=False)
    done = subprocess.run(
        [sys.executable, SCRIPT, tmp_path / "base", tmp_path / "nothing"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "nothing is not a virtual environment" in done.stderr
    done = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True)
    assert done.returncode == 2 and "layer_venv.py BASE_VENV LAYER_VENV" in done.stderr

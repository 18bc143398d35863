"""plan_outputs: every destination of a predict refused before any file is written."""

from pathlib import Path

import pytest

from dllab.errors import InputError
from dllab.tasks.outputs import plan_outputs


def test_two_inputs_that_would_write_one_file_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "scan.seg.nii.gz"
    with pytest.raises(InputError, match="a/scan.nii.gz and b/scan.nii.gz would both write"):
        plan_outputs([("a/scan.nii.gz", [out]), ("b/scan.nii.gz", [out])], force=True)


def test_an_existing_file_needs_force(tmp_path: Path) -> None:
    kept = tmp_path / "street.mask.png"
    kept.write_bytes(b"the user's")
    plans = [("new.png", [tmp_path / "new.mask.png"]), ("street.png", [kept])]
    with pytest.raises(InputError, match="already exists.*--force"):
        plan_outputs(plans, force=False)
    plan_outputs(plans, force=True)
    assert kept.read_bytes() == b"the user's"  # planning writes nothing
    assert not (tmp_path / "new.mask.png").exists()

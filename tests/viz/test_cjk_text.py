"""Chinese text renders in every dllab picture (issue 13): class names, titles, ticks."""

import numpy as np
import pytest
from matplotlib import font_manager
from PIL import Image

from dllab.viz import plot_confusion
from dllab.viz.figure import new_figure, save_figure
from dllab.viz.fonts import cjk_font, needs_cjk

needs_font = pytest.mark.skipif(cjk_font() is None, reason="no CJK font installed")


def _title_only(text, path):
    fig = new_figure(2, 1)
    fig.suptitle(text, fontsize=20)
    return np.asarray(Image.open(save_figure(fig, path)).convert("L"))


@needs_font
def test_two_chinese_characters_draw_as_two_different_glyphs(tmp_path):
    # Without a CJK font both would be the same empty box ("tofu"), pixel for pixel.
    a, b = _title_only("好", tmp_path / "a.png"), _title_only("坏", tmp_path / "b.png")
    assert (a < 128).sum() > 20 and (b < 128).sum() > 20  # something was drawn
    assert (a != b).sum() > 20


@needs_font
def test_chinese_class_names_in_a_confusion_matrix_render(tmp_path):
    cm = np.array([[5, 1], [2, 7]])
    one = np.asarray(Image.open(plot_confusion(cm, ["正面", "负面"], tmp_path / "1.png")))
    two = np.asarray(Image.open(plot_confusion(cm, ["正面", "反面"], tmp_path / "2.png")))
    assert one.shape == two.shape and (one != two).any()


def test_what_counts_as_cjk():
    assert needs_cjk("负面") and needs_cjk("ｆｕｌｌ") and needs_cjk("한국")
    assert not needs_cjk("négatif, 3.5 — ok")


def test_without_a_cjk_font_one_line_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda: ["/fonts/DejaVuSans.ttf"])
    assert cjk_font.__wrapped__() is None
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("note: no font with Chinese glyphs") and "fonts-wqy-microhei" in line

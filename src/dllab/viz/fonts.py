"""A font with Chinese glyphs for plots of Chinese tokens (attention maps, embeddings).

matplotlib's default font has none, so each character would show as a box. Debian's
`fonts-wqy-microhei` is what CI installs; the other families are what Linux, macOS and Windows
machines commonly have.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = ["CJK_FONTS", "cjk_font", "needs_cjk", "use_cjk_where_needed"]

CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)
# File-name stems of the same fonts, for fonts installed after matplotlib built its cache
_CJK_FILES = (
    "wqy",
    "notosanscjk",
    "notoserifcjk",
    "notosanssc",
    "sourcehansans",
    "droidsansfallback",
    "uming",
)


@cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None (with a note).

    Fonts installed after matplotlib built its font cache are found by file name and added.
    """
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found:
        return found
    for path in font_manager.findSystemFonts():
        if any(key in Path(path).name.lower().replace("-", "") for key in _CJK_FILES):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    print(  # one line, once a process, not a warning's two lines of source position
        "note: no font with Chinese glyphs found; Chinese text in pictures shows as boxes "
        "(install one, e.g. `apt-get install fonts-wqy-microhei` or Noto Sans CJK)",
        file=sys.stderr,
    )
    return None


def needs_cjk(text: str) -> bool:
    """True when `text` has CJK characters (ideographs, kana, hangul, full-width forms)."""
    return any(
        "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef"
        for ch in text
    )


def use_cjk_where_needed(fig: Figure) -> None:
    """Give every text of `fig` holding CJK characters a CJK font, the default one kept
    first for Latin letters and digits (matplotlib falls back glyph by glyph), so Chinese
    class names, tokens and titles render in every dllab picture."""
    texts = [t for t in fig.findobj(Text) if needs_cjk(t.get_text())]
    if not texts or not (font := cjk_font()):
        return
    for text in texts:
        text.set_fontfamily([*matplotlib.rcParams["font.sans-serif"][:1], font])

"""A font with Chinese glyphs for plots of Chinese tokens (attention maps, embeddings).

matplotlib's default font has none, so each character would show as a box. Debian's
`fonts-wqy-microhei` is what CI installs; the other families are what Linux, macOS and Windows
machines commonly have.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

from matplotlib import font_manager

__all__ = ["CJK_FONTS", "cjk_font"]

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
    """The family name of an installed font with Chinese glyphs, or None (with a warning).

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
    warnings.warn(
        "no font with Chinese glyphs found; Chinese tokens will show as boxes "
        "(install one, e.g. `apt-get install fonts-wqy-microhei`)",
        stacklevel=2,
    )
    return None

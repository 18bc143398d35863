"""English -> Chinese sentence pairs from the gettext catalogues installed on the machine.

Every program translated with GNU gettext installs, per language, a compiled catalogue
`/usr/share/locale/<lang>/LC_MESSAGES/<domain>.mo`: pairs of an English message (`msgid`) and
its translation (`msgstr`), written by volunteer translators. The zh_CN catalogues of a Debian
system hold tens of thousands of such pairs (menu labels, error messages, help texts); this
module reads them into a parallel corpus for the translation task.

The `.mo` layout (GNU gettext manual, section 10.3 "The Format of GNU MO Files"): a 28-byte
header (magic 0x950412de in the file's byte order, revision, number of strings N, offsets of
the original and translation tables), then two tables of N (length, offset) pairs pointing at
NUL-terminated strings. Inside a string:

- `context \\x04 msgid`: a message context (`msgctxt`), which disambiguates equal msgids;
- `singular \\x00 plural`: a plural message; its msgstr holds the forms separated by NUL, and
  we keep the singular with the first form (Chinese has one form anyway);
- the entry with an empty msgid is the header (`Content-Type: ...; charset=...`), not a pair.

Cleaning keeps a pair only if what a program substitutes or parses is consistent on both
sides, and counts every reason a pair is dropped (`PairStats`):

- placeholders: printf conversions (`%s`, `%d`, `%.*s`, `%2$s` with its argument number) and
  brace fields (`{0}`, `{name}`, `{}`) must be the same multiset;
- keyboard accelerators (`_File`, `&File`; zh_CN writes `文件(_F)`) must be on both sides or on
  neither, with the same key; they are then removed from both;
- markup tags (Pango/HTML: `<b>`, `</span>`…) must match;
- a trailing newline and a trailing colon (`:` or `：`) must be on both sides or neither;
- untranslated (empty) and identical pairs, and targets without a Chinese character, go.

Then whitespace runs become one space, repeated pairs are dropped, and an English text with
several translations keeps its most frequent one. The split is a hash of the English text
(`split_of`), so a pair never changes side when more catalogues are installed.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dllab.data.catalog import get_spec
from dllab.errors import DataError

__all__ = [
    "LOCALE_ROOTS",
    "Message",
    "MoFormatError",
    "PairCorpus",
    "PairStats",
    "TranslationPair",
    "clean_pair",
    "find_catalogues",
    "load_gettext_pairs",
    "parse_mo",
    "read_mo",
    "split_of",
]

LOCALE_ROOTS = (Path("/usr/share/locale"), Path("/usr/share/locale-langpack"))
DATASET = "gettext-en-zh"  # the catalog entry (Debian packages that install the catalogues)
_MAGIC = 0x950412DE


class MoFormatError(ValueError):
    """A file is not a valid compiled gettext catalogue (counted by the loader, not fatal)."""


@dataclass(frozen=True)
class Message:
    """One entry of a catalogue, plural forms reduced to the singular and the first form."""

    msgid: str
    msgstr: str
    context: str | None = None  # msgctxt, when the entry has one
    plural: bool = False  # msgid had a plural form


# ---------------------------------------------------------------- the .mo binary format
def parse_mo(data: bytes, *, name: str = "catalogue") -> tuple[dict[str, str], list[Message]]:
    """Decode a compiled catalogue: (header fields, messages in file order, header excluded).

    Both byte orders are read; strings are decoded with the header's charset (UTF-8 when it
    names none). Raises `MoFormatError` on a bad magic number, an unknown major revision or a
    table or string that runs past the end of the file.

    >>> header, msgs = parse_mo(open("/usr/share/locale/zh_CN/LC_MESSAGES/sed.mo", "rb").read())
    ... # doctest: +SKIP
    """
    if len(data) < 28:
        raise MoFormatError(f"{name}: {len(data)} bytes is too short for a .mo header (28)")
    for order in ("<", ">"):
        if struct.unpack(order + "I", data[:4])[0] == _MAGIC:
            break
    else:
        raise MoFormatError(f"{name}: not a gettext .mo file (magic {data[:4].hex()})")
    revision, n, orig_at, trans_at = struct.unpack(order + "4I", data[4:20])
    if revision >> 16 > 1:
        raise MoFormatError(f"{name}: unknown .mo major revision {revision >> 16}")

    def table(at: int) -> list[bytes]:
        if at + 8 * n > len(data):
            raise MoFormatError(f"{name}: string table at {at} runs past the end of the file")
        out = []
        for i in range(n):
            length, offset = struct.unpack(order + "2I", data[at + 8 * i : at + 8 * i + 8])
            if offset + length > len(data):
                raise MoFormatError(f"{name}: string {i} runs past the end of the file")
            out.append(data[offset : offset + length])
        return out

    originals, translations = table(orig_at), table(trans_at)
    header: dict[str, str] = {}
    charset = "utf-8"
    for raw_id, raw_str in zip(originals, translations, strict=True):
        if raw_id == b"":  # the header entry: "Field: value" lines
            for line in raw_str.decode("ascii", "replace").splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    header[key.strip()] = value.strip()
            found = re.search(r"charset=([\w.-]+)", header.get("Content-Type", ""))
            if found and found.group(1).upper() != "CHARSET":
                charset = found.group(1)
    messages = []
    for raw_id, raw_str in zip(originals, translations, strict=True):
        if raw_id == b"":
            continue
        try:
            msgid, msgstr = raw_id.decode(charset), raw_str.decode(charset)
        except (UnicodeDecodeError, LookupError) as exc:
            raise MoFormatError(f"{name}: a message is not valid {charset} ({exc})") from exc
        context, sep, rest = msgid.partition("\x04")
        if not sep:
            context, rest = None, msgid
        singular, nul, _ = rest.partition("\x00")
        messages.append(Message(singular, msgstr.split("\x00")[0], context, plural=bool(nul)))
    return header, messages


def read_mo(path: str | Path) -> list[Message]:
    """The messages of the `.mo` file at `path` (see `parse_mo`)."""
    path = Path(path)
    return parse_mo(path.read_bytes(), name=str(path))[1]


# ---------------------------------------------------------------- cleaning
_PRINTF = re.compile(
    r"%(?:(?P<pos>\d+)\$)?[-+ #0']*(?:\d+|\*(?:\d+\$)?)?(?:\.(?:\d+|\*(?:\d+\$)?))?"
    r"(?P<len>hh|h|ll|l|L|q|j|z|Z|t|I64|I32|I)?(?P<conv>[diouxXeEfFgGaAcspnmC%S])"
)
_BRACE = re.compile(r"(?<!\{)\{([A-Za-z_]\w*|\d*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")
# Pango markup and the HTML inline tags that UI strings use. `<name>`, `<link>`, `<ref>` in
# usage texts are argument names that translators translate, not markup.
_MARKUP_TAGS = "a|b|big|i|s|sub|sup|small|tt|u|span|markup|br|p|em|strong|code|kbd|ul|ol|li|div"
_TAG = re.compile(rf"<(/?)({_MARKUP_TAGS})(\s[^<>]*)?(/?)>", re.IGNORECASE)
# zh_CN marks the accelerator after the label: "文件(_F)", "打开(&O)", full-width parens too.
_TARGET_ACCEL = re.compile(r"\s*[(（][_&]([^\s)）])[)）]")
_ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")


def placeholders(text: str) -> Counter[str]:
    """The placeholders of `text` as a multiset, numbered by argument position.

    printf conversions without `n$` take the arguments in order, so `"%s: %d"` gives
    `{"1:s", "2:d"}`, the same as a translation's reordered `"%2$d：%1$s"`; `%%` is not one.
    Brace fields (`{0}`, `{name}`, `{}`) count by their text.

    >>> sorted(placeholders("%s has %d files"))
    ['1:s', '2:d']
    """
    found: Counter[str] = Counter()
    position = 0
    for m in _PRINTF.finditer(text):
        if m.group("conv") == "%":
            continue
        position += 1
        index = int(m.group("pos")) if m.group("pos") else position
        found[f"{index}:{m.group('len') or ''}{m.group('conv')}"] += 1
    for m in _BRACE.finditer(text):
        found["{" + m.group(1) + "}"] += 1
    return found


def markup(text: str) -> Counter[str]:
    """Markup tags of `text` by name, opening and closing apart: `<b>x</b>` -> {b, /b}.

    A tag counts when it is unmistakably markup: closed in the same text, with attributes,
    self-closing, or `<br>`; a lone `<p>` in a usage text is an argument name.
    """
    tags = [(m.group(1), m.group(2).lower(), m.group(3), m.group(4)) for m in _TAG.finditer(text)]
    closed = {name for slash, name, _, _ in tags if slash}
    return Counter(
        slash + name
        for slash, name, attrs, self_closing in tags
        if name in closed or attrs or self_closing or name == "br"
    )


def strip_accelerators(source: str, target: str) -> tuple[str, str] | None:
    """Remove the keyboard accelerator from both sides; None when the two disagree.

    zh_CN marks the key after the label (`打开(_O)`); the English text must then mark the same
    key with `_` or `&` (`_Open`, `Op_en`), and both marks are removed. Without a mark in the
    translation an underscore is left alone: in these catalogues it is far more often part of
    an identifier (`max_wal_size`, `Page_Up`) than an accelerator the translator dropped.

    >>> strip_accelerators("_Open File", "打开文件(_O)")
    ('Open File', '打开文件')
    """
    keys = _TARGET_ACCEL.findall(target)
    if not keys:
        return source, target
    if len(keys) > 1:
        return None
    marks = [
        m
        for m in re.finditer(r"[_&]([^\W_])", source)
        if m.group(1).casefold() == keys[0].casefold() and not _ENTITY.match(source, m.start())
    ]
    if not marks:
        return None
    at = marks[0].start()
    return source[:at] + source[at + 1 :], _TARGET_ACCEL.sub("", target, count=1)


def _ends_with_colon(text: str) -> bool:
    return text.rstrip().endswith((":", "："))


def clean_pair(source: str, target: str) -> tuple[str, str] | str:
    """The cleaned pair, or the reason (a `PairStats.dropped` key) it is not usable.

    >>> clean_pair("_Save as %s:", "另存为 %s(_S)：")
    ('Save as %s:', '另存为 %s：')
    >>> clean_pair("%d files", "文件")
    'placeholders'
    """
    if not target.strip():
        return "untranslated"
    if placeholders(source) != placeholders(target):
        return "placeholders"
    if markup(source) != markup(target):
        return "markup"
    if source.endswith("\n") != target.endswith("\n"):
        return "trailing newline"
    stripped = strip_accelerators(source, target)
    if stripped is None:
        return "accelerator"
    source, target = stripped
    if _ends_with_colon(source) != _ends_with_colon(target):
        return "trailing colon"
    source, target = _SPACES.sub(" ", source).strip(), _SPACES.sub(" ", target).strip()
    if not source:
        return "untranslated"
    if source == target:
        return "identical"
    if not _HAN.search(target):
        return "no Chinese in target"
    return source, target


# ---------------------------------------------------------------- the corpus
def split_key(source: str) -> str:
    """What the split hashes: the English text case-folded, letters and digits only, so that
    "Open file", "Open File…" and "open file:" land on the same side."""
    return "".join(c for c in source.casefold() if c.isalnum())


def split_of(source: str, val_fraction: float, test_fraction: float) -> str:
    """ "train", "val" or "test" from sha1(`split_key(source)`) mod 100: a pure function of
    the English text, so adding catalogues never moves an existing pair to another side.

    Buckets [0, 100 (1 - val - test)) train, then val, then the last `100 test` buckets test.
    """
    bucket = int.from_bytes(hashlib.sha1(split_key(source).encode()).digest()[:8], "big") % 100
    if bucket >= 100 - round(100 * test_fraction):
        return "test"
    if bucket >= 100 - round(100 * (test_fraction + val_fraction)):
        return "val"
    return "train"


@dataclass(frozen=True)
class TranslationPair:
    source: str  # English
    target: str  # Chinese (zh_CN)
    catalogue: str  # domain of the first catalogue that had it, e.g. "git"


@dataclass
class PairStats:
    """Counts a user needs to trust the corpus; `dllab run` writes `summary()` to the log."""

    catalogues: int = 0  # .mo files read
    unreadable: list[str] = field(default_factory=list)  # files that are not valid catalogues
    messages: int = 0  # entries read, header excluded
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> pairs
    kept: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    per_catalogue: Counter[str] = field(default_factory=Counter)  # domain -> kept pairs

    def summary(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in self.dropped.most_common())
        splits = " / ".join(f"{k} {v}" for k, v in self.per_split.items())
        bad = f"; {len(self.unreadable)} unreadable" if self.unreadable else ""
        return (
            f"{self.catalogues} catalogues{bad}, {self.messages} messages; dropped: {reasons}; "
            f"kept {self.kept} pairs ({splits})"
        )


@dataclass
class PairCorpus:
    train: list[TranslationPair]
    val: list[TranslationPair]
    test: list[TranslationPair]
    stats: PairStats
    checksums: dict[str, str]  # catalogue file name -> sha256, for env.json


def find_catalogues(
    language: str = "zh_CN", roots: Iterable[Path] | None = None, data_dir: str | Path | None = None
) -> list[Path]:
    """Every `<root>/<language>/LC_MESSAGES/*.mo`, sorted by file name (a domain found under
    two roots is read once, from the first). With `data_dir`, only the `.mo` files in that
    folder and in its `<language>/LC_MESSAGES`: the user's own catalogues."""
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        folders = [base, base / language / "LC_MESSAGES"]
    else:
        folders = [Path(r) / language / "LC_MESSAGES" for r in (roots or LOCALE_ROOTS)]
    seen: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.mo")) if folder.is_dir() else []:
            seen.setdefault(path.name, path)
    return sorted(seen.values(), key=lambda p: p.name)


def _missing_corpus(language: str, data_dir: str | Path | None) -> DataError:
    if data_dir is not None:
        return DataError(
            f"no .mo files in {data_dir} or {Path(data_dir) / language / 'LC_MESSAGES'}; "
            "give data.data_dir a folder of compiled gettext catalogues (msgfmt -o x.mo x.po)"
        )
    packages = " ".join(get_spec(DATASET).packages)
    return DataError(
        f"no {language} gettext catalogues (*.mo) found under "
        f"{', '.join(str(r / language / 'LC_MESSAGES') for r in LOCALE_ROOTS)}; install the "
        f"Debian packages that ship them: `apt-get install {packages}` (or pass a folder of "
        ".mo files as data.data_dir)"
    )


def load_gettext_pairs(
    *,
    language: str = "zh_CN",
    val_fraction: float = 0.05,
    test_fraction: float = 0.05,
    roots: Iterable[Path] | None = None,
    data_dir: str | Path | None = None,
) -> PairCorpus:
    """Read, clean, deduplicate and split every installed `language` catalogue.

    Each English text keeps one translation (its most frequent; ties: the catalogue first by
    name). Raises DataError naming the packages to install when no catalogue is found; files
    that are not valid catalogues are counted in `stats.unreadable`, not fatal.
    """
    paths = find_catalogues(language, roots, data_dir)
    if not paths:
        raise _missing_corpus(language, data_dir)
    stats = PairStats()
    checksums: dict[str, str] = {}
    candidates: dict[str, Counter[str]] = defaultdict(Counter)  # source -> target -> count
    first_seen: dict[tuple[str, str], str] = {}
    for path in paths:
        data = path.read_bytes()
        try:
            _, messages = parse_mo(data, name=str(path))
        except MoFormatError:
            stats.unreadable.append(path.name)
            continue
        stats.catalogues += 1
        checksums[path.name] = hashlib.sha256(data).hexdigest()
        for msg in messages:
            stats.messages += 1
            cleaned = clean_pair(msg.msgid, msg.msgstr)
            if isinstance(cleaned, str):
                stats.dropped[cleaned] += 1
                continue
            if cleaned in first_seen:
                stats.dropped["duplicate"] += 1
            else:
                first_seen[cleaned] = path.stem
            candidates[cleaned[0]][cleaned[1]] += 1
    splits: dict[str, list[TranslationPair]] = {"train": [], "val": [], "test": []}
    for source in sorted(candidates):
        targets = candidates[source]
        # most frequent; among equals, the one seen first (dict order = catalogue order)
        target = max(targets, key=lambda t: targets[t])
        stats.dropped["other translation of the same text"] += len(targets) - 1
        pair = TranslationPair(source, target, first_seen[(source, target)])
        splits[split_of(source, val_fraction, test_fraction)].append(pair)
        stats.per_catalogue[pair.catalogue] += 1
    stats.kept = sum(len(v) for v in splits.values())
    stats.per_split = {k: len(v) for k, v in splits.items()}
    return PairCorpus(splits["train"], splits["val"], splits["test"], stats, checksums)

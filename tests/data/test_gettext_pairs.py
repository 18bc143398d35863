"""The gettext reader: .mo files written here in msgfmt's layout (and by msgfmt itself when it
is installed), contexts and plurals, every cleaning rule, and a split that never moves."""

from __future__ import annotations

import gettext
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dllab.data.catalog import get_spec
from dllab.data.gettext_pairs import (
    LOCALE_ROOTS,
    MoFormatError,
    clean_pair,
    find_catalogues,
    load_gettext_pairs,
    markup,
    parse_mo,
    placeholders,
    read_mo,
    split_of,
)
from dllab.errors import DataError

HEADER = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=1; plural=0;\n"


def mo_bytes(entries: dict[str, str], *, big_endian: bool = False, header: str = HEADER) -> bytes:
    """A compiled catalogue as msgfmt lays it out (GNU gettext manual, "MO Files"): magic,
    revision 0, N, offsets of the two (length, offset) tables, an empty hash table, then the
    NUL-terminated strings, originals sorted by their bytes. Keys use the .mo spelling:
    `ctx\\x04id` for a context, `id\\x00plural` (value `form0\\x00form1`) for plurals."""
    order = ">" if big_endian else "<"
    items = sorted({"": header, **entries}.items(), key=lambda kv: kv[0].encode())
    n = len(items)
    originals_at, translations_at = 28, 28 + 8 * n
    strings_at = translations_at + 8 * n
    blob, tables = b"", {0: b"", 1: b""}
    for column in (0, 1):
        for item in items:
            raw = item[column].encode()
            tables[column] += struct.pack(order + "2I", len(raw), strings_at + len(blob))
            blob += raw + b"\x00"
    head = struct.pack(order + "7I", 0x950412DE, 0, n, originals_at, translations_at, 0, 0)
    return head + tables[0] + tables[1] + blob


ENTRIES = {
    "Open file": "打开文件",
    "menu\x04Open": "打开",  # a context
    "dialog\x04Open": "开放",  # same msgid, other context
    "%d file\x00%d files": "%d 个文件",  # a plural (Chinese has one form)
    "%s of %s": "%2$s 的 %1$s",  # reordered arguments
    "_Save": "保存(_S)",
    "Save _As:": "另存为(_A)：",
    "<b>Bold</b> text": "<b>粗体</b>文字",
    "Done\n": "完成\n",
}


def write_catalogue(folder: Path, name: str, entries: dict[str, str], **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mo"
    path.write_bytes(mo_bytes(entries, **kw))
    return path


# ---------------------------------------------------------------- the binary format
@pytest.mark.parametrize("big_endian", [False, True])
def test_contexts_plurals_and_header_are_decoded(tmp_path, big_endian):
    header, messages = parse_mo(mo_bytes(ENTRIES, big_endian=big_endian))
    assert header["Content-Type"] == "text/plain; charset=UTF-8"
    by_key = {(m.context, m.msgid): m for m in messages}
    assert len(messages) == len(ENTRIES)  # the header entry is not a message
    assert by_key[("menu", "Open")].msgstr == "打开"
    assert by_key[("dialog", "Open")].msgstr == "开放"
    plural = by_key[(None, "%d file")]
    assert plural.plural and plural.msgstr == "%d 个文件"


def test_our_layout_is_what_the_stdlib_gettext_reads(tmp_path):
    path = write_catalogue(tmp_path, "demo", ENTRIES)
    with path.open("rb") as f:
        t = gettext.GNUTranslations(f)
    assert t.gettext("Open file") == "打开文件"
    assert t.pgettext("dialog", "Open") == "开放"
    assert t.ngettext("%d file", "%d files", 3) == "%d 个文件"
    assert {m.msgid for m in read_mo(path)} >= {"Open file", "Open", "%d file"}


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt not installed")
def test_a_catalogue_compiled_by_msgfmt(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgctxt "menu"\nmsgid "Open"\nmsgstr "打开"\n\n'
        'msgid "%d file"\nmsgid_plural "%d files"\nmsgstr[0] "%d 个文件"\n\n'
        'msgid "Quit"\nmsgstr "退出"\n',
        encoding="utf-8",
    )
    subprocess.run(["msgfmt", "-o", str(tmp_path / "x.mo"), str(po)], check=True)
    got = {(m.context, m.msgid, m.msgstr, m.plural) for m in read_mo(tmp_path / "x.mo")}
    assert got == {
        ("menu", "Open", "打开", False),
        (None, "%d file", "%d 个文件", True),
        (None, "Quit", "退出", False),
    }


def test_broken_files_raise_a_format_error():
    good = mo_bytes(ENTRIES)
    with pytest.raises(MoFormatError, match="not a gettext .mo file"):
        parse_mo(b"\x00" * 40)
    with pytest.raises(MoFormatError, match="too short"):
        parse_mo(good[:10])
    with pytest.raises(MoFormatError, match="past the end"):
        parse_mo(good[:200])


# ---------------------------------------------------------------- cleaning rules
def test_placeholders_are_compared_by_argument_position():
    assert placeholders("%s of %s") == placeholders("%2$s 的 %1$s")
    assert sorted(placeholders("%s of %d")) == ["1:s", "2:d"]
    assert sorted(placeholders("%2$d 的 %1$s")) == ["1:s", "2:d"]
    assert placeholders("100%% done") == {}
    assert sorted(placeholders("{0} and {name}")) == ["{0}", "{name}"]
    assert placeholders("{{literal}}") == {}


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("%s of %s", "%2$s 的 %1$s", ("%s of %s", "%2$s 的 %1$s")),
        ("_Save", "保存(_S)", ("Save", "保存")),
        ("Save _As:", "另存为(_A)：", ("Save As:", "另存为：")),
        ("Op_en", "打开（_E）", ("Open", "打开")),
        ("&File", "文件(&F)", ("File", "文件")),
        ("set max_wal_size", "设置 max_wal_size", ("set max_wal_size", "设置 max_wal_size")),
        ("Done\n", "完成\n", ("Done", "完成")),
        ("<b>Bold</b> text", "<b>粗体</b>文字", ("<b>Bold</b> text", "<b>粗体</b>文字")),
        ("git add <pathspec>", "git add <路径规格>", ("git add <pathspec>", "git add <路径规格>")),
        ("two\n  lines", "两\n  行", ("two lines", "两 行")),
        ("%d files", "文件", "placeholders"),
        ("Hello {name}", "你好 {名字}", "placeholders"),
        ("%s: %s", "%s", "placeholders"),
        ("<b>Bold</b>", "粗体", "markup"),
        ("Done\n", "完成", "trailing newline"),
        ("Name:", "名称", "trailing colon"),
        ("_Places", "位置(_R)", "accelerator"),
        ("File", "", "untranslated"),
        ("GTK+", "GTK+", "identical"),
        ("%s: %s", "%s：%s", "no Chinese in target"),
    ],
)
def test_clean_pair_keeps_consistent_pairs_and_names_the_reason_otherwise(source, target, expected):
    assert clean_pair(source, target) == expected


def test_markup_counts_tags_not_argument_names():
    assert markup('<span weight="bold">x</span>') == {"span": 1, "/span": 1}
    assert markup("<p> and <b>") == {}  # unclosed, no attributes: argument names
    assert markup("line<br>next") == {"br": 1}


# ---------------------------------------------------------------- the corpus
def _corpus_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "locale" / "zh_CN" / "LC_MESSAGES"
    write_catalogue(folder, "app", {**ENTRIES, "Close": "关闭", "%d files": "文件"})
    write_catalogue(folder, "other", {"Open file": "打开文件", "Close": "合上", "Quit": "退出"})
    write_catalogue(folder, "more", {"Close": "关闭", "Help": "帮助"})
    (folder / "broken.mo").write_bytes(b"not a catalogue at all, just text")
    return tmp_path / "locale"


def test_load_counts_every_reason_and_keeps_the_majority_translation(tmp_path):
    corpus = load_gettext_pairs(roots=[_corpus_dir(tmp_path)], val_fraction=0.0, test_fraction=0.0)
    s = corpus.stats
    assert s.catalogues == 3 and s.unreadable == ["broken.mo"]
    assert s.messages == len(ENTRIES) + 2 + 3 + 2
    assert s.dropped["placeholders"] == 1  # "%d files" -> "文件"
    assert s.dropped["duplicate"] == 2  # "Open file" and "Close" -> "关闭" again
    # "Close" -> "合上" (outvoted by "关闭" twice), and "Open" in its second context
    assert s.dropped["other translation of the same text"] == 2
    assert s.messages == sum(s.dropped.values()) + s.kept
    pairs = {p.source: p.target for p in corpus.train}
    assert pairs["Close"] == "关闭" and pairs["Save"] == "保存" and pairs["Help"] == "帮助"
    assert pairs["Open"] in ("打开", "开放")  # two contexts, one English text, one kept
    assert set(corpus.checksums) == {"app.mo", "other.mo", "more.mo"}
    assert "kept" in s.summary() and "1 unreadable" in s.summary()


def test_split_is_a_pure_function_of_the_english_text():
    texts = [f"message number {i}" for i in range(4000)]
    sides = [split_of(t, 0.05, 0.05) for t in texts]
    assert 0.03 < sides.count("test") / 4000 < 0.07 and 0.03 < sides.count("val") / 4000 < 0.07
    # Case, punctuation and an accelerator-free spelling land on the same side.
    assert len({split_of(t, 0.05, 0.05) for t in ("Open File…", "open file", "Open file:")}) == 1


def test_more_catalogues_never_move_a_pair_to_another_side(tmp_path):
    root = _corpus_dir(tmp_path)
    before = load_gettext_pairs(roots=[root], val_fraction=0.3, test_fraction=0.3)
    extra = {f"Extra message {i}": f"额外消息 {i}" for i in range(200)}
    write_catalogue(root / "zh_CN" / "LC_MESSAGES", "zzz", extra)
    after = load_gettext_pairs(roots=[root], val_fraction=0.3, test_fraction=0.3)
    for side in ("train", "val", "test"):
        old = {p.source for p in getattr(before, side)}
        assert old <= {p.source for p in getattr(after, side)}
    assert after.stats.kept == before.stats.kept + 200


def test_no_catalogue_names_the_packages_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install git postgresql-15"):
        load_gettext_pairs(roots=[tmp_path / "nothing"])


def test_a_data_dir_replaces_the_installed_catalogues(tmp_path):
    root = _corpus_dir(tmp_path)
    mine = tmp_path / "mine"
    write_catalogue(mine, "app", {"Hello": "你好"})
    assert find_catalogues(roots=[root], data_dir=mine) == [mine / "app.mo"]
    corpus = load_gettext_pairs(data_dir=mine, val_fraction=0.0, test_fraction=0.0)
    assert [(p.source, p.target) for p in corpus.train] == [("Hello", "你好")]
    with pytest.raises(DataError, match="no .mo files in"):
        load_gettext_pairs(data_dir=tmp_path / "empty")


@pytest.mark.skipif(
    not find_catalogues(roots=LOCALE_ROOTS), reason="no zh_CN gettext catalogues installed"
)
def test_the_installed_catalogues():
    corpus = load_gettext_pairs()
    s = corpus.stats
    assert s.kept > 1000 and s.messages == sum(s.dropped.values()) + s.kept
    assert len(corpus.test) > 0.03 * s.kept
    assert not {p.source for p in corpus.train} & {p.source for p in corpus.test}


def test_ci_installs_every_package_the_catalog_names():
    script = (Path(__file__).parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    listed = script.split('packages="', 1)[1].split('"', 1)[0].split()
    assert set(get_spec("gettext-en-zh").packages) <= set(listed)

"""Outside text made safe to print and to write into Markdown."""

from __future__ import annotations

from cjgrade.display import has_unsafe_characters, markdown_text, printable


def test_printable_escapes_every_control_and_leaves_text_alone() -> None:
    """Escape sequences, bidi overrides, separators and undecodable bytes become visible
    escapes; ordinary text (accents, emoji, CJK) is unchanged; escaping twice changes nothing."""
    assert printable("\x1b]0;title\x07\x1b[2J") == "\\x1b]0;title\\x07\\x1b[2J"
    assert printable("a\u202eb\u2028c\udcff") == "a\\u202eb\\u2028c\\udcff"
    assert printable("line\nnext\ttab") == "line\\nnext\\ttab"
    assert printable("line\nnext", keep_newlines=True) == "line\nnext"
    for text in ("Smörgåsbord", "élève 😀", "作文", "C+ (42%)"):
        assert printable(text) == text and not has_unsafe_characters(text)
    once = printable("\x1b[31m")
    assert printable(once) == once


def test_markdown_text_is_inert() -> None:
    """HTML, links, emphasis, table pipes and code become literal text; an underscore inside
    a word stays as it is so essay ids read naturally."""
    assert markdown_text("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert markdown_text("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert markdown_text("a|b `c` *d*") == "a\\|b \\`c\\` \\*d\\*"
    assert markdown_text("student_01") == "student_01"
    assert markdown_text("_draft_") == "\\_draft\\_"
    assert markdown_text("\x1b[2J") == "\\\\x1b\\[2J"

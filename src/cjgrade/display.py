"""Text from outside (file names, labels, judge replies, provider errors) made safe to show.

A file name can carry terminal escape sequences (ESC ``[2J`` clears the screen, ESC ``]0;``
sets the window title), bidirectional overrides that make ``txt.exe`` read as ``exe.txt``,
line separators, or bytes that are not UTF-8 (Python keeps them as lone surrogates, which a
UTF-8 terminal cannot even encode). :func:`printable` shows every such character as a visible
escape (``\\x1b``, ``\\u202e``, ``\\udcff``) so what is printed or written is what the user can
read; everything else is left as it is. Every console line and Markdown cell that carries
outside text goes through it; :func:`markdown_text` also makes it inert in Markdown (a file
named ``<script>`` or ``[x](javascript:...)`` is shown, never rendered).
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = ["has_unsafe_characters", "markdown_text", "printable"]

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Controls, format characters (zero-width, bidi overrides), surrogates, private-use and
unassigned code points, and the Unicode line/paragraph separators."""


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """``str(value)`` with every control, format, surrogate and separator character escaped.

    ``keep_newlines`` keeps ``\\n`` (and tabs) as they are, for multi-line messages whose line
    structure is the program's own; the parts that came from outside must then have been
    passed through :func:`printable` already.
    """
    text = str(value)
    if not any(_unsafe(ch) for ch in text):
        return text
    return "".join(
        ch if not _unsafe(ch) or (keep_newlines and ch in "\n\t") else _escape(ch)
        for ch in text
    )


def has_unsafe_characters(text: str) -> bool:
    """True when :func:`printable` would change ``text``."""
    return any(_unsafe(ch) for ch in text)


_MARKDOWN_PUNCTUATION = re.compile(r"[\\`*\[\]|~!#]|(?<![^\W_])_|_(?![^\W_])")
"""Markdown syntax characters (backslash, code, emphasis, links, table pipes, strikethrough,
images, headings); ``_`` only where it can start or end emphasis (not inside a word, so
``student_01`` stays readable)."""


def markdown_text(value: object) -> str:
    """Outside text for a Markdown line or table cell: :func:`printable`, HTML escaped (``<``,
    ``>``, ``&``: no live HTML in a renderer) and Markdown punctuation backslash-escaped."""
    text = html.escape(printable(value), quote=False)
    return _MARKDOWN_PUNCTUATION.sub(lambda m: "\\" + m.group(0), text)

"""When a text can be given to a judge: the checks every text passes, wherever it came from
(an input folder, an upload through the API, a stored assignment).

Pure: no I/O. :mod:`cjgrade.runner.documents` reads files and then applies :func:`check_text`;
:func:`cjgrade.engine.spec.validate_spec` applies it to every text of a batch.
"""

from __future__ import annotations

import unicodedata

from cjgrade.errors import InputError

__all__ = ["MAX_TEXT_BYTES", "check_text", "is_blank", "size_text"]

MAX_TEXT_BYTES = 5 * 1024 * 1024
"""Largest text (UTF-8) the store accepts (``cjgrade.store.content.MAX_CONTENT_BYTES``);
checked here so ``plan`` refuses what ``run`` would."""

_INVISIBLE = frozenset("\u115f\u1160\u2800\u3164\uffa0")
"""Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern)."""


def size_text(n_bytes: int) -> str:
    """``812 bytes``, ``1.2 kB`` (KiB) or ``2.5 MB`` (MiB), one decimal."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    if n_bytes < 2**20:
        return f"{n_bytes / 1024:.1f} kB"
    return f"{n_bytes / 2**20:.1f} MB"


def is_blank(text: str) -> bool:
    """True when nothing in ``text`` would be visible: only whitespace (no-break spaces
    included), control and format characters (zero-width spaces and joiners, BOMs) and
    letters that render as nothing."""
    return all(
        ch.isspace() or ch in _INVISIBLE or unicodedata.category(ch)[0] in "CZ" for ch in text
    )


def check_text(text: str, what: str) -> str:
    """``text`` if a judge can be given it; else InputError naming ``what`` (printed as is,
    so pass it through :func:`printable`) and the fix.

    Refused: NUL characters (PostgreSQL cannot store them and no essay has them: a binary
    file), nothing visible (:func:`is_blank`) and more than :data:`MAX_TEXT_BYTES`.
    """
    if "\x00" in text:
        raise InputError(
            f"{what}: contains a NUL character (offset {text.index(chr(0))}), so it is not a "
            "plain-text document; save it as UTF-8 text"
        )
    if is_blank(text):
        raise InputError(
            f"{what}: contains no visible text (empty, only spaces or invisible characters, or "
            "a scanned PDF without a text layer); add the text or remove the file"
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise InputError(
            f"{what}: its text is {size_text(size)}, over the {size_text(MAX_TEXT_BYTES)} a "
            "text may have; check it is the file you meant, or split it"
        )
    return text

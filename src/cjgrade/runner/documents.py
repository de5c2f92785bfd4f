"""Read essay and instruction documents: ``.txt``, ``.md``, ``.docx`` and ``.pdf``.

This is the one reader of every command that takes a document from disk (``cjgrade run``,
``plan``, ``demo`` and ``cjgrade admin ... --file``). Every reader returns plain text or
raises :class:`cjgrade.errors.InputError` naming the file and what to do, so a folder with one
broken file is rejected before anything is spent. What it refuses, before reading a byte:

* anything that is not a regular file (a folder, a FIFO that would block forever, a device
  such as ``/dev/zero`` that never ends, a socket);
* a symbolic link that leads out of the allowed folders (``within``), so nothing outside the
  input folder is sent to a judge without the user putting it there;
* a file over ``max_bytes`` (:data:`DEFAULT_MAX_FILE_BYTES` unless the caller says otherwise);
* a ``.docx`` whose parts expand beyond :data:`MAX_DOCX_EXPANDED_BYTES` (a zip bomb).

and after reading: text that is not UTF-8, contains NUL, is longer than the store takes
(:data:`MAX_TEXT_BYTES`) or has nothing visible in it (:func:`is_blank`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from cjgrade.display import printable
from cjgrade.errors import InputError
from cjgrade.texts import check_text, size_text

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "SUPPORTED_SUFFIXES",
    "Document",
    "read_bytes",
    "read_document",
]

SUPPORTED_SUFFIXES = (".txt", ".md", ".docx", ".pdf")

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
"""Largest input file read (10 MiB). An essay is a few kB as text and rarely above 1 MB as a
.docx or .pdf with a picture; a larger file is almost always the wrong file. An input folder
can raise it with ``max_file_mb`` in ``config.toml``."""

MAX_DOCX_EXPANDED_BYTES = 100 * 1024 * 1024
"""Largest total uncompressed size of a .docx's parts (a zip bomb is refused unread)."""

_CONVERT_HINTS = {
    ".doc": "save it as .docx (Word: File > Save As)",
    ".rtf": "save it as .docx or .txt",
    ".odt": "save it as .docx (File > Save As)",
    ".pages": "export it as .docx or .pdf",
    ".html": "save it as .txt",
    ".htm": "save it as .txt",
}
@dataclass(frozen=True)
class Document:
    """A file read from disk: its text and the SHA-256 of its raw bytes."""

    path: Path
    text: str
    sha256: str
    n_bytes: int


def shown(path: Path | str) -> str:
    """A path as it may be printed (control characters escaped)."""
    return printable(path)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _refuse_special(path: Path, mode: int) -> NoReturn:
    raise InputError(
        f"{shown(path)}: is {_kind(mode)}, not a regular file; cjgrade reads only regular "
        "files: replace it with the file itself or remove it"
    )


def _refuse_size(path: Path, size: int, max_bytes: int, hint: str) -> NoReturn:
    raise InputError(
        f"{shown(path)}: is {size_text(size)}, over the {size_text(max_bytes)} limit for one "
        f"input file; {hint}"
    )


def _check_link(path: Path, within: Sequence[Path] | None) -> None:
    """Refuse a dangling symbolic link, or one leading out of ``within``."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # dangling, or a loop
        raise InputError(
            f"{shown(path)}: a symbolic link that leads nowhere ({exc.__class__.__name__}); "
            "replace it with the file itself"
        ) from None
    if within is not None and not any(target.is_relative_to(root) for root in within):
        raise InputError(
            f"{shown(path)}: a symbolic link to {shown(target)}, outside the input folder; "
            "cjgrade does not follow links out of it (their text would be sent to the judge): "
            "copy the file into the folder instead"
        )


def read_bytes(
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    within: Sequence[Path] | None = None,
    limit_hint: str = "",
) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, without blocking or following a
    link out of ``within`` (resolved folders; None: links are followed anywhere).

    Raises
    ------
    InputError
        Missing file, dangling or outside link, not a regular file, too large, unreadable.
    """
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            _check_link(path, within)
            info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{shown(path)}: does not exist; check the name") from None
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        _refuse_special(path, info.st_mode)  # not even opened: opening a device can act
    hint = limit_hint or "check it is the file you meant"
    if info.st_size > max_bytes:
        _refuse_size(path, info.st_size, max_bytes, hint)
    # O_NONBLOCK: a FIFO swapped in after the check must not wait for a writer; the fstat
    # below refuses it.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                _refuse_special(path, info.st_mode)
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:  # grew while we looked
        _refuse_size(path, len(raw), max_bytes, hint)
    return raw


def _decode_plain(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{shown(path)}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start});"
            " save it as UTF-8 text"
        ) from None


def _read_docx(path: Path, raw: bytes) -> str:
    import docx  # python-docx

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            expanded = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InputError(
            f"{shown(path)}: not a readable .docx file ({exc}); re-save it from Word"
        ) from None
    if expanded > MAX_DOCX_EXPANDED_BYTES:
        raise InputError(
            f"{shown(path)}: its parts expand to {size_text(expanded)} (limit "
            f"{size_text(MAX_DOCX_EXPANDED_BYTES)}); re-save it from Word or save it as .txt"
        )
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # BadZipFile, PackageNotFoundError, lxml errors: a corrupt file
        raise InputError(
            f"{shown(path)}: not a readable .docx file ({printable(exc)}); re-save it from Word"
        ) from None
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(paragraphs)


def _read_pdf(path: Path, raw: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs its repairs ("EOF marker not found") as warnings: a broken file is reported
    # once, as an InputError below, not as a stray line on the user's console.
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            raise InputError(f"{shown(path)}: the PDF is encrypted; export an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InputError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{shown(path)}: not a readable PDF ({printable(exc)}); re-export it"
        ) from None
    finally:
        pypdf_log.setLevel(level)
    return "\n".join(pages)


def unsupported_type(path: Path) -> str:
    """The message for a file whose type cannot be read, with the fix for that type."""
    suffix = path.suffix.lower()
    fix = _CONVERT_HINTS.get(suffix, f"use {', '.join(SUPPORTED_SUFFIXES)} or remove it")
    kind = f"file type '{printable(suffix)}'" if suffix else "file without a type suffix"
    return f"{shown(path)}: unsupported {kind}; {fix}"


def read_document(
    path: Path,
    *,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    within: Sequence[Path] | None = None,
    limit_hint: str = "",
) -> Document:
    """Read one document and return its text (whitespace-trimmed) and checksum.

    Parameters
    ----------
    path : the file (``.txt``, ``.md``, ``.docx`` or ``.pdf``).
    max_bytes : the largest file read (checked before reading).
    within : resolved folders a symbolic link may lead into (None: anywhere).
    limit_hint : what to do about a file over ``max_bytes`` (how to raise the limit).

    Raises
    ------
    InputError
        For an unsupported suffix, a special file, a link out of ``within``, a file over the
        limit, an unreadable or corrupt file, or one with no visible text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(unsupported_type(path))
    raw = read_bytes(path, max_bytes=max_bytes, within=within, limit_hint=limit_hint)
    if suffix in (".txt", ".md"):
        text = _decode_plain(path, raw)
    elif suffix == ".docx":
        text = _read_docx(path, raw)
    else:
        text = _read_pdf(path, raw)
    if suffix in (".docx", ".pdf"):
        text = text.replace("\x00", "")  # an extraction artefact of some fonts, not text
    text = check_text(text.strip(), shown(path))
    return Document(path=path, text=text, sha256=hashlib.sha256(raw).hexdigest(), n_bytes=len(raw))

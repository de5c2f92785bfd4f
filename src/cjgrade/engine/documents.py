"""Read essay and instruction documents: ``.txt``, ``.md``, ``.docx`` and ``.pdf``.

Every reader returns plain text or raises :class:`cjgrade.errors.InputError` naming the file,
so a folder with one broken file is rejected before anything is spent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cjgrade.errors import InputError

__all__ = ["SUPPORTED_SUFFIXES", "Document", "read_document"]

SUPPORTED_SUFFIXES = (".txt", ".md", ".docx", ".pdf")


@dataclass(frozen=True)
class Document:
    """A file read from disk: its text and the SHA-256 of its raw bytes."""

    path: Path
    text: str
    sha256: str
    n_bytes: int


def _read_plain(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8 text"
        ) from exc


def _read_docx(path: Path) -> str:
    import docx  # python-docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # BadZipFile, PackageNotFoundError, lxml errors: a corrupt file
        raise InputError(
            f"{path}: not a readable .docx file ({exc}); re-save it from Word"
        ) from exc
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(paragraphs)


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise InputError(f"{path}: the PDF is encrypted; export an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InputError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a readable PDF ({exc}); re-export it") from exc
    return "\n".join(pages)


def read_document(path: Path) -> Document:
    """Read one document and return its text (whitespace-trimmed) and checksum.

    Raises
    ------
    InputError
        For an unsupported suffix, an unreadable or corrupt file, or a file with no text.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(
            f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if suffix in (".txt", ".md"):
        text = _read_plain(path, raw)
    elif suffix == ".docx":
        text = _read_docx(path)
    else:
        text = _read_pdf(path)
    text = text.strip()
    if not text:
        raise InputError(f"{path}: contains no text (empty file or a scanned PDF without text)")
    return Document(path=path, text=text, sha256=hashlib.sha256(raw).hexdigest(), n_bytes=len(raw))

"""SOPs and manuals into searchable chunks with their references (heading path, page).

Markdown is split by its headings, each chunk carrying the path of headings above it
("Receiving > Inspection"); plain text by paragraphs; PDF page by page (pypdf), each
chunk carrying its page number. A file is known by its resolved path: loading it again
unchanged does nothing, loading a changed file replaces its chunks and their vectors.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store.doc_search import index_chunks
from opscopilot.store.models.search import Document, DocumentChunk
from opscopilot.store.vectors import delete_vectors

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".pdf"})
MAX_CHUNK_CHARS = 1200
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Status = Literal["new", "changed", "unchanged", "skipped"]


@dataclass(frozen=True)
class ParsedChunk:
    heading: str | None
    page: int | None
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    chunks: list[ParsedChunk]


@dataclass(frozen=True)
class DocumentLoad:
    path: str
    title: str | None
    status: Status
    chunks: int
    reason: str | None = None


class UnreadableDocument(ValueError):
    """The file cannot be turned into text (a broken or scanned PDF, an empty file)."""


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Supported files under the given files and folders (recursively), sorted, deduped."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
        elif path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            found.add(path)
    return sorted(p.resolve() for p in found)


def _pack(paragraphs: Sequence[str], *, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Paragraphs into chunks of at most `limit` characters; a longer paragraph is cut at
    sentence ends (or hard, for one endless sentence)."""
    pieces: list[str] = []
    for para in paragraphs:
        if len(para) <= limit:
            pieces.append(para)
            continue
        sentence_run = ""
        for sentence in _SENTENCE_END.split(para):
            while len(sentence) > limit:
                pieces.append(sentence[:limit])
                sentence = sentence[limit:]
            if sentence_run and len(sentence_run) + 1 + len(sentence) > limit:
                pieces.append(sentence_run)
                sentence_run = sentence
            else:
                sentence_run = f"{sentence_run} {sentence}".strip()
        if sentence_run:
            pieces.append(sentence_run)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > limit:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


def _paragraphs(lines: Sequence[str]) -> list[str]:
    out: list[str] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            block.append(line.rstrip())
        elif block:
            out.append("\n".join(block).strip())
            block = []
    return out


def parse_markdown(text: str, *, fallback_title: str) -> ParsedDocument:
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":  # YAML front matter
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        lines = lines[end + 1 :]
    title: str | None = None
    trail: list[tuple[int, str]] = []
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    in_fence = False
    for line in lines:
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m is None:
            sections[-1][1].append(line)
            continue
        level, heading = len(m.group(1)), m.group(2).strip()
        if level == 1 and title is None:
            title = heading
            continue
        trail = [(lvl, h) for lvl, h in trail if lvl < level] + [(level, heading)]
        sections.append((" > ".join(h for _, h in trail), []))
    chunks = [
        ParsedChunk(heading=heading, page=None, text=chunk)
        for heading, body in sections
        for chunk in _pack(_paragraphs(body))
    ]
    return ParsedDocument(title=title or fallback_title, chunks=chunks)


def parse_text(text: str, *, fallback_title: str) -> ParsedDocument:
    paragraphs = _paragraphs(text.splitlines())
    title = fallback_title
    if paragraphs and len(paragraphs[0]) <= 120 and "\n" not in paragraphs[0]:
        title = paragraphs[0]
    return ParsedDocument(
        title=title,
        chunks=[ParsedChunk(heading=None, page=None, text=c) for c in _pack(paragraphs)],
    )


def parse_pdf(path: Path) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        meta_title = reader.metadata.title if reader.metadata else None
        chunks = [
            ParsedChunk(heading=None, page=number, text=chunk)
            for number, page in enumerate(reader.pages, 1)
            for chunk in _pack(_paragraphs((page.extract_text() or "").splitlines()))
        ]
    except (PdfReadError, OSError, ValueError) as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}") from exc
    return ParsedDocument(title=str(meta_title or path.stem), chunks=chunks)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Manuals exported on Windows are often cp1252; it decodes any byte sequence.
        return raw.decode("cp1252", errors="replace")


def parse_file(path: Path, raw: bytes) -> ParsedDocument:
    suffix = path.suffix.lower()
    fallback = path.stem.replace("_", " ").replace("-", " ").strip() or path.name
    if suffix == ".pdf":
        parsed = parse_pdf(path)
    elif suffix in (".md", ".markdown"):
        parsed = parse_markdown(_decode(raw), fallback_title=fallback)
    else:
        parsed = parse_text(_decode(raw), fallback_title=fallback)
    if not parsed.chunks:
        raise UnreadableDocument("no text found (a scanned PDF needs OCR first)")
    return parsed


async def ingest_document(
    session: AsyncSession, *, path: Path, site: str | None = None, model: str | None = None
) -> DocumentLoad:
    """Load one file (in the caller's transaction): new, changed (chunks replaced),
    unchanged, or skipped with the reason."""
    resolved = path.resolve()
    key = str(resolved)
    raw = resolved.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    doc = await session.scalar(select(Document).where(Document.path == key))
    if doc is not None and doc.content_hash == digest and doc.site == site:
        kept = list(
            await session.scalars(select(DocumentChunk).where(DocumentChunk.document_id == doc.id))
        )
        # vectors of a newly configured model, if the re-embed job has not run yet
        await index_chunks(session, title=doc.title, chunks=kept, model=model)
        return DocumentLoad(key, doc.title, "unchanged", len(kept))
    try:
        parsed = parse_file(resolved, raw)
    except UnreadableDocument as exc:
        return DocumentLoad(key, None, "skipped", 0, str(exc))
    status: Status = "new" if doc is None else "changed"
    if doc is None:
        doc = Document(path=key, title=parsed.title[:500], content_hash=digest, site=site)
        session.add(doc)
        await session.flush()
    else:
        old = list(
            await session.scalars(
                select(DocumentChunk.id).where(DocumentChunk.document_id == doc.id)
            )
        )
        await delete_vectors(session, entity_type="chunk", entity_ids=old)
        await session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == doc.id))
        doc.title, doc.content_hash, doc.site = parsed.title[:500], digest, site
    chunks = [
        DocumentChunk(document_id=doc.id, ordinal=n, heading=c.heading, page=c.page, text=c.text)
        for n, c in enumerate(parsed.chunks)
    ]
    session.add_all(chunks)
    await session.flush()
    await index_chunks(session, title=doc.title, chunks=chunks, model=model)
    return DocumentLoad(key, doc.title, status, len(chunks))


async def ingest_documents(
    session: AsyncSession,
    *,
    paths: Sequence[Path],
    site: str | None = None,
    model: str | None = None,
) -> list[DocumentLoad]:
    """Every supported file under `paths`, in the caller's transaction."""
    return [
        await ingest_document(session, path=p, site=site, model=model) for p in collect_files(paths)
    ]

"""The static site: the chat's HTML, CSS, JS and vendored libraries, served from a folder.

Safety: a request maps to a file only through decoded path segments that are neither
empty, ``.``/``..`` nor dotfiles, and the resolved file (symlinks followed) must still lie
under the root; anything else is "not here". Caching (RFC 9111, RFC 9110 §13.1.2): HTML is
and the application's own JS/CSS are ``no-cache`` (always revalidated with the ETag: they
change together on a deploy, and a day-old app.js beside new HTML would break the page);
files under ``vendor/`` carry their version in their names and are ``immutable``; every answer
carries a strong ETag and ``If-None-Match`` gets a 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from hubbub.web.types import HttpRequest, HttpResponse

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".wasm": "application/wasm",
}

# A room page: one segment, no dot (so never a missing asset), not the API or MQTT path.
_SPA_PATH = re.compile(r"^/(?!api(?:/|$)|mqtt(?:/|$))[^/.\\\0]+$")


@dataclass(frozen=True, slots=True)
class _Entry:
    mtime_ns: int
    size: int
    ino: int
    body: bytes
    etag: str


def content_type(name: str) -> str:
    """The Content-Type for a file name (UTF-8 for text types)."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of ``If-None-Match`` against our ETag (RFC 9110 §13.1.2)."""
    ours = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == ours:
            return True
    return False


class StaticSite:
    """Files under ``root``, with a single-page fallback for room paths like ``/lobby``."""

    #: Files up to this size stay in memory; the whole cache is bounded by max_cache_bytes.
    max_cached_file = 4 * 1024 * 1024

    def __init__(self, root: Path, index: str = "index.html", spa_fallback: bool = True, *,
                 max_cache_bytes: int = 64 * 1024 * 1024) -> None:
        self.root = Path(root).resolve()
        self.index = index
        self.spa_fallback = spa_fallback
        self.max_cache_bytes = max_cache_bytes
        self._cache: dict[Path, _Entry] = {}
        self._cached_bytes = 0

    async def respond(self, request: HttpRequest) -> HttpResponse | None:
        """The answer for ``request``, or None when the site has nothing at that path."""
        try:
            decoded = unquote(request.path, errors="strict")
        except UnicodeDecodeError:
            return None
        found = self._find(decoded)
        if found is None and self.spa_fallback and _SPA_PATH.match(decoded):
            found = self._file(self.root / self.index)
        if found is None:
            return None
        path, st = found
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, (("allow", "GET, HEAD"), ("content-type", "text/plain")),
                                b"method not allowed\n")
        entry = await self._load(path, st)
        rel = path.relative_to(self.root)
        if rel.parts[0] == "vendor":
            cache = "public, max-age=31536000, immutable"
        else:
            cache = "no-cache"
        headers = (("etag", entry.etag), ("cache-control", cache))
        inm = request.header("if-none-match")
        if inm is not None and etag_matches(inm, entry.etag):
            return HttpResponse(304, headers)
        return HttpResponse(200, (("content-type", content_type(path.name)), *headers),
                            entry.body)

    def _find(self, decoded: str) -> tuple[Path, os.stat_result] | None:
        if "\0" in decoded or "\\" in decoded:
            return None
        parts = decoded.split("/")[1:]
        wants_dir = not parts or parts[-1] == ""
        if wants_dir:
            parts = parts[:-1]
        for part in parts:
            # Empty, "." and ".." segments and dotfiles are never served.
            if not part or part.startswith("."):
                return None
        candidate = self.root.joinpath(*parts)
        if wants_dir:
            candidate = candidate / self.index
        return self._file(candidate)

    def _file(self, candidate: Path) -> tuple[Path, os.stat_result] | None:
        try:
            resolved = candidate.resolve(strict=True)
            st = resolved.stat()
        except (OSError, RuntimeError):  # missing, unreadable, symlink loop
            return None
        # Symlinks may point anywhere inside the root, never out of it.
        if not resolved.is_relative_to(self.root) or not stat.S_ISREG(st.st_mode):
            return None
        if any(p.startswith(".") for p in resolved.relative_to(self.root).parts):
            return None
        return resolved, st

    async def _load(self, path: Path, st: os.stat_result) -> _Entry:
        entry = self._cache.get(path)
        if entry is not None and (entry.mtime_ns, entry.size, entry.ino) == (
                st.st_mtime_ns, st.st_size, st.st_ino):
            return entry
        body = await asyncio.to_thread(path.read_bytes)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        entry = _Entry(st.st_mtime_ns, st.st_size, st.st_ino, body, etag)
        self._store(path, entry)
        return entry

    def _store(self, path: Path, entry: _Entry) -> None:
        old = self._cache.pop(path, None)
        if old is not None:
            self._cached_bytes -= len(old.body)
        if len(entry.body) > min(self.max_cached_file, self.max_cache_bytes):
            return
        # Oldest first out until the new entry fits: the cache never exceeds its bound.
        while self._cache and self._cached_bytes + len(entry.body) > self.max_cache_bytes:
            oldest = next(iter(self._cache))
            self._cached_bytes -= len(self._cache.pop(oldest).body)
        self._cache[path] = entry
        self._cached_bytes += len(entry.body)

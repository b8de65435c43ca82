"""Where the shared conformance vectors live: ``$HUBBUB_CONFORMANCE``, else
``<repo>/../shared/conformance`` (the layout of this workplace), else
``/work/shared/conformance`` (a clean clone elsewhere on the same machine, as CI makes)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def conformance_dir() -> Path:
    candidates = [REPO_ROOT.parent / "shared" / "conformance", Path("/work/shared/conformance")]
    env = os.environ.get("HUBBUB_CONFORMANCE")
    if env:
        candidates.insert(0, Path(env))
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]

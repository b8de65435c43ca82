"""The folders ``sam build`` and ``aws s3 sync`` need next to the exported template.

``lambda/`` is every function's code (the template's ``CodeUri``): hubbub itself (the shim
and the sdk the handlers import), the application folder as ``app/`` and a
``requirements.txt`` of hubbub's third-party dependencies, which ``sam build`` installs
for the Lambda runtime (boto3 is in the runtime already). ``site/`` is the static site
to upload to the bucket, with a placeholder ``config.json`` that ``site-config`` fills in
once the stack exists (:mod:`hubbub.export.site_config`).
"""

from __future__ import annotations

import json
import re
import shutil
from importlib import metadata
from pathlib import Path

import hubbub
from hubbub.app import AppSpec
from hubbub.errors import ConfigError
from hubbub.export.site_config import FILENAME, PLACEHOLDER

#: Marks a folder this module made, so re-exporting may replace it and nothing else.
MARKER = ".hubbub-export"
#: hubbub's runtime dependencies when its metadata is not installed (keep in step with
#: pyproject.toml's ``dependencies``).
FALLBACK_REQUIREMENTS = ("h11>=0.16", "wsproto>=1.2", "lark>=1.2", "jsonpath-ng>=1.6",
                         "jsonata-python>=0.6", "PyJWT>=2.8")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", MARKER)


def requirements() -> list[str]:
    """hubbub's runtime requirements (no extras): what the functions import besides boto3."""
    try:
        reqs = metadata.requires("hubbub") or []
    except metadata.PackageNotFoundError:
        return list(FALLBACK_REQUIREMENTS)
    return [r.split(";")[0].strip() for r in reqs if not re.search(r"extra\s*==", r)]


def _fresh(folder: Path) -> None:
    if folder.exists():
        if not (folder / MARKER).exists():
            raise ConfigError(f"{folder} exists and was not made by hubbub export; "
                              "move it away or choose another --out folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by hubbub export; replaced on the next export\n")


def _placeholder_config(site: Path) -> None:
    # The page's config.json says where its credentials come from (site_config.py); an
    # application's own config.json without "provider" is something else: never replaced.
    path = site / FILENAME
    if path.exists():
        try:
            mine = "provider" in json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, TypeError):
            mine = False
        if not mine:
            raise ConfigError(f"static: the exported page reads its AWS settings from "
                              f"{FILENAME}; this application's own {FILENAME} (without "
                              "'provider') would be overwritten: rename it")
    path.write_text(json.dumps(PLACEHOLDER, indent=2) + "\n", encoding="utf-8")


def stage(app: AppSpec, out_dir: Path) -> list[Path]:
    """Write ``lambda/`` (and ``site/`` when the app has a static site) into ``out_dir``."""
    code = out_dir / "lambda"
    _fresh(code)
    package = Path(hubbub.__file__).parent

    def ignore_apps(folder: str, names: list[str]) -> set[str]:
        # The built-in applications (and their web clients) stay out: the one being
        # deployed is in app/.
        skipped = set(_IGNORE(folder, names))
        return skipped | ({"apps"} if Path(folder) == package else set())

    shutil.copytree(package, code / "hubbub", ignore=ignore_apps)
    static = app.static.resolve() if app.static is not None else None

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = set(_IGNORE(folder, names))
        if static is not None:  # the web client goes to S3, not into every function
            skipped |= {n for n in names if (Path(folder) / n).resolve() == static}
        return skipped

    shutil.copytree(app.root, code / "app", ignore=ignore)
    (code / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    made = [code]
    if static is not None:
        if not static.is_dir():
            raise ConfigError(f"static: {static} is not a folder")
        site = out_dir / "site"
        _fresh(site)
        shutil.copytree(static, site, dirs_exist_ok=True, ignore=_IGNORE)
        _placeholder_config(site)
        made.append(site)
    return made

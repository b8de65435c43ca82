"""``hubbub export sam --out template.json``: the application as an AWS SAM template.

Writes the template (YAML for a ``.yaml``/``.yml`` name when PyYAML is installed, JSON
otherwise), and beside it ``lambda/`` (the functions' code, the template's ``CodeUri``)
and ``site/`` (the web client for the bucket). docs/aws.md says how to deploy them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from hubbub.app import load_app
from hubbub.config import Config
from hubbub.errors import ConfigError

FORMATS = ("sam",)


def export_command(cfg: Config, fmt: str, out: str | Path | None,
                   stdout: TextIO | None = None) -> int:
    """Export ``cfg.app`` (default: the chat) in format ``fmt``; returns the exit code.
    Raises ``ConfigError`` naming what cannot be exported."""
    from hubbub.export.package import stage
    from hubbub.export.sam import build_template, dumps

    stdout = stdout or sys.stdout
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(out) if out else Path("template.json")
    app = load_app(cfg.app)
    template = build_template(app, code_uri="lambda/", settings=cfg.extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    made = stage(app, path.parent)
    path.write_text(dumps(template, path), encoding="utf-8")
    resources = template["Resources"]
    print(f"wrote {path} ({len(resources)} resources) and "
          f"{', '.join(str(p) + '/' for p in made)}", file=stdout)
    print(f"next: cd {path.parent} && sam build -t {path.name} && sam deploy --guided", file=stdout)
    if "SiteBucket" in resources:
        print("then: aws s3 sync site/ s3://<SiteBucket output>/ --exclude .hubbub-export",
              file=stdout)
    return 0

"""``hubbub export sam --out template.json``: the application as an AWS SAM template.

Writes the template (YAML for a ``.yaml``/``.yml`` name when PyYAML is installed, JSON
otherwise), and beside it ``lambda/`` (the functions' code, the template's ``CodeUri``)
and ``site/`` (the web client for the bucket, with a placeholder ``config.json``).

After ``sam deploy``, ``python -m hubbub.export_cli site-config --site DIR/site --stack
NAME`` (or ``--region/--identity-pool-id/--iot-endpoint``) fills in ``config.json`` so
that the page gets Cognito credentials and connects to IoT Core. docs/aws.md says how to
deploy them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from hubbub.app import load_app
from hubbub.config import Config
from hubbub.errors import ConfigError, HubbubError

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
        if "IdentityPool" in resources:
            print("then: hubbub export site-config --site site --stack <stack name>",
                  file=stdout)
        print("then: aws s3 sync site/ s3://<SiteBucket output>/ --exclude .hubbub-export",
              file=stdout)
    return 0


def site_config_command(site: str | Path, *, stack: str | None = None,
                        region: str | None = None, identity_pool_id: str | None = None,
                        iot_endpoint: str | None = None, stdout: TextIO | None = None) -> int:
    """Fill in ``site/config.json``: from the deployed ``stack`` (boto3: its outputs and
    ``iot:DescribeEndpoint``), or from the three values given. Returns the exit code;
    raises ``ConfigError`` naming what is missing or wrong."""
    from hubbub.export.site_config import from_stack, site_config, write_site_config

    stdout = stdout or sys.stdout
    given = (region, identity_pool_id, iot_endpoint)
    if stack is not None:
        if any(v is not None for v in given):
            raise ConfigError("give either --stack or --region/--identity-pool-id/"
                              "--iot-endpoint, not both")
        try:
            import boto3
        except ImportError:
            raise ConfigError("--stack needs boto3 (pip install boto3), or give "
                              "--region/--identity-pool-id/--iot-endpoint") from None
        config = from_stack(stack, boto3.client)
    elif region is None or identity_pool_id is None or iot_endpoint is None:
        raise ConfigError("give --stack, or all of --region, --identity-pool-id and "
                          "--iot-endpoint")
    else:
        config = site_config(region, identity_pool_id, iot_endpoint)
    path = write_site_config(Path(site), config)
    print(f"wrote {path}: region {config['region']}, identity pool "
          f"{config['identityPoolId']}, IoT endpoint {config['iotEndpoint']}", file=stdout)
    print("then: aws s3 sync ... and invalidate /config.json on CloudFront if it was "
          "uploaded before", file=stdout)
    return 0


def add_site_config_options(p: argparse.ArgumentParser) -> None:
    """``site-config``'s options, for this module's parser and ``hubbub export``."""
    p.add_argument("--site", default="site", help="site-config: the exported site folder "
                   "(default ./site)")
    p.add_argument("--stack", help="site-config: the deployed stack's name (reads its "
                   "outputs with boto3)")
    p.add_argument("--region", help="site-config: the stack's region (without --stack)")
    p.add_argument("--identity-pool-id", help="site-config: the IdentityPoolId output "
                   "(without --stack)")
    p.add_argument("--iot-endpoint", help="site-config: aws iot describe-endpoint "
                   "--endpoint-type iot:Data-ATS (without --stack)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hubbub.export_cli site-config ...`` (the post-deploy step)."""
    p = argparse.ArgumentParser(prog="python -m hubbub.export_cli",
                                description="steps after `hubbub export sam`")
    sub = p.add_subparsers(dest="command", required=True)
    sc = sub.add_parser("site-config", help="fill in site/config.json for the deployed stack")
    add_site_config_options(sc)
    args = p.parse_args(argv)
    try:
        return site_config_command(args.site, stack=args.stack, region=args.region,
                                   identity_pool_id=args.identity_pool_id,
                                   iot_endpoint=args.iot_endpoint)
    except HubbubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

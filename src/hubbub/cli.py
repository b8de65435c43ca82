"""The ``hubbub`` command. Options mirror ``hubbub.config.Config`` one for one."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Any

from hubbub import __version__
from hubbub.config import Config, load_config
from hubbub.errors import HubbubError

_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--host", {"help": "address to listen on (default 127.0.0.1)"}),
    ("--port", {"type": int, "help": "HTTP + WebSocket port (default 8080)"}),
    ("--mqtt-port", {"type": int, "help": "MQTT over TCP port (default 1883; 0 = off)"}),
    ("--data", {"help": "folder for everything hubbub keeps (default ./hubbub-data)"}),
    ("--app", {"help": "application folder (default: the built-in chat)"}),
    ("--anonymous-policy", {"help": "IoT policy JSON file for MQTT clients without a token "
                            "(off by default; 'allow-all' for benchmarks)"}),
    ("--max-qos", {"type": int, "help": "highest QoS granted (default 1, as IoT Core)"}),
    ("--publish-rate", {"type": float, "help": "publishes/s per connection (default 100, "
                        "as IoT Core; 0 = no limit)"}),
    ("--token-ttl", {"type": int, "help": "seconds a credential lives (default 3600)"}),
    ("--table-engine", {"help": "sqlite (default) or postgres"}),
    ("--postgres-dsn", {"help": "PostgreSQL connection string"}),
    ("--stream-engine", {"help": "sqlite (default) or redis"}),
    ("--fanout", {"help": "local (default) or redis"}),
    ("--redis-url", {"help": "Redis URL for the redis engines"}),
    ("--heartbeat-interval", {"type": float, "help": "fanout redis: seconds between a "
                              "node's liveness beats (default 2)"}),
    ("--node-timeout", {"type": float, "help": "fanout redis: seconds without a beat "
                        "before a node is declared dead (default 10)"}),
    ("--event-loop", {"help": "asyncio (default), uvloop (if installed), or auto (uvloop "
                      "when installed)"}),
    ("--log-level", {"help": "debug, info (default), warning, error"}),
]


def _config(args: argparse.Namespace) -> Config:
    overrides = {opt[2:].replace("-", "_"): getattr(args, opt[2:].replace("-", "_"), None)
                 for opt, _ in _OPTIONS}
    return load_config(file=args.config, overrides=overrides)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hubbub", description=(
        "A real-time chat built the serverless way. Every option can also be set in the "
        "environment (HUBBUB_PORT=...) or a TOML config file (--config)."))
    p.add_argument("--version", action="version", version=f"hubbub {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", help="TOML config file (also HUBBUB_CONFIG)")
        for opt, kw in _OPTIONS:
            sp.add_argument(opt, **kw)

    serve = sub.add_parser("serve", help="run hubbub: broker, rules, functions, web client")
    common(serve)

    keys = sub.add_parser("keys", help="manage the keys that sign credentials")
    common(keys)
    keys.add_argument("action", choices=["list", "rotate", "issue"])
    keys.add_argument("--client-id", help="issue: the client id the token is bound to")
    keys.add_argument("--policy", help="issue: the policy name the client is held to")

    sfn = sub.add_parser("sfn", help="state machines: start, describe, history, list, "
                         "test-state")
    common(sfn)
    sfn.add_argument("action", choices=["start", "describe", "history", "list", "test-state"])
    sfn.add_argument("target", nargs="?", help="state machine (start, list) or execution name")
    sfn.add_argument("--input", default="{}", help="execution (start) or state (test-state) "
                     "input as JSON")
    sfn.add_argument("--name", help="execution name (start)")
    from hubbub.sfn_cli import add_test_state_options
    add_test_state_options(sfn)
    exp = sub.add_parser("export", help="export the application for AWS (a SAM template)")
    common(exp)
    exp.add_argument("format", choices=["sam", "site-config"],
                     help="sam: write the template; site-config: after deploying, fill in "
                     "site/config.json for the page")
    exp.add_argument("--out", default="template.json",
                     help="sam: template file (.json, or .yaml with PyYAML); lambda/ and site/ "
                     "are written beside it")
    from hubbub.export_cli import add_site_config_options
    add_site_config_options(exp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = _config(args)
        logging.basicConfig(level=cfg.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if args.command == "serve":
            from hubbub.loops import loop_factory
            from hubbub.server import run_forever
            _, factory = loop_factory(cfg.event_loop)
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(run_forever(cfg))
            return 0
        if args.command == "keys":
            from hubbub.admin import issue_command, keys_command
            if args.action == "issue":
                return int(issue_command(cfg, args.client_id, args.policy))
            return int(keys_command(cfg, args.action))
        if args.command == "export" and args.format == "site-config":
            from hubbub.export_cli import site_config_command
            return site_config_command(args.site, stack=args.stack, region=args.region,
                                       identity_pool_id=args.identity_pool_id,
                                       iot_endpoint=args.iot_endpoint)
        if args.command == "export":
            from hubbub.export_cli import export_command
            return int(export_command(cfg, args.format, args.out))
        if args.command == "sfn" and args.action == "test-state":
            from hubbub.sfn_cli import test_state_command
            return int(asyncio.run(test_state_command(cfg, args)))
        if args.command == "sfn":
            from hubbub.admin import sfn_command
            return int(asyncio.run(
                sfn_command(cfg, args.action, args.target, args.input, args.name)))
    except HubbubError as exc:
        print(f"hubbub: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a port already in use, a data folder we cannot write
        print(f"hubbub: error: {exc.strerror or exc}"
              f"{' (' + str(exc.filename) + ')' if exc.filename else ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

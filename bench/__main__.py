"""``python -m bench run [--quick] [--brokers ...] [--transports ...] [--scenarios ...]``."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from bench import report, runner, scenarios

HERE = Path(__file__).resolve().parent


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start brokers, run scenarios, write bench/RESULTS.md")
    run.add_argument("--quick", action="store_true", help="smaller N, shorter phases (~2 min)")
    run.add_argument("--brokers", type=_csv, default=["hubbub", "mosquitto", "amqtt"])
    run.add_argument("--transports", type=_csv, default=["tcp", "ws"])
    run.add_argument(
        "--scenarios",
        type=_csv,
        default=None,
        help=f"default: all ({', '.join(scenarios.DEFAULT)}); with --quick: "
        f"{', '.join(scenarios.QUICK_DEFAULT)}",
    )
    run.add_argument(
        "--loop", choices=["uvloop", "asyncio"], default="uvloop", help="generator event loop"
    )
    run.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin broker to CPU 0 and generator to CPU 1",
    )
    run.add_argument(
        "--results",
        type=Path,
        default=None,
        help="default bench/results.json (--quick: bench/results-quick.json)",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default bench/RESULTS.md (--quick: bench/RESULTS-quick.md)",
    )
    sub.add_parser("list", help="list the registered scenarios")
    render = sub.add_parser("render", help="rewrite RESULTS.md from results.json")
    render.add_argument("--results", type=Path, default=HERE / "results.json")
    render.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    # SIGTERM unwinds like Ctrl+C, so the brokers we started are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse(argv)
    if args.command == "run":
        # Quick numbers never overwrite the full run's table.
        suffix = "-quick" if args.quick else ""
        args.results = args.results or HERE / f"results{suffix}.json"
        args.out = args.out or HERE / f"RESULTS{suffix}.md"
    if args.command == "list":
        for name in scenarios.REGISTRY:
            print(f"{name:18} {scenarios.load(name).description}")
        return 0
    if args.command == "render":
        import json

        store = json.loads(args.results.read_text())
    else:
        unknown = set(args.transports) - {"tcp", "ws"}
        if unknown:
            print(f"unknown transports: {sorted(unknown)}", file=sys.stderr)
            return 2
        names = args.scenarios or (scenarios.QUICK_DEFAULT if args.quick else scenarios.DEFAULT)
        try:
            for name in names:
                scenarios.load(name)
        except KeyError as exc:
            print(exc.args[0], file=sys.stderr)
            return 2
        plan = runner.Plan(args.brokers, args.transports, names, args.quick, args.loop, args.pin)
        results = runner.run_plan(plan)
        command = ".venv/bin/python -m bench " + shlex.join(argv)
        store = runner.merge(args.results, results, command)
    text = report.render(store)
    notes = HERE / "NOTES.md"
    if notes.exists():
        text += "\n" + notes.read_text()
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

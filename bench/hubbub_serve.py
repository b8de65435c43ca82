"""Launch hubbub for the benchmark: ``hubbub serve`` with the per-connection publish limit off.

hubbub enforces IoT Core's 100 publishes/s per connection by default (and disconnects
above it, reason 0x96); Mosquitto and amqtt have no such limit, so a fair throughput
comparison turns it off (``BrokerSettings.publish_rate = 0``: "benchmarks, trusted
backends"). Everything else is ``hubbub serve`` as shipped: same options, same Node.
Once ``hubbub serve`` has an option for this, ``brokers.hubbub_command`` can call the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path


async def _serve(argv: list[str]) -> None:
    from hubbub.broker.settings import BrokerSettings
    from hubbub.cli import _config, _parser
    from hubbub.server import Node

    args = _parser().parse_args(["serve", *argv])
    cfg = _config(args)
    settings = BrokerSettings(max_qos=cfg.max_qos, data_dir=Path(cfg.data), publish_rate=0)
    node = Node(cfg, broker_settings=settings)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"hubbub (bench) listening: {node.url}, mqtt port {node.mqtt_port}", flush=True)
    await stop.wait()
    await node.stop()


def main() -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU and memory of the broker and of the generator itself, read with psutil."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from bench import stats


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@dataclass
class Snapshot:
    wall: float
    broker_cpu: float
    generator_cpu: float
    machine_busy: float  # all CPUs' non-idle seconds, every process on the machine


class Probe:
    """Reads the broker's process tree (workers included) and this process."""

    def __init__(self, broker_pid: int) -> None:
        self.broker = psutil.Process(broker_pid)
        self.me = psutil.Process()

    def broker_rss(self) -> int:
        total = 0
        for p in _tree(self.broker):
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def snapshot(self) -> Snapshot:
        cpu = 0.0
        for p in _tree(self.broker):
            try:
                t = p.cpu_times()
                cpu += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        mine = self.me.cpu_times()
        total = psutil.cpu_times()
        busy = total.user + total.nice + total.system + total.irq + total.softirq + total.steal
        return Snapshot(time.perf_counter(), cpu, mine.user + mine.system, busy)

    @staticmethod
    def usage(start: Snapshot, end: Snapshot) -> dict[str, float | str]:
        wall = end.wall - start.wall
        broker = stats.cpu_percent(end.broker_cpu - start.broker_cpu, wall)
        gen = stats.cpu_percent(end.generator_cpu - start.generator_cpu, wall)
        # The machine is shared: CPU used by anything else during the phase (other
        # people's tests, the orchestrator) is reported so noisy runs can be spotted.
        machine = stats.cpu_percent(end.machine_busy - start.machine_busy, wall)
        return {
            "broker_cpu_pct": broker,
            "generator_cpu_pct": gen,
            "others_cpu_pct": max(0.0, round(machine - broker - gen, 1)),
            "cpu_bound": stats.bound_side(broker, gen),
        }

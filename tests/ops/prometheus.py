"""Reading a Prometheus endpoint in tests: samples with the names exactly as exposed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """Prometheus text format (the SDK adds no `_total` suffix, so no client library's renaming)."""
    samples = []
    for line in text.splitlines():
        if not line.startswith("#") and (match := SAMPLE.match(line)):
            labels = dict(LABEL.findall(match["labels"] or ""))
            samples.append(Sample(match["name"], labels, float(match["value"])))
    return samples


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(s.value for s in samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def scrape(url: str, task_queue: str, ready: Callable[[list[Sample]], bool],
                 timeout: float = 15.0) -> list[Sample]:
    """The samples of `task_queue`, polled until `ready(samples)` or the timeout (then the last)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            samples = [s for s in parse((await http.get(url)).text)
                       if s.labels.get("task_queue") == task_queue]
            if ready(samples) or time.monotonic() > deadline:
                return samples
            await asyncio.sleep(0.2)

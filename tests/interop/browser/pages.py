"""Shared by the browser tests: a chat window in real Chromium (Debian's /usr/bin/chromium,
driven by Playwright) that records CSP violations, dialogs (an XSS would open one) and
page errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


class Page:
    """One chat window, with a record of CSP violations and dialogs (XSS would open one)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"),
                                     asyncio.ensure_future(d.dismiss())))
        page.on("console", lambda m: self.problems.append(m.text)
                if "Content Security Policy" in m.text or m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))

    @classmethod
    async def open(cls, browser: Any, url: str, name: str | None = None) -> Page:
        ctx = await browser.new_context(viewport={"width": 1000, "height": 700})
        p = cls(await ctx.new_page())
        await p.page.goto(url)
        if name is not None:
            await p.set_name(name)
        await p.online()
        return p

    async def online(self) -> None:
        await self.page.wait_for_selector('#status[data-state="online"]', timeout=15000)

    async def set_name(self, name: str) -> None:
        box = self.page.get_by_label("Your name", exact=True)
        await box.fill(name)
        await box.dispatch_event("change")

    async def say(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        await box.fill(text)
        await box.press("Enter")

    async def wait_text(self, text: str) -> None:
        await self.page.locator("#messages .text", has_text=text).first.wait_for(timeout=15000)

    async def texts(self) -> list[str]:
        return await self.page.locator("#messages li[data-id] .text").all_inner_texts()

    async def people(self) -> set[str]:
        items = await self.page.locator("#presence li").all_inner_texts()
        return {i.removesuffix(" (you)") for i in items}

    def message(self, text: str) -> Any:
        return self.page.locator("#messages li[data-id]", has_text=text).first

    async def typing(self) -> str:
        return str(await self.page.locator("#typing").inner_text())


async def wait_for(cond: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)

"""Typing and reactions through the stream, in real Chromium (/usr/bin/chromium driven by
Playwright): window A types and window B shows "alice is typing…", then hides it when it
goes stale; A reacts 👍 to a message and B shows the count under it; a reload shows the
count from history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ...integration.chat.conftest import start_node
from .pages import ARTIFACTS, Page, wait_for

pytestmark = pytest.mark.browser

async def test_typing_shows_and_goes_stale_reactions_count_and_survive_reload(
        tmp_path: Path, browser: Any) -> None:
    node = await start_node(tmp_path / "data", extra={"presenceDebounceSeconds": 0,
                                                      "streamBatchingWindowMs": 100})
    try:
        url = f"{node.url}/den"
        a = await Page.open(browser, url, "alice")
        b = await Page.open(browser, url, "bob")

        # typing: A types (not sent yet), B sees it, then it goes stale (6 s) and hides
        await a.page.get_by_label("Message", exact=True).press_sequentially("hel")
        await b.page.locator("#typing", has_text="alice is typing…").wait_for(timeout=10000)
        assert await a.typing() == ""  # nobody sees their own typing
        await wait_for(lambda: _empty(b), timeout=12)

        # reactions: A reacts 👍 to a message, B sees the count under it
        await a.say("react to this")
        await b.message("react to this").wait_for(timeout=15000)
        li = a.message("react to this")
        await li.hover()
        await li.get_by_role("button", name="React 👍").click()
        count = b.message("react to this").locator(".reaction", has_text="👍 1")
        await count.wait_for(timeout=15000)
        ARTIFACTS.mkdir(exist_ok=True)
        await b.page.screenshot(path=str(ARTIFACTS / "chat-reactions.png"))

        # a reload gets the count from history (the welcome's page)
        await b.page.reload()
        await b.online()
        await count.wait_for(timeout=15000)
        # and it was not stored as a chat message, nor was the typing
        texts = await b.page.locator("#messages li[data-id] .text").all_inner_texts()
        assert texts == ["react to this"]
        for p in (a, b):
            assert p.problems == [], "\n".join(p.problems)
    finally:
        await node.stop()


async def _empty(p: Page) -> bool:
    return await p.typing() == ""


async def test_typing_that_led_to_a_message_is_not_shown_after_it(
        tmp_path: Path, browser: Any) -> None:
    # With a long batching window the typing update reaches B well after alice's message
    # did; it must not bring back "alice is typing…" for typing that is over.
    node = await start_node(tmp_path / "data", extra={"presenceDebounceSeconds": 0,
                                                      "streamBatchingWindowMs": 1500})
    try:
        url = f"{node.url}/den"
        a = await Page.open(browser, url, "alice")
        b = await Page.open(browser, url, "bob")
        c = await Page.open(browser, url, "carol")
        box = a.page.get_by_label("Message", exact=True)
        await box.press_sequentially("hi")  # a typing record, then at once the message
        await box.press("Enter")
        await b.message("hi").wait_for(timeout=15000)
        # carol types after that: her record is behind alice's in the room's shard, so
        # once bob sees carol typing, alice's update has reached him as well
        await c.page.get_by_label("Message", exact=True).press_sequentially("yo")
        await b.page.locator("#typing", has_text="carol").wait_for(timeout=15000)
        assert await b.typing() == "carol is typing…"
        for p in (a, b, c):
            assert p.problems == [], "\n".join(p.problems)
    finally:
        await node.stop()

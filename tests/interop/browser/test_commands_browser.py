"""Chat commands in real Chromium: typing /stats, /top and /help in the message box shows
the private answer (computed by a state machine translated when it was asked) in that
window only; an unknown command shows a helpful notice. Screenshot in test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ...integration.chat.conftest import start_node
from .pages import ARTIFACTS, Page

pytestmark = pytest.mark.browser


async def answers(p: Page) -> list[str]:
    return await p.page.locator("#messages li.command .text").all_inner_texts()


async def test_stats_top_help_answer_privately(tmp_path: Path, browser: Any) -> None:
    node = await start_node(tmp_path / "data")
    try:
        url = f"{node.url}/pets"
        a = await Page.open(browser, url, "alice")
        b = await Page.open(browser, url, "bob")
        for text in ("my cat likes fish", "the cat sleeps"):
            await a.say(text)
            await b.wait_text(text)
        await b.say("cats and dogs")
        await a.wait_text("cats and dogs")

        await a.say("/stats")
        await a.page.locator("#messages li.command .text",
                             has_text="Messages per person").wait_for(timeout=15000)
        assert await answers(a) == ["Messages per person (last 3): alice: 2, bob: 1"]
        await a.say("/top 2")
        await a.page.locator("#messages li.command .text",
                             has_text="Most used words").wait_for(timeout=15000)
        assert (await answers(a))[1] == "Most used words (last 3 messages): cat (2), cats (1)"
        await a.say("/help")
        await a.page.locator("#messages li.command .text", has_text="/top [n]").wait_for(
            timeout=15000)
        # commands are not chat messages: nothing was posted to the room
        assert await a.texts() == ["my cat likes fish", "the cat sleeps", "cats and dogs"]
        assert await a.page.locator("#messages li.command").first.is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        await a.page.screenshot(path=str(ARTIFACTS / "chat-commands.png"))

        await a.say("/frobnicate")
        notice = a.page.locator("#notice")
        await notice.filter(has_text="Unknown command '/frobnicate'").wait_for(timeout=15000)
        await notice.filter(has_text="/help").wait_for(timeout=15000)

        # bob saw none of it
        await b.say("still talking")
        await b.wait_text("still talking")
        assert await answers(b) == []
        for p in (a, b):
            assert p.problems == [], "\n".join(p.problems)
    finally:
        await node.stop()


async def test_an_answer_stays_after_the_next_message(tmp_path: Path, browser: Any
                                                      ) -> None:
    node = await start_node(tmp_path / "data")
    try:
        a = await Page.open(browser, f"{node.url}/keep", "alice")
        await a.say("/help")
        await a.page.locator("#messages li.command").first.wait_for(timeout=15000)
        await a.say("after the answer")
        await a.wait_text("after the answer")
        assert len(await answers(a)) == 1
    finally:
        await node.stop()

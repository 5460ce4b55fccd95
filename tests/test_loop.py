"""engine.loop: the run's event loop is one the libcurl wire can watch sockets on."""

from __future__ import annotations

import asyncio

import pytest

from fetchcli.engine import loop


async def _kind() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_windows_gets_a_selector_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    class Marked(asyncio.SelectorEventLoop):
        """Stands in for Windows' selector loop (its default, Proactor, has no add_reader)."""

    monkeypatch.setattr(loop.sys, "platform", "win32")
    monkeypatch.setattr(loop.asyncio, "SelectorEventLoop", Marked)
    assert loop.run(_kind()) is Marked


def test_elsewhere_the_default_loop_is_kept() -> None:
    assert issubclass(loop.run(_kind()), asyncio.SelectorEventLoop)

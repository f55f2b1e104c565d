"""The quick start in ``pmtrader.client``'s docstring runs as written against the exchange."""

from __future__ import annotations

import asyncio
import textwrap

import pmtrader.client
from pmtrader.testing import SimServer, new_wallet

from pmtrader import AsyncClient, Settings


def _blocks() -> list[str]:
    doc = pmtrader.client.__doc__ or ""
    blocks: list[str] = []
    for part in doc.split("::\n\n")[1:]:
        lines = []
        for line in part.splitlines():
            if line and not line.startswith("    "):
                break
            lines.append(line)
        blocks.append(textwrap.dedent("\n".join(lines)))
    return blocks


def test_the_sync_quick_start_runs(quiet_sim: SimServer) -> None:
    sync_block = _blocks()[0].replace("http://127.0.0.1:8700", quiet_sim.url)
    key = new_wallet().key.hex()
    namespace: dict[str, object] = {"key": key if key.startswith("0x") else "0x" + key}
    exec(compile(sync_block, "quickstart", "exec"), namespace)  # noqa: S102 - our own docs
    assert namespace["preview"] is not None
    assert namespace["token"]


def test_the_async_quick_start_runs(quiet_sim: SimServer) -> None:
    async_block = _blocks()[1]

    namespace: dict[str, object] = {
        "AsyncClient": AsyncClient,
        "settings": Settings.for_sim(quiet_sim.url),
        "token": "1",
    }
    body = "async def main():\n" + textwrap.indent(
        async_block.replace("...", "seen.append(market)"), "    "
    )
    body = body.replace("book = await client.books.get_order_book(token)", "pass")
    exec(compile("seen = []\n" + body, "quickstart", "exec"), namespace)  # noqa: S102 - our docs
    asyncio.run(namespace["main"]())  # type: ignore[operator]
    assert namespace["seen"]

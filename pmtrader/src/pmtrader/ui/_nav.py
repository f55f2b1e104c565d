"""The dashboard's pages, in menu order, and links between them.

Each page is a module of :mod:`pmtrader.ui.pages` with a ``render()`` function. ``st.Page`` objects
are rebuilt on each run (they need a running script); the url path identifies a page, so a page
built here for ``st.switch_page`` is the same page ``st.navigation`` registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from pmtrader.ui.pages import engine, market, markets, portfolio, rewards, scanner

__all__ = ["PAGES", "open_market", "page", "pages"]

#: ``url path: (title, icon, render)``.
PAGES: Final[dict[str, tuple[str, str, Callable[[], None]]]] = {
    "markets": ("Markets", ":material/list:", markets.render),
    "market": ("Market", ":material/candlestick_chart:", market.render),
    "portfolio": ("Portfolio", ":material/account_balance_wallet:", portfolio.render),
    "scanner": ("Scanner", ":material/radar:", scanner.render),
    "engine": ("Engine", ":material/precision_manufacturing:", engine.render),
    "rewards": ("Rewards", ":material/savings:", rewards.render),
}


def page(url_path: str) -> StreamlitPage:
    """The ``st.Page`` of one page."""
    title, icon, render = PAGES[url_path]
    return st.Page(render, title=title, icon=icon, url_path=url_path, default=url_path == "markets")


def pages() -> list[StreamlitPage]:
    """Every page, in menu order."""
    return [page(name) for name in PAGES]


def open_market(slug: str) -> None:
    """Switch to the Market page showing ``slug``."""
    st.session_state["market_slug"] = slug
    st.switch_page(page("market"), query_params={"market": slug})

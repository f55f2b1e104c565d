"""The pmtrader dashboard (Streamlit script; run it through ``pmtrader-ui``).

Pages: Markets, Market, Portfolio, Scanner, Engine, Rewards (one module each under
:mod:`pmtrader.ui.pages`). The environment decides where it points: production, pmproxy
(``PMPROXY_URL``) or the local exchange (``PMT_ENV=sim``, ``PMT_SIM_URL``).
"""

from __future__ import annotations

import streamlit as st

from pmtrader import __version__
from pmtrader.errors import PmtraderError
from pmtrader.ui import _data
from pmtrader.ui._nav import pages


def main() -> None:
    """Lay out the frame (sidebar, navigation) and run the chosen page."""
    st.set_page_config(page_title="pmtrader", page_icon=":material/monitoring:", layout="wide")
    navigation = st.navigation(pages())
    with st.sidebar:
        st.markdown(f"**pmtrader** {__version__}")
        try:
            st.caption(_data.env_label())
        except PmtraderError as exc:
            st.error(f"configuration: {exc}")
            st.stop()
    navigation.run()


main()

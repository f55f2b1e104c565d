"""The pmtrader dashboard (Streamlit script; run it through ``pmtrader-ui``)."""

import os

import streamlit as st

from pmtrader import __version__

st.set_page_config(page_title="pmtrader", layout="wide")
st.title("pmtrader")
st.caption(f"pmtrader {__version__} · environment: {os.environ.get('PMT_ENV', 'prod')}")

"""The Streamlit dashboard ``pmtrader-ui``."""

"""``python -m pmtrader.sim serve ...``: the same commands as ``pmtrader sim``."""

from pmtrader.cli.sim import app

if __name__ == "__main__":
    app(prog_name="pmtrader sim")

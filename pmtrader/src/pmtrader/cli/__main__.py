"""``python -m pmtrader.cli``: the same as the ``pmtrader`` command."""

from pmtrader.cli import main

main()

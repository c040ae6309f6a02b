"""``python -m kea_etl.cli``: the same as the ``kea-etl`` console script."""

from kea_etl.cli import main

main()

"""Loaded by every Python subprocess of ``make test-later`` (this directory is put on PYTHONPATH):
moves kea-etl's clock by the suite's shift, so that a ``kea-etl`` child agrees with the servers
running under faketime. Python's own clocks are left alone."""

import os

_days = int(os.environ.get("KEA_ETL_TEST_SHIFT_DAYS", "0") or 0)
if _days:
    try:
        import kea_etl.clock as _clock
    except ImportError:  # a Python without kea_etl (a build tool): nothing to move
        pass
    else:
        _clock.OFFSET = _days * 86400

"""Benchmarks of cursor-analytics: request counts and wall time against the Cursor API's
rate-limit floor, ingestion overhead, peak memory and metric recompute time.

Run them all with `make bench` (`python -m bench`); results land in bench/RESULTS.md. Each
benchmark is also a script of its own (`python -m bench.backfill --help`, ...).
"""

import os
from datetime import timedelta

from cursor_analytics.cursor_api.dates import utc_now

# Backfills here reach up to 365 days back: make sure the partitions start early enough
# (partitions.py reads this when cursor_analytics is first imported, which comes after this).
os.environ["CURSOR_ANALYTICS_START_DATE"] = (utc_now().date() - timedelta(days=400)).isoformat()

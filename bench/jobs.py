"""The job the backfill benchmark launches, as a module-level function so that Dagster can
rebuild it in every step process of the multiprocess executor (`dg.reconstructable`)."""

import dagster as dg


def cursor_daily_job() -> dg.JobDefinition:
    """The product's own cursor_daily_job (raw assets + partitioned metrics), unchanged."""
    from cursor_analytics.definitions import defs

    return defs.resolve_job_def("cursor_daily_job")

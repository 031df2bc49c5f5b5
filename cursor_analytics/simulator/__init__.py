"""A faithful, seeded simulator of the Cursor team APIs, served over real HTTP.

    from cursor_analytics.simulator import Simulator, Variants, Faults
    with Simulator(seed=7, users=40, days=120) as sim:
        sim.base_url, sim.api_key, sim.no_access_key
        sim.ground_truth(day)

It reads the contract (`/work/shared/cursor-api.md`) independently of the client in
`cursor_analytics.cursor_api` and never imports it.
"""

from .faults import Faults
from .server import DEFAULT_RATE_LIMITS, LEGACY_RATE_LIMITS, RequestRecord, Simulator, run_simulator_cli
from .team import Team
from .variants import Variants

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "LEGACY_RATE_LIMITS",
    "Faults",
    "RequestRecord",
    "Simulator",
    "Team",
    "Variants",
    "run_simulator_cli",
]

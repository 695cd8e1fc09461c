"""Celery tasks of analytics: thin wrappers over services (each module's
docstring says what it computes)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from analytics.services.whatif import RUN_TIME_LIMIT


@shared_task(acks_late=True)
def score_members(*, as_of: str | None = None) -> int | None:
    """The nightly RFM and CLV scores (``analytics.services.scoring.members_score``);
    ``as_of`` an ISO date (default: today in the program's zone). The run's id, or
    ``None`` when another run was under way."""
    from analytics.services.scoring import members_score  # numpy/scipy load only when the task runs

    run = members_score(as_of=None if as_of is None else dt.date.fromisoformat(as_of))
    return None if run is None else run.pk


@shared_task(acks_late=True, time_limit=RUN_TIME_LIMIT, soft_time_limit=RUN_TIME_LIMIT - 100)
def run_simulation(*, simulation_id: int) -> str | None:
    """Run a queued what-if simulation (``analytics.services.whatif.simulation_run``);
    its status afterwards. A replay of 100,000 members takes minutes: hence the
    hour's limit (the default is 300 s)."""
    from analytics.services.whatif import simulation_run

    simulation = simulation_run(simulation_id=simulation_id)
    return None if simulation is None else simulation.status


@shared_task(acks_late=True)
def warm_dashboard() -> int:
    """Compute this month's and last month's dashboard (all stores, every language)
    ahead of the staff who open it (``analytics.selectors.dashboard.dashboard_warm``);
    how many pages. Nothing is computed when the data has not changed."""
    from analytics.selectors.dashboard import dashboard_warm
    from loyalty.selectors import program_get_or_none

    program = program_get_or_none()
    return 0 if program is None else dashboard_warm(program=program)

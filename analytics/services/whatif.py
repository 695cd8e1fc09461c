"""What-if simulations: starting one, and running it (the task calls
``simulation_run``). The replay itself is ``analytics.whatif``; this module
keeps its status, result and errors on ``analytics.models.Simulation``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics.models import Simulation
from analytics.whatif import scenario_from_data, whatif_replay
from members.models import User

logger = logging.getLogger(__name__)

# The hard time limit of ``analytics.tasks.run_simulation`` (seconds): no run lives longer.
RUN_TIME_LIMIT = 3600


def simulation_start(*, scenario: Mapping[str, Any], user: User | None) -> Simulation:
    """Check ``scenario`` (``ValidationError`` keyed by the field at fault), store a
    queued simulation and enqueue its run after commit. Takes no lock; starting the
    same scenario twice runs it twice (each run is a snapshot of its moment)."""
    checked = scenario_from_data(scenario)
    with transaction.atomic():
        simulation = Simulation.objects.create(scenario=checked.as_data(), created_by=user)
        transaction.on_commit(lambda: _enqueue(simulation.pk))
    return simulation


def _enqueue(simulation_id: int) -> None:
    from analytics.tasks import run_simulation  # tasks import services: imported at call time

    run_simulation.delay(simulation_id=simulation_id)


def simulation_run(*, simulation_id: int) -> Simulation | None:
    """Run a queued simulation and store its result (``done``) or its error (``failed``).

    Claims the row with a conditional update (``queued`` -> ``running``), so a
    task delivered twice runs it once; ``None`` when there was nothing to run.
    A row ``running`` for longer than the task's hard time limit (``RUN_TIME_LIMIT``)
    was left by a killed worker: the redelivered task (``acks_late``) claims it again.
    The replay reads only (``whatif_replay``: a rolled-back transaction); the
    only writes are this row's. A scenario that no longer validates (its rule
    was deleted meanwhile) fails with the message; any other error fails the
    simulation with a generic message and is raised again for the worker's log.
    """
    now = timezone.now()
    claimable = Q(status=Simulation.Status.QUEUED) | Q(
        status=Simulation.Status.RUNNING, started_at__lt=now - dt.timedelta(seconds=RUN_TIME_LIMIT)
    )
    claimed = Simulation.objects.filter(claimable, pk=simulation_id).update(
        status=Simulation.Status.RUNNING, started_at=now
    )
    if not claimed:
        return None
    simulation = Simulation.objects.get(pk=simulation_id)
    try:
        result = whatif_replay(scenario_from_data(simulation.scenario))
    except ValidationError as error:
        _finish(simulation, status=Simulation.Status.FAILED, error=" ".join(error.messages))
        return simulation
    except Exception:
        logger.exception("simulation %s failed", simulation_id)
        _finish(simulation, status=Simulation.Status.FAILED,
                error=_("The simulation stopped on an unexpected error; it is logged."))
        raise
    _finish(simulation, status=Simulation.Status.DONE, result=result.as_data())
    return simulation


def _finish(simulation: Simulation, *, status: str, result: dict | None = None, error: str = "") -> None:
    simulation.status, simulation.finished_at = status, timezone.now()
    simulation.result, simulation.error = result or {}, error
    simulation.save(update_fields=["status", "finished_at", "result", "error"])

"""``/staff/analytics/what-if/``: the program-economics simulator.

The list of past simulations and the form to start one; a simulation's page
(its status while it runs, then the comparison of the current program and
the change over the last 12 months, with the ledger's own figures as a
check) and its CSV. Owner and manager start simulations (they concern the
program's configuration: ``ADMIN_ROLES``); marketing sees them and their
results. Starting goes through ``simulation_start``; the replay runs in the
task ``run_simulation`` (in-process in the demo, so it is done by the time
the page answers).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, ListView

from analytics.csv_export import csv_response
from analytics.forms.whatif import WhatIfForm
from analytics.models import Simulation
from analytics.services.whatif import simulation_start
from analytics.whatif import scenario_lines, scenario_lines_many, whatif_rows
from loyalty.selectors import program_get_or_none
from loyalty.views.staff import StaffPage
from members.permissions import ADMIN_ROLES

REFRESH_SECONDS = 5


def may_run(user) -> bool:
    return user.role in ADMIN_ROLES


class WhatIfView(StaffPage, ListView):
    template_name = "staff/analytics/whatif.html"
    section = "analytics"
    paginate_by = 20
    context_object_name = "simulations"

    def get_queryset(self):
        return Simulation.objects.select_related("created_by").order_by("-created_at", "-pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["may_run"] = may_run(self.request.user)
        if context["may_run"] and "form" not in context:
            context["form"] = WhatIfForm(program=program_get_or_none())
        simulations = list(context["simulations"])
        context["rows"] = list(zip(
            simulations, scenario_lines_many([simulation.scenario for simulation in simulations]), strict=True,
        ))
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not may_run(request.user):
            raise PermissionDenied
        form = WhatIfForm(request.POST, program=program_get_or_none())
        if form.is_valid():
            try:
                simulation = simulation_start(scenario=form.scenario, user=request.user)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return redirect("staff:what-if-detail", pk=simulation.pk)
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(form=form), status=400)


class WhatIfDetailView(StaffPage, DetailView):
    template_name = "staff/analytics/whatif_detail.html"
    section = "analytics"
    model = Simulation
    context_object_name = "simulation"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET.get("status") == "1":  # the page's polling: the status only
            simulation = get_object_or_404(Simulation, pk=kwargs["pk"])
            return JsonResponse({"status": simulation.status, "label": simulation.get_status_display()})
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        simulation = self.object
        context["lines"] = scenario_lines(simulation.scenario)
        context["running"] = simulation.status in (Simulation.Status.QUEUED, Simulation.Status.RUNNING)
        context["refresh_seconds"] = REFRESH_SECONDS
        if simulation.status == Simulation.Status.DONE:
            context["result"] = simulation.result
            context["table"] = whatif_rows(simulation.result)
        return context


class WhatIfCsvView(StaffPage, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        simulation = get_object_or_404(Simulation, pk=pk, status=Simulation.Status.DONE)
        result = simulation.result
        header = ["figure", "actual", "with_change", "difference", "ledger"]

        def cell(value):
            return "" if value is None else value

        rows = ([row.label, cell(row.actual), cell(row.scenario), cell(row.difference), cell(row.ledger)]
                for row in whatif_rows(result))
        return csv_response(
            filename=f"what-if-{simulation.pk}-{result['start']}-{result['end']}.csv", header=header, rows=rows,
        )

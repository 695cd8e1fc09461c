"""``/staff/``: the landing page, program settings, stores and purchases.

Member search and detail live in ``members.views.staff``; both are served
under the ``staff`` URL namespace.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.generic import FormView, ListView, TemplateView

from loyalty.forms.staff import ProgramForm, PurchaseFilterForm, StoreForm
from loyalty.models import Program, Purchase, Store
from loyalty.selectors import dashboard_get, program_get_or_none, purchase_list_for_staff
from loyalty.services.program import program_save, store_save
from members.permissions import ADMIN_ROLES, StaffRoleRequired


class StaffPage(StaffRoleRequired):
    """A page of the staff face; ``section`` marks the current navigation item."""

    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["section"] = self.section
        context["can_manage"] = self.request.user.role in ADMIN_ROLES
        return context


class DashboardView(StaffPage, TemplateView):
    template_name = "staff/dashboard.html"
    section = "dashboard"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        program = program_get_or_none()
        context["dashboard"] = dashboard_get(program=program) if program else None
        return context


class ProgramEditView(StaffPage, FormView):
    template_name = "staff/program_form.html"
    form_class = ProgramForm
    roles = ADMIN_ROLES
    section = "program"

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        # Always the row as stored, never the cached copy.
        kwargs["instance"] = Program.objects.filter(pk=1).first() or Program(pk=1)
        kwargs["user"] = self.request.user
        return kwargs

    def form_valid(self, form: ProgramForm):
        try:
            program_save(program=form.instance)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("The program settings were saved."))
        return redirect("staff:program")


class StoreListView(StaffPage, ListView):
    template_name = "staff/store_list.html"
    section = "program"
    paginate_by = 50
    context_object_name = "stores"

    def get_queryset(self):
        return Store.objects.order_by("name", "pk")


class StoreEditView(StaffPage, FormView):
    template_name = "staff/store_form.html"
    form_class = StoreForm
    roles = ADMIN_ROLES
    section = "program"

    def dispatch(self, request, *args, **kwargs):
        self.store = None
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        if "pk" in self.kwargs:
            self.store = get_object_or_404(Store, pk=self.kwargs["pk"])
        kwargs["instance"] = self.store
        if self.store is None:
            program = program_get_or_none()
            kwargs["initial"] = {"timezone": program.timezone if program else "UTC"}
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(store=self.store, **kwargs)

    def form_valid(self, form: StoreForm):
        try:
            store = store_save(store=form.instance)
        except ValidationError as error:
            form.add_error(None, error)
            return self.form_invalid(form)
        messages.success(self.request, _("Store %(name)s was saved.") % {"name": store.name})
        return redirect("staff:stores")


class PurchaseListView(StaffPage, ListView):
    template_name = "staff/purchase_list.html"
    section = "purchases"
    paginate_by = 25
    context_object_name = "purchases"

    def get_queryset(self):
        program = program_get_or_none()
        self.filter_form = PurchaseFilterForm(self.request.GET or None)
        if program is None:
            return Purchase.objects.none()
        filters = {}
        if self.filter_form.is_bound and self.filter_form.is_valid():
            data = self.filter_form.cleaned_data
            filters = {
                "store": data["store"], "day_from": data["date_from"], "day_to": data["date_to"],
                "with_member": self.filter_form.with_member,
            }
        return purchase_list_for_staff(tz=program.tz, **filters)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(filter_form=self.filter_form, **kwargs)

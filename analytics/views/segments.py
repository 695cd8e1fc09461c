"""``/staff/analytics/segments/``: saved segments (list with member counts,
create, edit with a live count, the member list, CSV export, archive).
Owner, manager and marketing.

Saving goes through ``segment_save`` / ``segment_archive``; the count preview
and the pages read through ``analytics.segments`` and
``analytics.selectors.segments``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.generic import ListView, TemplateView

from analytics.csv_export import csv_response
from analytics.forms.segments import SegmentEditor, builder_spec, error_text
from analytics.models import Segment
from analytics.segments import segment_validate
from analytics.selectors.segments import (
    rfm_label,
    rules_naming_segment,
    segment_count_cached,
    segment_counts_cached,
    segment_export_header,
    segment_export_rows,
    segment_list_for_staff,
    segment_member_list,
)
from analytics.services.segments import segment_archive, segment_restore, segment_save
from loyalty.models import Tier
from loyalty.selectors import program_get_or_none
from loyalty.templatetags.loyalty_tags import points
from loyalty.views.staff import StaffPage


def members_text(count: int) -> str:
    return ngettext("%(count)s member", "%(count)s members", count) % {"count": points(count)}


class SegmentListView(StaffPage, ListView):
    template_name = "staff/analytics/segment_list.html"
    section = "analytics"
    paginate_by = 25
    context_object_name = "segments"

    def get_queryset(self):
        self.archived = self.request.GET.get("archived") == "1"
        return segment_list_for_staff(archived=self.archived)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # An archived segment has nobody in it (the rules find nobody), so no count.
        counts = {} if self.archived else segment_counts_cached(context["segments"])
        context["rows"] = [(segment, counts.get(segment.pk)) for segment in context["segments"]]
        context["archived"] = self.archived
        return context


class SegmentEditView(StaffPage, TemplateView):
    """Create (no ``pk``) or edit a segment. Without script, "Add a condition" and
    "Count members" post the form back here and save nothing."""

    template_name = "staff/analytics/segment_form.html"
    section = "analytics"

    def load(self) -> None:
        self.segment = (
            get_object_or_404(Segment, pk=self.kwargs["pk"], archived_at__isnull=True) if "pk" in self.kwargs else None
        )

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(editor=SegmentEditor(segment=self.segment)))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        adding, counting = "add" in request.POST, "count" in request.POST
        editor = SegmentEditor(request.POST, segment=self.segment, add_row=adding, quiet=adding or counting)
        if adding:
            return self.render_to_response(self.get_context_data(editor=editor, quiet=True))
        if counting:
            count_text = None
            if editor.rows_valid():
                try:
                    count_text = members_text(segment_count_cached(segment_validate(editor.conditions())))
                except ValidationError as error:
                    editor.add_condition_errors(error)
            return self.render_to_response(
                self.get_context_data(editor=editor, count_text=count_text, errors=editor.error_list(), quiet=True)
            )
        if editor.is_valid():
            conditions = editor.conditions()
            try:
                segment = segment_save(
                    segment=self.segment, name=editor.form.cleaned_data["name"],
                    description=editor.form.cleaned_data["description"], conditions=conditions,
                    user=request.user,
                )
            except ValidationError as error:
                for field, errors in error.error_dict.items():
                    if field == "conditions":
                        editor.add_condition_errors(ValidationError(errors))
                    else:
                        for item in errors:
                            editor.form.add_error(field if field in editor.form.fields else None, item)
            else:
                messages.success(request, _("Segment %(name)s was saved.") % {"name": segment.name})
                return redirect("staff:segment-members", pk=segment.pk)
        return self.render_to_response(self.get_context_data(editor=editor, errors=editor.error_list()))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["segment"] = self.segment
        context["builder_spec"] = builder_spec()
        context["builder_texts"] = {
            "remove": _("Remove"), "fix": _("Fix the conditions to see a count."), "counting": _("Counting…"),
            "failed": _("The count could not be made; try again."),
        }
        return context


class SegmentCountView(StaffPage, View):
    """POST the editor's form: ``{"count", "text"}``, or 400 with ``{"errors", "text"}``."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        editor = SegmentEditor(request.POST)
        if editor.rows_valid():
            try:
                conditions = segment_validate(editor.conditions())
            except ValidationError as error:
                errors = [error_text(item) for item in error.error_list]
            else:
                count = segment_count_cached(conditions)
                return JsonResponse({"count": count, "text": members_text(count)})
        else:
            errors = editor.error_list() or [_("Check the conditions.")]
        return JsonResponse({"errors": errors, "text": _("Fix the conditions to see a count.")}, status=400)


class SegmentMembersView(StaffPage, ListView):
    template_name = "staff/analytics/segment_members.html"
    section = "analytics"
    paginate_by = 50
    context_object_name = "members"

    def load(self) -> None:
        self.segment = get_object_or_404(Segment, pk=self.kwargs["pk"])

    def get_queryset(self):
        return segment_member_list(self.segment)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        tiers = {tier.pk: tier for tier in Tier.objects.all()} if context["members"] else {}
        context["rows"] = [
            (member, tiers.get(member.tier_now), rfm_label(member.rfm_group_now)) for member in context["members"]
        ]
        context["segment"] = self.segment
        context["count_text"] = members_text(context["paginator"].count)
        program = program_get_or_none()
        context["zone"] = program.tz if program else timezone.get_current_timezone()
        return context


class SegmentExportView(StaffPage, View):
    http_method_names = ["get"]

    def load(self) -> None:
        self.segment = get_object_or_404(Segment, pk=self.kwargs["pk"])

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        segment = self.segment
        program = program_get_or_none()
        tz = program.tz if program else timezone.get_current_timezone()
        today = timezone.localdate(timezone=tz)
        return csv_response(
            filename=f"segment-{segment.pk}-{today:%Y-%m-%d}.csv", header=segment_export_header(),
            rows=segment_export_rows(segment, tz=tz),
        )


class SegmentArchiveView(StaffPage, View):
    """POST only: archive a segment; rules that still name it are listed in the message."""

    http_method_names = ["post"]

    def load(self) -> None:
        self.segment = get_object_or_404(Segment, pk=self.kwargs["pk"], archived_at__isnull=True)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        segment = segment_archive(segment=self.segment)
        naming = rules_naming_segment(segment)
        messages.success(request, _("Segment %(name)s is archived: nobody is in it any more.") % {
            "name": segment.name,
        })
        if naming:
            messages.warning(request, _("These rules still name it and now give its members nothing: %(rules)s.") % {
                "rules": ", ".join(naming),
            })
        return redirect("staff:segments")


class SegmentRestoreView(StaffPage, View):
    """POST only: bring an archived segment back to the list and to the rules naming it."""

    http_method_names = ["post"]

    def load(self) -> None:
        self.segment = get_object_or_404(Segment, pk=self.kwargs["pk"], archived_at__isnull=False)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        segment = segment_restore(segment=self.segment)
        messages.success(request, _("Segment %(name)s is back: rules that name it find its members again.") % {
            "name": segment.name,
        })
        return redirect("staff:segments")

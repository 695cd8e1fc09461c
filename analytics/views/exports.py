"""``/staff/analytics/exports/``: the members and ledger CSV downloads.

One page with a form per export; each form submits with GET to the same
address with ``export=members`` or ``export=ledger`` and gets the file,
streamed (``analytics.csv_export.csv_response``). Filters that do not
validate give the page again (400) with the field named, and no file.

Owner, manager and marketing: marketing builds segments and campaigns, which
a member list serves, so it may export too; every export is logged (who,
which export, its filters; never a member's data).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from analytics.csv_export import csv_response
from analytics.forms.exports import LedgerExportForm
from analytics.kpis import day_start
from analytics.selectors.exports import (
    ledger_export_header,
    ledger_export_rows,
    members_export_header,
    members_export_rows,
)
from loyalty.selectors import program_get_or_none
from loyalty.views.staff import StaffPage

logger = logging.getLogger(__name__)

class ExportsView(StaffPage, TemplateView):
    template_name = "staff/analytics/exports.html"
    section = "analytics"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        program = program_get_or_none()
        self.tz = program.tz if program else timezone.get_default_timezone()
        self.today = timezone.localdate(timezone=self.tz)
        export = request.GET.get("export")
        if export is None:
            return self.render_to_response(self.get_context_data(ledger_form=LedgerExportForm(today=self.today)))
        handlers = {"members": self.members, "ledger": self.ledger}
        if export in handlers:
            return handlers[export]()
        context = self.get_context_data(
            ledger_form=LedgerExportForm(today=self.today),
            export_error=_("Export: %(value)s is not one of the exports here.") % {"value": export[:40]},
        )
        return self.render_to_response(context, status=400)

    def members(self) -> HttpResponse:
        self._log("members", {})
        return csv_response(
            filename=f"members-{self.today.isoformat()}.csv",
            header=members_export_header(), rows=members_export_rows(tz=self.tz),
        )

    def ledger(self) -> HttpResponse:
        form = LedgerExportForm(self.request.GET, today=self.today)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(ledger_form=form), status=400)
        data = form.cleaned_data
        start_at = day_start(data["date_from"], self.tz)
        end_at = day_start(data["date_to"] + dt.timedelta(days=1), self.tz)
        self._log("ledger", form.filters())
        return csv_response(
            filename=f"ledger-{data['date_from'].isoformat()}-{data['date_to'].isoformat()}.csv",
            header=ledger_export_header(),
            rows=ledger_export_rows(
                start_at=start_at, end_at=end_at, tz=self.tz, store=data.get("store"), kind=data.get("kind") or None,
            ),
        )

    def _log(self, export: str, filters: dict[str, str]) -> None:
        user = self.request.user
        logger.info("staff export %s by user %s (%s), filters %s", export, user.pk, user.role, filters)

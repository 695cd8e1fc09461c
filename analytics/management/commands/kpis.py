"""``manage.py kpis``: BRIEF.md's KPI table for a period, as JSON or a table."""

from __future__ import annotations

import json

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analytics.kpis import kpis_as_json, kpis_compute
from analytics.management.base import TranslatedHelpCommand, date_option
from loyalty.models import Store

HELP = gettext_lazy(
    "Print the program's KPIs for the period [start, end) of calendar days in the program's "
    "time zone, optionally for one store, with the previous period of equal length."
)


class Command(TranslatedHelpCommand):
    help = HELP

    def add_arguments(self, parser):
        parser.add_argument(
            "--start", required=True, metavar="YYYY-MM-DD", help=_("First day of the period.")
        )
        parser.add_argument(
            "--end", required=True, metavar="YYYY-MM-DD",
            help=_("Day after the last day of the period (the period ends at its midnight)."),
        )
        parser.add_argument("--store", metavar="CODE", help=_("Only this store (its code)."))
        parser.add_argument(
            "--json", action="store_true",
            help=_("Print one JSON object (period, currency, kpis, clv_model) instead of a table."),
        )

    def handle(self, *args, start, end, store=None, json=False, **options):
        start_date, end_date = date_option(start, "--start"), date_option(end, "--end")
        if end_date <= start_date:
            raise CommandError(
                _("--end: %(end)s must come after --start %(start)s.")
                % {"end": end_date.isoformat(), "start": start_date.isoformat()}
            )
        store_obj = None
        if store is not None:
            store_obj = Store.objects.filter(code=store).first()
            if store_obj is None:
                raise CommandError(_("--store: no store has the code %(code)r.") % {"code": store})
        # The previous period without its CLV fit: BRIEF.md's JSON has only this period's,
        # and a second fit would double the command's time (bench/bench_analytics.py).
        report = kpis_compute(start=start_date, end=end_date, store=store_obj, previous_clv=False)
        data = kpis_as_json(report)
        if json:
            self.stdout.write(_dumps(data))
            return
        previous = data.get("previous", {}).get("kpis", {})
        self.stdout.write(
            _("KPIs from %(start)s to %(end)s (end excluded), %(currency)s%(store)s")
            % {
                "start": data["period"]["start"], "end": data["period"]["end"], "currency": data["currency"],
                "store": (", " + store_obj.code) if store_obj else "",
            }
        )
        rows = [(_("KPI"), _("value"), _("previous period"))]
        rows += [(name, _cell(value), _cell(previous.get(name))) for name, value in data["kpis"].items()]
        widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
        for row in rows:
            self.stdout.write("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)

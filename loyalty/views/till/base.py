"""What every till page shares: the store of the device, and moving the focus to errors."""

from __future__ import annotations

from typing import Any

from loyalty.forms.till import TillSearchForm
from members.permissions import CashierRequired

SERVICE_FIELDS = {"external_id": "receipt", "purchased_at": None, "refunded_at": None, "currency": None}


def focus_first_error(form, *, others=()) -> None:
    """Move the page's autofocus to the first field with an error (and off the other forms)."""
    for other in others:
        for field in other.fields.values():
            field.widget.attrs.pop("autofocus", None)
    for field in form.fields.values():
        field.widget.attrs.pop("autofocus", None)
    for name in form.errors:
        if name in form.fields and not form.fields[name].widget.is_hidden:
            form.fields[name].widget.attrs["autofocus"] = True
            return


class TillPage(CashierRequired):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["store"] = self.store
        context.setdefault("search_form", TillSearchForm())
        return context


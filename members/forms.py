"""Forms of the member pages, and the helper every face uses to show a
refused business action on its form."""

from __future__ import annotations

from collections.abc import Mapping

from django import forms
from django.utils.translation import gettext_lazy as _

from members.exceptions import LoyaltyError


def form_add_service_error(
    form: forms.Form, error: LoyaltyError, *, fields: Mapping[str, str | None] | None = None
) -> None:
    """Show ``error`` on ``form``: on the field it names when the form has
    that field (``fields`` maps a service's field name to the form's, or to
    ``None`` for "above the form"), else above the form."""
    name = error.field
    if name and fields and name in fields:
        name = fields[name]
    form.add_error(name if name in form.fields else None, error.message)


class MemberSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search members"),
        required=False,
        max_length=100,
        help_text=_("Name, email, phone or card number."),
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )

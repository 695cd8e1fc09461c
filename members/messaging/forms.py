"""The filter of the staff delivery log."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import Delivery


class DeliveryFilterForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"), required=False, choices=[("", _("Any")), *Delivery.Channel.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *Delivery.Status.choices]
    )
    q = forms.CharField(
        label=_("Recipient or card"), required=False, max_length=254,
        help_text=_("An exact email or phone, or the start of a card number."),
    )

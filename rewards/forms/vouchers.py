"""Forms of the staff voucher and campaign pages: find a voucher by code,
filter the voucher list, cancel a voucher, create a campaign and issue it to
one member or to a list (pasted or uploaded; read by
``rewards.selectors.vouchers``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper
from loyalty.forms.rules import ZonedDateTimeField
from rewards.models import Reward, Voucher
from rewards.selectors.vouchers import Recipients, recipients_from_csv, recipients_from_text, recipients_resolve
from rewards.services.gifts import CAMPAIGN_KINDS

ERRORS_SHOWN = 50


class VoucherCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Voucher code"), max_length=40,
        help_text=_("15 characters, as printed or shown on the member's phone; dashes and spaces are optional."),
        widget=forms.TextInput(attrs={
            "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "type": "search",
        }),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class VoucherFilterForm(forms.Form):
    member = forms.CharField(
        label=_("Member"), required=False, max_length=100,
        help_text=_("Card number, email or name."),
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    state = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Any")), *Voucher.Status.choices])
    reward = forms.ModelChoiceField(
        label=_("Reward"), required=False, queryset=Reward.objects.order_by("name", "pk"), empty_label=_("Any"),
        to_field_name="code",
    )
    origin = forms.ChoiceField(label=_("Origin"), required=False, choices=[("", _("Any")), *Voucher.Origin.choices])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class VoucherCancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"), max_length=255,
        help_text=_("Recorded with your name; the returned points carry it in the member's history."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()


class CampaignForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=120,
        help_text=_("For staff: e.g. Birthday gift June, Win-back spring."),
    )
    reward = forms.ModelChoiceField(
        label=_("Reward"), queryset=Reward.objects.none(),
        help_text=_("A discount or a free product; members pay no points for it. Archived rewards are not offered."),
    )

    def __init__(self, *args, tz: ZoneInfo, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        zone = str(tz)
        self.fields["reward"].queryset = Reward.objects.filter(
            kind__in=CAMPAIGN_KINDS, status=Reward.Status.ACTIVE
        ).order_by("name", "pk")
        self.fields["valid_from"] = ZonedDateTimeField(
            tz=tz, label=_("Valid from"), required=False,
            help_text=_("In the program's time zone (%(zone)s). Empty: from now.") % {"zone": zone},
        )
        self.fields["valid_until"] = ZonedDateTimeField(
            tz=tz, label=_("Valid until"),
            help_text=_("In the program's time zone (%(zone)s); the vouchers cannot be used from this minute on.")
            % {"zone": zone},
        )
        self.helper = NoTagHelper()


class CampaignIssueOneForm(forms.Form):
    """One member, by card number or email."""

    prefix = "one"

    member = forms.CharField(
        label=_("Card number or email"), max_length=254,
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()
        self.recipients = Recipients()

    def clean_member(self) -> str:
        typed = self.cleaned_data["member"]
        self.recipients = recipients_resolve([(1, typed)])
        if self.recipients.errors:
            raise forms.ValidationError([message for _line, message in self.recipients.errors])
        return typed


class CampaignIssueListForm(forms.Form):
    """A list of members: pasted (one card number or email per line) or a CSV
    file with a ``card_number`` or ``email`` column. Any wrong line refuses
    the whole list, with every wrong line named."""

    prefix = "list"

    members = forms.CharField(
        label=_("Card numbers or emails"), required=False,
        help_text=_("One per line."),
        widget=forms.Textarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}),
    )
    file = forms.FileField(
        label=_("Or a CSV file"), required=False,
        help_text=_("UTF-8, comma-separated, with a header row naming a card_number or an email column; "
                    "other columns are ignored."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()
        self.recipients = Recipients()

    def clean(self) -> dict:
        data = super().clean()
        text, file = (data.get("members") or "").strip(), data.get("file")
        if self.errors:
            return data
        if text and file:
            raise forms.ValidationError(gettext("Paste a list or upload a file, not both."), code="both")
        if not text and not file:
            raise forms.ValidationError(
                gettext("Paste card numbers or emails, one per line, or upload a CSV file."), code="empty"
            )
        self.recipients = recipients_from_csv(file) if file else recipients_from_text(data["members"])
        errors = self.recipients.errors
        if errors:
            field = "file" if file else "members"
            wrong = sum(1 for line, _message in errors if line)
            messages = []
            if wrong:
                messages.append(ngettext(
                    "%(count)d line is wrong; nobody was given a voucher. Correct it and send the list again.",
                    "%(count)d lines are wrong; nobody was given a voucher. Correct them and send the list again.",
                    wrong,
                ) % {"count": wrong})
            for line, message in errors[:ERRORS_SHOWN]:
                messages.append(
                    gettext("Line %(line)d: %(message)s") % {"line": line, "message": message} if line else message
                )
            if len(errors) > ERRORS_SHOWN:
                messages.append(ngettext(
                    "… and %(count)d more wrong line.", "… and %(count)d more wrong lines.", len(errors) - ERRORS_SHOWN,
                ) % {"count": len(errors) - ERRORS_SHOWN})
            self.add_error(field, messages)
        return data

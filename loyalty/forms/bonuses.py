"""Forms of the action bonuses: the seven kinds on one page, and a review mark."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from loyalty.forms.common import NoTagHelper
from loyalty.models import ActionBonus

Kind = ActionBonus.Kind

OCCASIONS = {
    Kind.SIGNUP: _("Once, when a member signs up online or is enrolled at a till (not imported members)."),
    Kind.PROFILE: _("Once, when first name, last name, email, phone and birth date are all filled in."),
    Kind.REFERRER: _(
        "For each member they referred, once that member's first purchase is past the return window "
        "and not fully refunded."
    ),
    Kind.REFERRED: _("Once, to the referred member, at the same moment as the referrer's bonus."),
    Kind.REVIEW: _("Once per review, when staff mark it on the member's page."),
    Kind.BIRTHDAY: _("Once a year on the member's birthday (28 February for 29 February in common years)."),
    Kind.ANNIVERSARY: _("On each anniversary of the member's enrollment."),
}


@dataclass(frozen=True)
class BonusRow:
    kind: str
    label: str
    occasion: str
    points: forms.BoundField
    active: forms.BoundField


class ActionBonusesForm(forms.Form):
    """For each kind: its points and whether it is on (``<kind>-points``, ``<kind>-active``)."""

    def __init__(self, *args, bonuses: dict[str, ActionBonus], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for kind, label in Kind.choices:
            row = bonuses.get(kind)
            self.fields[f"{kind}-points"] = forms.IntegerField(
                label=_("Points for %(bonus)s") % {"bonus": label}, min_value=1, max_value=1_000_000,
                required=False, initial=row.points if row else None,
            )
            self.fields[f"{kind}-active"] = forms.BooleanField(
                label=_("%(bonus)s is on") % {"bonus": label}, required=False,
                initial=row.active if row else False,
            )

    def clean(self) -> dict:
        cleaned = super().clean()
        for kind, label in Kind.choices:
            if cleaned.get(f"{kind}-active") and not cleaned.get(f"{kind}-points") and not self.errors.get(
                f"{kind}-points"
            ):
                self.add_error(
                    f"{kind}-points",
                    forms.ValidationError(
                        _("Give the points of the %(bonus)s bonus to switch it on."),
                        params={"bonus": label}, code="bonus_points_required",
                    ),
                )
        return cleaned

    @property
    def rows(self) -> list[BonusRow]:
        return [
            BonusRow(
                kind=kind, label=label, occasion=str(OCCASIONS[kind]),
                points=self[f"{kind}-points"], active=self[f"{kind}-active"],
            )
            for kind, label in Kind.choices
        ]

    def values(self) -> dict[str, tuple[int | None, bool]]:
        return {
            kind: (self.cleaned_data.get(f"{kind}-points"), bool(self.cleaned_data.get(f"{kind}-active")))
            for kind in Kind.values
        }


class ReviewMarkForm(forms.Form):
    reference = forms.CharField(
        label=_("Review link or id"), max_length=500,
        help_text=_("Where the review can be found, e.g. its web address. Each review is rewarded once."),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = NoTagHelper()

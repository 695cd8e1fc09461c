"""``/admin/`` for superusers: rewards and charities are saved through
``rewards.services.catalog`` (checked as the staff pages check them); partner
codes, campaigns, vouchers and waitlists are read-only here (vouchers move
only through their services: redeem, use, cancel)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from modeltranslation.admin import TranslationAdmin

from loyalty.admin import ReadOnlyAdmin
from rewards.models import Campaign, Charity, PartnerCode, Reward, Voucher, WaitlistEntry
from rewards.services.catalog import charity_errors, charity_save, reward_save, reward_validate


class RewardAdminForm(forms.ModelForm):
    """Checked by ``reward_validate``, as the staff pages are."""

    def _post_clean(self) -> None:
        super()._post_clean()
        stored = Reward.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        try:
            reward_validate(reward=self.instance, stored=stored)
        except ValidationError as error:
            self._update_errors(error)


@admin.register(Reward)
class RewardAdmin(TranslationAdmin):
    form = RewardAdminForm
    list_display = ["name", "code", "kind", "status", "in_catalog", "points_cost", "stock", "min_tier", "charity"]
    list_select_related = ["min_tier", "charity"]
    list_filter = ["kind", "status", "in_catalog"]
    search_fields = ["code", "name", "sku"]
    autocomplete_fields = ["charity"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request, obj, form, change) -> None:
        # Only the stock the superuser changed is written; redemptions move it meanwhile.
        seen = form.initial.get("stock") if change else None
        data = {"stock": obj.stock} if "stock" in form.changed_data or not change else {}
        reward_save(reward=obj, data=data, actor=request.user, **({"stock_seen": seen} if data and change else {}))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: vouchers name it


class CharityAdminForm(forms.ModelForm):
    def _post_clean(self) -> None:
        super()._post_clean()
        stored = Charity.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        errors = charity_errors(self.instance, stored=stored)
        if errors:
            self._update_errors(ValidationError(errors))


@admin.register(Charity)
class CharityAdmin(TranslationAdmin):
    form = CharityAdminForm
    list_display = ["name", "code", "active", "donations", "donated_points", "donated_amount"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    readonly_fields = ["donations", "donated_points", "donated_amount"]

    def save_model(self, request, obj, form, change) -> None:
        charity_save(charity=obj, data={}, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # switch it off instead: rewards and totals name it


@admin.register(PartnerCode)
class PartnerCodeAdmin(ReadOnlyAdmin):
    list_display = ["reward", "code", "voucher", "imported_at"]
    list_select_related = ["reward", "voucher"]
    list_filter = ["reward"]
    search_fields = ["code", "reward__code"]


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ["name", "reward", "valid_from", "valid_until", "created_by", "created_at"]
    list_select_related = ["reward", "created_by"]
    search_fields = ["name", "reward__code"]


@admin.register(Voucher)
class VoucherAdmin(ReadOnlyAdmin):
    list_display = [
        "code", "reward", "member", "status", "origin", "points", "issued_at", "valid_until", "used_at", "used_store",
    ]
    list_select_related = ["reward", "member", "used_store"]
    list_filter = ["status", "origin", "issued_via"]
    search_fields = ["code", "member__card_number", "reward__code"]
    date_hierarchy = "issued_at"


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ReadOnlyAdmin):
    list_display = ["reward", "member", "status", "joined_at", "voucher"]
    list_select_related = ["reward", "member", "voucher"]
    list_filter = ["status"]
    search_fields = ["member__card_number", "reward__code"]

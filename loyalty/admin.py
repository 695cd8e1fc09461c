"""``/admin/`` for superusers: the program, stores and tiers go through their
services; purchases, refunds, lots, the ledger, members' tiers, tier history
and paid-tier fees are read-only (points and tiers move only through their
services)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from modeltranslation.admin import TranslationAdmin

from loyalty.models import (
    LedgerEntry,
    MemberTier,
    PointsAccount,
    PointsLot,
    Program,
    Purchase,
    PurchaseLine,
    Refund,
    Store,
    Tier,
    TierChange,
    VipFee,
)
from loyalty.services.program import program_save, store_save
from loyalty.services.tiers import tier_save, tier_validate


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ["name", "currency", "country", "timezone", "earn_rate", "point_value"]

    def save_model(self, request, obj, form, change) -> None:
        program_save(program=obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "timezone", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change) -> None:
        store_save(store=obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PurchaseLineInline(admin.TabularInline):
    model = PurchaseLine
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "store", "member", "purchased_at", "amount", "refunded_amount", "points", "source"]
    list_select_related = ["store", "member"]
    list_filter = ["source", "store"]
    search_fields = ["external_id"]
    date_hierarchy = "purchased_at"
    inlines = [PurchaseLineInline]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "purchase", "amount", "refunded_at", "points_reversed", "source"]
    list_select_related = ["purchase"]
    search_fields = ["external_id", "purchase__external_id"]


@admin.register(PointsAccount)
class PointsAccountAdmin(ReadOnlyAdmin):
    list_display = ["member", "available", "pending", "debt", "next_due_at"]
    list_select_related = ["member"]
    search_fields = ["member__card_number"]


@admin.register(PointsLot)
class PointsLotAdmin(ReadOnlyAdmin):
    list_display = ["pk", "account", "points", "remaining", "status", "earned_at", "available_at", "expires_at"]
    list_select_related = ["account"]
    list_filter = ["status"]
    search_fields = ["account__member__card_number"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "account", "kind", "points", "effective_at", "recorded_at", "actor", "reason"]
    list_select_related = ["account", "actor"]
    list_filter = ["kind"]
    search_fields = ["account__member__card_number", "idempotency_key"]



class TierAdminForm(forms.ModelForm):
    """Checked by ``tier_validate``, as the staff pages are (thresholds, fees, ranks)."""

    def _post_clean(self) -> None:
        super()._post_clean()
        try:
            tier_validate(tier=self.instance)
        except ValidationError as error:
            self._update_errors(error)


@admin.register(Tier)
class TierAdmin(TranslationAdmin):
    """Names and benefits in every language (django-modeltranslation)."""

    form = TierAdminForm
    list_display = ["name", "code", "rank", "threshold", "multiplier", "is_paid", "fee", "period_months", "archived"]
    list_filter = ["is_paid", "archived"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change) -> None:
        tier_save(tier=obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: the history names it


@admin.register(MemberTier)
class MemberTierAdmin(ReadOnlyAdmin):
    list_display = ["member", "tier", "since", "grace_until", "vip_until"]
    list_select_related = ["member", "tier"]
    list_filter = ["tier"]
    search_fields = ["member__card_number"]


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "member", "from_tier", "to_tier", "reason", "actor"]
    list_select_related = ["member", "from_tier", "to_tier", "actor"]
    list_filter = ["reason"]
    search_fields = ["member__card_number"]


@admin.register(VipFee)
class VipFeeAdmin(ReadOnlyAdmin):
    list_display = ["external_id", "member", "tier", "amount", "currency", "paid_at", "valid_until", "source"]
    list_select_related = ["member", "tier"]
    list_filter = ["source", "tier"]
    search_fields = ["external_id", "member__card_number"]
    date_hierarchy = "paid_at"

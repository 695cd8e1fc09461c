"""``/admin/`` for superusers: the program and stores go through their
services; purchases, refunds, lots and the ledger are read-only (points move
only through the ledger services)."""

from django.contrib import admin

from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Program, Purchase, PurchaseLine, Refund, Store
from loyalty.services.program import program_save, store_save


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


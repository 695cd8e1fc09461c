"""``/admin/``, for superusers only; the faces are where work is done.

The admin never moves points or enrolls members: those go through the
services (``/staff/``, the till, the API, the commands).
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from members.models import Member, User


def _superusers_only(request) -> bool:
    return request.user.is_active and request.user.is_superuser


# Staff roles work in /staff/; Django's is_staff alone must not open the admin.
admin.site.has_permission = _superusers_only


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "role", "is_active", "is_superuser", "last_login"]
    list_filter = ["role", "is_active", "is_superuser"]
    search_fields = ["email", "first_name", "last_name"]
    filter_horizontal = ["stores", "groups", "user_permissions"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Name"), {"fields": ["first_name", "last_name"]}),
        (_("Role"), {"fields": ["role", "stores"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2", "role"]})]


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["card_number", "first_name", "last_name", "email", "status", "enrollment_store", "enrolled_at"]
    list_select_related = ["enrollment_store"]
    list_filter = ["status", "language"]
    search_fields = ["card_number", "email", "last_name", "external_id"]
    raw_id_fields = ["user", "referred_by", "enrollment_store"]
    readonly_fields = ["card_number", "enrolled_at"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # enroll through members.services.enrollment.member_enroll

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger keeps its members

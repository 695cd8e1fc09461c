"""Who may use which face: checked on every view.

* ``/staff/``: owner, manager and marketing (``StaffRoleRequired``); a view
  narrows it with ``roles`` (program settings and adjustments: owner and
  manager).
* ``/till/``: a cashier, owner or manager assigned to the store the device has
  chosen (``CashierRequired``); the chosen store is kept in a signed cookie so
  that a till remembers it across logins.
* ``/me/``: a user who is a member (``MemberRequired``).

A logged-in user without the right gets 403; an anonymous one is sent to the
login page. Superusers alone use ``/admin/``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import ObjectDoesNotExist
from django.core.signing import BadSignature
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from members.models import STAFF_ROLES, Member, Role, User

ADMIN_ROLES = frozenset({Role.OWNER, Role.MANAGER})
"""May edit the program and stores and adjust points."""

TILL_ROLES = frozenset({Role.CASHIER, Role.OWNER, Role.MANAGER})
"""May use the till of a store they are assigned to."""

TILL_STORE_COOKIE = "till_store"
TILL_STORE_SALT = "loyalty.till.store"
TILL_STORE_MAX_AGE = 365 * 24 * 3600


def user_home_url(user: User) -> str:
    """Where ``/`` sends a user: the face their role uses."""
    if not user.is_authenticated:
        return reverse("account_login")
    if user.role in STAFF_ROLES:
        return reverse("staff:dashboard")
    if user.role == Role.CASHIER:
        return reverse("till:search")
    if user_member(user) is not None:
        return reverse("me:home")
    if user.is_superuser:
        return reverse("admin:index")
    return reverse("account_email")


def user_member(user: User) -> Member | None:
    """The member of a logged-in user, unless there is none or it was deleted."""
    try:
        member = user.member
    except ObjectDoesNotExist:
        return None
    return None if member.status == Member.Status.DELETED else member


def user_can_adjust(user: User) -> bool:
    return user.is_authenticated and user.role in ADMIN_ROLES


def till_stores(user: User) -> QuerySet:
    """The active stores whose till ``user`` may use (none for other roles)."""
    stores = user.stores.filter(is_active=True).order_by("name", "pk")
    return stores if user.role in TILL_ROLES else stores.none()


def till_store_id(request: HttpRequest) -> int | None:
    """The store this device chose, from the signed cookie (unchecked)."""
    try:
        value = request.get_signed_cookie(TILL_STORE_COOKIE, default=None, salt=TILL_STORE_SALT)
    except BadSignature:
        return None
    return int(value) if value and value.isdigit() else None


def till_store_remember(response: HttpResponse, *, request: HttpRequest, store_id: int) -> None:
    response.set_signed_cookie(
        TILL_STORE_COOKIE, str(store_id), salt=TILL_STORE_SALT, max_age=TILL_STORE_MAX_AGE,
        httponly=True, samesite="Lax", secure=request.is_secure(),
    )


class RoleRequired(AccessMixin):
    """Lets through only logged-in users whose role is in ``roles``.

    Views look up what they work on in ``load()`` (not in ``dispatch``), which
    runs after the role check: someone without the role gets the login page or
    403 whatever the address, and never a 404 that tells which objects exist.
    """

    roles: frozenset[str] = frozenset()

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()  # to the login page
        if request.user.role not in self.roles:
            self.raise_exception = True
            return self.handle_no_permission()  # 403
        self.load()
        return super().dispatch(request, *args, **kwargs)

    def load(self) -> None:
        """Set what the view works on from ``self.kwargs`` (raise ``Http404`` when it
        is missing); called once the user's role is checked."""


class StaffRoleRequired(RoleRequired):
    """Owner, manager and marketing; set ``roles = ADMIN_ROLES`` to narrow."""

    roles = STAFF_ROLES


class CashierRequired(RoleRequired):
    """A till user working at a store they are assigned to.

    Sets ``self.store``. Without a chosen store (or with one the user may no
    longer use) the user is sent to the store picker.
    """

    roles = TILL_ROLES
    store_required = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and request.user.role in self.roles:
            stores = till_stores(request.user)
            chosen = till_store_id(request)
            self.store = stores.filter(pk=chosen).first() if chosen else None
            if self.store is None and self.store_required:
                return redirect("till:store-select")
        return super().dispatch(request, *args, **kwargs)


class MemberRequired(AccessMixin):
    """A logged-in member; sets ``self.member``. Views filter by it, so another
    member's data is a 404."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.member = user_member(request.user)
        if self.member is None:
            self.raise_exception = True
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)

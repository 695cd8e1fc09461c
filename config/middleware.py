"""The owner can require two-factor authentication for every staff account."""

from allauth.mfa.utils import is_mfa_enabled
from django.shortcuts import redirect
from django.utils.functional import SimpleLazyObject

from loyalty.selectors import program_get_or_none, program_region
from members.models import STAFF_ROLES

EXEMPT_PREFIXES = ("/accounts/", "/static/", "/i18n/", "/media/")


class StaffTwoFactorRequiredMiddleware:
    """Sends staff (owner, manager, marketing) without TOTP to its set-up page
    when the program requires two-factor authentication; the account pages
    stay reachable so that the set-up can be done."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and user.role in STAFF_ROLES
            and not request.path.startswith(EXEMPT_PREFIXES)
            and _required()
            and not is_mfa_enabled(user)
        ):
            return redirect("mfa_activate_totp")
        return self.get_response(request)


def _required() -> bool:
    program = program_get_or_none()
    return program is not None and program.require_staff_2fa


class ProgramRegionMiddleware:
    """Puts the program's country on ``request.phone_region`` (lazily: read
    only when a form parses a phone number), so that members' forms accept
    national numbers without ``members`` importing the program's app."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.phone_region = SimpleLazyObject(program_region)
        return self.get_response(request)

"""The member's language follows them: chosen once, applied at every login.

* Logging in (``members.adapters.AccountAdapter.login``) puts the member's
  language on the request; here it becomes the language cookie that
  ``LocaleMiddleware`` reads on the next requests.
* Any response that sets the language cookie for a logged-in member (the
  footer switcher posting to Django's ``set_language``, the profile form)
  stores that language on ``Member.language``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from members.adapters import MEMBER_LANGUAGE_ATTR
from members.permissions import user_member
from members.services.profile import member_language_set


def language_cookie_set(response: HttpResponse, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language,
        max_age=settings.LANGUAGE_COOKIE_AGE, path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN, secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY, samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class MemberLanguageMiddleware:
    """After ``AuthenticationMiddleware``. Costs nothing on requests that
    neither log in nor set the language cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        at_login = getattr(request, MEMBER_LANGUAGE_ATTR, None)
        if at_login:
            language_cookie_set(response, at_login)
            return response
        cookie = response.cookies.get(settings.LANGUAGE_COOKIE_NAME)
        user = getattr(request, "user", None)
        if cookie is not None and cookie.value and user is not None and user.is_authenticated and not user.role:
            member = user_member(user)
            if member is not None:
                member_language_set(member=member, language=cookie.value)
        return response

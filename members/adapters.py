"""allauth's hooks for members: sign-up creates the member and its card, a
confirmed email becomes the email on file, logging in applies the member's
language."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest
from django.utils import translation

from members.exceptions import LoyaltyError
from members.models import Member, User
from members.permissions import user_member
from members.services.accounts import member_email_confirmed, member_email_conflict, member_signup

MEMBER_LANGUAGE_ATTR = "member_language"
"""Set on the request at login; ``members.middleware.MemberLanguageMiddleware``
turns it into the language cookie."""


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: User, form, commit: bool = True) -> User:
        """The user and, from the sign-up form's other fields, the member and
        its card, in one transaction (a refusal rolls both back)."""
        data = form.cleaned_data
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=True)
            member_signup(
                user=user,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                phone=data.get("phone", ""),
                language=translation.get_language() or Member.Language.EN,
                marketing_consent=bool(data.get("marketing_consent")),
                sms_consent=bool(data.get("sms_consent")),
                referral_code=data.get("referral_code", ""),
            )
        return user

    def login(self, request: HttpRequest, user: User) -> None:
        super().login(request, user)
        member = user_member(user) if not user.role else None
        if member is not None:
            translation.activate(member.language)
            request.LANGUAGE_CODE = member.language
            setattr(request, MEMBER_LANGUAGE_ATTR, member.language)

    def confirm_email(self, request: HttpRequest, email_address) -> bool:
        """Confirm the address and, once it is the login's, make it the
        member's email on file (refused when another member has it)."""
        user = email_address.user
        try:
            member_email_conflict(user=user, email=email_address.email)
        except LoyaltyError as error:
            messages.error(request, error.message)
            return False
        with transaction.atomic():
            if not super().confirm_email(request, email_address):
                return False
            email_address.refresh_from_db()
            if email_address.primary:
                member_email_confirmed(user=user, email=email_address.email)
        return True

"""Erasure (member_erase): personal data goes, the member is anonymised, the
login is deleted, and the points history stays so totals and liability hold."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.db import connections
from django.utils import timezone

from loyalty.models import LedgerEntry, PointsAccount, PointsLot, Purchase, Refund, Source
from loyalty.selectors import dashboard_get
from loyalty.services.purchases import purchase_record, refund_record
from members.cards import card_number_is_valid
from members.models import ConsentChange, Delivery, Feedback, Member, Role, User
from members.selectors import member_get_by_card, member_list_for_staff
from members.services.privacy import erased_card_number, member_erase
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def program(db):
    return ProgramFactory(return_window_days=14, expiry_months=24)


@pytest.fixture
def store(program):
    return StoreFactory(code="WAW", name="Warsaw Centre")


@pytest.fixture
def member(store):
    user = UserFactory(email="ada@example.com")
    EmailAddress.objects.create(user=user, email="ada@example.com", verified=True, primary=True)
    member = MemberFactory(
        user=user, first_name="Ada", last_name="Nowak", email="ada@example.com", phone="+48601234567",
        birth_date="1990-05-17", external_id="OLD-77", referral_code="ADA123", marketing_consent=True,
        sms_consent=True, enrollment_store=store,
    )
    ConsentChange.objects.create(member=member, channel="email", given=True, source="signup")
    ConsentChange.objects.create(member=member, channel="sms", given=True, source="till")
    Feedback.objects.create(member=member, score=9, comment="Ada loves the flat white")
    Delivery.objects.create(member=member, channel="email", kind="claim", recipient="ada@example.com",
                            subject="Your loyalty card", body="Hello Ada, https://x/claim/t", status="logged")
    purchase = purchase_record(
        external_id="R-1", store=store, member=member, purchased_at=timezone.now(), amount=Decimal("50.00"),
        source=Source.TILL,
    ).purchase
    refund_record(external_id="RF-1", purchase=purchase, amount="10.00", source=Source.TILL)
    return member


def _history(member):
    return {
        "entries": list(LedgerEntry.objects.filter(account_id=member.pk).order_by("pk").values()),
        "lots": list(PointsLot.objects.filter(account_id=member.pk).order_by("pk").values()),
        "purchases": list(Purchase.objects.filter(member=member).order_by("pk").values()),
        "refunds": list(Refund.objects.filter(purchase__member=member).order_by("pk").values()),
        "account": PointsAccount.objects.filter(member=member).values().get(),
    }


def test_erase_removes_personal_data_and_anonymises_the_member(member):
    old_card = member.card_number
    erased = member_erase(member=member, actor=member.user)
    member.refresh_from_db()
    assert erased.pk == member.pk
    assert (member.first_name, member.last_name, member.email, str(member.phone)) == ("", "", "", "")
    assert member.birth_date is None and member.external_id is None and member.referral_code is None
    assert not member.marketing_consent and not member.sms_consent
    assert member.status == Member.Status.DELETED
    assert member.card_number == erased_card_number(member_id=member.pk) != old_card
    assert not card_number_is_valid(member.card_number)
    assert member.enrollment_store is not None  # not personal: counts per store stay right


def test_erase_deletes_the_login_and_its_email_addresses(member):
    user_id = member.user_id
    member_erase(member=member, actor=member.user)
    assert not User.objects.filter(pk=user_id).exists()
    assert not EmailAddress.objects.filter(email="ada@example.com").exists()
    assert Member.objects.get(pk=member.pk).user_id is None


def test_erase_clears_consent_history_feedback_comments_and_message_contents(member):
    member_erase(member=member, actor=None)
    assert not ConsentChange.objects.filter(member=member).exists()
    assert list(Feedback.objects.filter(member=member).values_list("score", "comment")) == [(9, "")]
    delivery = Delivery.objects.get(member=member)
    assert (delivery.recipient, delivery.subject, delivery.body) == ("", "", "")
    assert delivery.kind == "claim"


def test_erase_keeps_the_points_history_untouched(member):
    before = _history(member)
    member_erase(member=member, actor=None)
    assert _history(member) == before


def test_erase_keeps_the_programs_totals_and_liability(member, program):
    before = dashboard_get(program=program)
    member_erase(member=member, actor=None)
    after = dashboard_get(program=program)
    assert (after.points_available, after.points_pending, after.points_debt, after.liability) == (
        before.points_available, before.points_pending, before.points_debt, before.liability,
    )
    assert (after.purchases_month, after.amount_month) == (before.purchases_month, before.amount_month)
    assert after.members_total == before.members_total - 1  # deleted members are not counted


def test_the_old_card_no_longer_finds_anyone(member, program):
    old_card = member.card_number
    member_erase(member=member, actor=None)
    assert not Member.objects.filter(card_number=old_card).exists()
    assert list(member_list_for_staff(query=old_card)) == []
    assert member_get_by_card(card_number=old_card) is None  # the till
    assert member_get_by_card(card_number=erased_card_number(member_id=member.pk)) is None
    assert list(member_list_for_staff(query="Nowak")) == []


def test_erase_is_idempotent(member):
    member_erase(member=member, actor=None)
    first = Member.objects.filter(pk=member.pk).values().get()
    again = member_erase(member=Member.objects.get(pk=member.pk), actor=None)
    assert Member.objects.filter(pk=member.pk).values().get() == first
    assert again.status == Member.Status.DELETED


def test_erasing_a_member_leaves_other_members_alone(member, store):
    other = MemberFactory(user=UserFactory(email="bob@example.com"), first_name="Bob", email="bob@example.com")
    Feedback.objects.create(member=other, score=3, comment="Too slow")
    member_erase(member=member, actor=None)
    other.refresh_from_db()
    assert (other.first_name, other.email, other.status) == ("Bob", "bob@example.com", Member.Status.ACTIVE)
    assert Feedback.objects.get(member=other).comment == "Too slow"
    assert User.objects.filter(email="bob@example.com").exists()


def test_a_staff_login_is_detached_not_deleted(store, program):
    manager = UserFactory(email="boss@example.com", role=Role.MANAGER)
    member = MemberFactory(user=manager, first_name="Boss")
    member_erase(member=member, actor=manager)
    assert User.objects.filter(pk=manager.pk).exists()
    member.refresh_from_db()
    assert member.user_id is None and member.status == Member.Status.DELETED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_erasures_lock_the_member_row_and_both_succeed(program):
    store = StoreFactory(code="WAW", name="Warsaw Centre")
    member = MemberFactory(user=UserFactory(email="ada@example.com"), first_name="Ada")
    purchase_record(external_id="C-1", store=store, member=member, purchased_at=timezone.now(),
                    amount=Decimal("20.00"), source=Source.TILL)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work():
        try:
            barrier.wait(timeout=30)
            member_erase(member=Member.objects.get(pk=member.pk), actor=None)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    member.refresh_from_db()
    assert member.status == Member.Status.DELETED and member.first_name == ""
    assert not User.objects.filter(email="ada@example.com").exists()
    assert PointsAccount.objects.get(member=member).pending == 20

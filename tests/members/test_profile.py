"""A member's own changes: details, language, consent (with its history)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from members.exceptions import ContactRequired, ContactTaken
from members.models import ConsentChange, Member
from members.services.profile import member_consent_set, member_language_set, member_profile_update
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_profile_update_saves_the_details_and_the_login_names():
    member = MemberFactory(user=UserFactory(), first_name="A", last_name="B", language="en")
    member_profile_update(
        member=member, first_name=" Ada ", last_name="Nowak", phone="+48601234567",
        birth_date=dt.date(1990, 5, 17), language="ro",
    )
    member.refresh_from_db()
    assert (member.first_name, member.last_name, str(member.phone), member.birth_date, member.language) == (
        "Ada", "Nowak", "+48601234567", dt.date(1990, 5, 17), "ro"
    )
    member.user.refresh_from_db()
    assert (member.user.first_name, member.user.last_name) == ("Ada", "Nowak")


def test_profile_update_refuses_another_members_phone_naming_the_phone():
    MemberFactory(phone="+48601234567")
    member = MemberFactory()
    with pytest.raises(ContactTaken) as error:
        member_profile_update(member=member, first_name="A", phone="+48601234567")
    assert error.value.field == "phone"
    assert "phone number is already used" in error.value.message


def test_a_deleted_members_phone_is_free():
    MemberFactory(phone="+48601234567", status=Member.Status.DELETED)
    member = member_profile_update(member=MemberFactory(), first_name="A", phone="+48601234567")
    assert str(member.phone) == "+48601234567"


def test_the_phone_stays_when_there_is_no_email_on_file():
    member = MemberFactory(email="", phone="+48601234567")
    with pytest.raises(ContactRequired):
        member_profile_update(member=member, first_name="A", phone="")


def test_language_is_remembered_once():
    member = MemberFactory(language="en")
    assert member_language_set(member=member, language="pl") is True
    assert member_language_set(member=member, language="pl") is False
    assert member_language_set(member=member, language="xx") is False
    assert Member.objects.get(pk=member.pk).language == "pl"


def test_consent_change_is_recorded_with_its_source_and_time():
    member = MemberFactory(marketing_consent=False, sms_consent=False)
    at = timezone.now() - dt.timedelta(hours=1)
    change = member_consent_set(member=member, channel="email", given=True, now=at)
    assert (change.channel, change.given, change.source, change.at) == ("email", True, "portal", at)
    member_consent_set(member=member, channel="email", given=False)
    member_consent_set(member=member, channel="sms", given=True)
    member.refresh_from_db()
    assert (member.marketing_consent, member.sms_consent) == (False, True)
    assert list(ConsentChange.objects.order_by("pk").values_list("channel", "given")) == [
        ("email", True), ("email", False), ("sms", True)
    ]


def test_no_consent_row_when_nothing_changes():
    member = MemberFactory(marketing_consent=True)
    assert member_consent_set(member=member, channel="email", given=True) is None
    assert member_consent_set(member=member, channel="sms", given=False) is None
    assert not ConsentChange.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_consent_changes_at_once_record_one_row():
    """The member row is locked: the second change sees the first and writes nothing."""
    member = MemberFactory(marketing_consent=False)
    barrier = threading.Barrier(2)
    results = []

    def give():
        try:
            barrier.wait()
            results.append(member_consent_set(member=Member.objects.get(pk=member.pk), channel="email", given=True))
        finally:
            connection.close()

    threads = [threading.Thread(target=give) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1
    assert ConsentChange.objects.filter(member=member).count() == 1

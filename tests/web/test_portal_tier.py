"""The member's tier page (/me/tier/) and the tier summary on the home page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from loyalty.currencies import money_format
from loyalty.models import MemberTier, Purchase, Source, TierChange
from loyalty.selectors.tiers import tier_progress_get
from loyalty.services.program import program_get
from tests.factories import MemberFactory, TierFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder(program):
    return {
        "silver": TierFactory(code="silver", name_en="Silver", name_pl="Srebrny", rank=1, threshold=Decimal("500"),
                              benefits_en="Free coffee\n\nBirthday cake", benefits_pl="Darmowa kawa"),
        "gold": TierFactory(code="gold", name_en="Gold", name_pl="Złoty", rank=2, threshold=Decimal("1000"),
                            multiplier=Decimal("1.5")),
    }


def spend(member, store, amount, *, at):
    return Purchase.objects.create(
        external_id=f"P-{member.pk}-{Purchase.objects.count()}", store=store, member=member, purchased_at=at,
        amount=Decimal(amount), currency="PLN", payload_hash="-", source=Source.IMPORT,
    )


def page(users):
    return client_for(users["member"]).get(reverse("me:tier"))


def test_tier_page_shows_tier_benefits_progress_and_history(users, member, store, ladder):
    now = timezone.now()
    MemberTier.objects.create(member=member, tier=ladder["silver"], since=now - dt.timedelta(days=10))
    TierChange.objects.create(member=member, to_tier=ladder["silver"], reason=TierChange.Reason.QUALIFIED,
                              at=now - dt.timedelta(days=10))
    spend(member, store, "880.00", at=now - dt.timedelta(days=2))
    response = page(users)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Free coffee" in content and "Birthday cake" in content
    assert f"Spend {money_format(Decimal('120.00'), 'PLN')} more to reach Gold." in content
    assert "You have already done enough to keep Silver" in content
    assert "You reached Silver." in content
    assert '<progress class="tier-progress w-100" max="100" value="88"' in content


def test_keep_message_counts_what_the_next_review_window_already_holds(users, member, store, ladder):
    now = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)  # the next review: 1 July 2026
    MemberTier.objects.create(member=member, tier=ladder["gold"])
    spend(member, store, "700.00", at=dt.datetime(2025, 6, 20, tzinfo=dt.UTC))  # counts today, not on 1 July
    spend(member, store, "300.00", at=dt.datetime(2026, 6, 10, tzinfo=dt.UTC))
    progress = tier_progress_get(member=member, program=program_get(), now=now)
    assert progress.review_at == dt.datetime(2026, 7, 1, 2, 30, tzinfo=dt.UTC)
    assert progress.value == Decimal("1000.00") and progress.counted_for_review == Decimal("300.00")
    assert progress.to_keep == Decimal("700.00")
    assert progress.keep_text == f"Spend {money_format(Decimal('700.00'), 'PLN')} more by July 1, 2026 to keep Gold."
    assert progress.next_tier is None and progress.next_text == ""


def test_in_grace_the_deadline_is_the_review_that_ends_it(users, member, store, ladder):
    now = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
    MemberTier.objects.create(member=member, tier=ladder["gold"], grace_until=dt.datetime(2026, 7, 5, tzinfo=dt.UTC))
    progress = tier_progress_get(member=member, program=program_get(), now=now)
    assert progress.review_at == dt.datetime(2026, 8, 1, 2, 30, tzinfo=dt.UTC)
    assert "by Aug. 1, 2026 to keep Gold" in progress.keep_text


def test_points_programs_speak_of_points(users, member, store, ladder, program):
    program.tier_metric = "points"
    program.save()
    progress = tier_progress_get(member=member, program=program_get(), now=timezone.now())
    assert progress.next_text == "Earn 500 points more to reach Silver."


def test_tier_page_is_translated(users, member, ladder):
    MemberTier.objects.create(member=member, tier=ladder["silver"])
    with translation.override("pl"):
        response = client_for(users["member"]).get(reverse("me:tier"), HTTP_ACCEPT_LANGUAGE="pl")
    content = response.content.decode()
    assert "Srebrny" in content and "Darmowa kawa" in content


def test_without_tiers_the_page_says_so(users, program):
    assert "The program has no tiers." in page(users).content.decode()


def test_home_links_to_the_tier_page(users, member, ladder):
    MemberTier.objects.create(member=member, tier=ladder["gold"])
    content = client_for(users["member"]).get(reverse("me:home")).content.decode()
    assert reverse("me:tier") in content and "Gold" in content


def test_a_member_sees_only_their_own_tier(users, member, ladder):
    other = MemberFactory()
    MemberTier.objects.create(member=other, tier=ladder["gold"])
    response = page(users)
    assert response.context["progress"].tier is None


def test_tier_page_uses_a_fixed_number_of_queries(users, member, ladder, django_assert_num_queries):
    for _ in range(8):
        TierChange.objects.create(member=member, to_tier=ladder["silver"], reason=TierChange.Reason.QUALIFIED)
    client = client_for(users["member"])
    client.get(reverse("me:tier"))
    # session, user, member; the member's tier, the tiers, one aggregate, the history
    with django_assert_num_queries(7):
        client.get(reverse("me:tier"))

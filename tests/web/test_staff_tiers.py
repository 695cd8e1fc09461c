"""Staff: the tiers (distribution, settings), creating and editing them with
checks that name the field, archiving, members near a threshold, and the tier
and paid-tier fee on the member page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.currencies import money_format
from loyalty.models import MemberTier, Purchase, Source, Tier, TierChange, VipFee
from loyalty.services.tiers import tier_table
from tests.factories import MemberFactory, TierFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def ladder(program):
    return {
        "silver": TierFactory(code="silver", name_en="Silver", name_pl="Srebrny", rank=1, threshold=Decimal("500"),
                              benefits_en="Free coffee\nBirthday cake"),
        "gold": TierFactory(code="gold", name_en="Gold", rank=2, threshold=Decimal("1000"), multiplier=Decimal("1.5")),
    }


@pytest.fixture
def vip(program):
    return TierFactory(code="vip", name_en="VIP", rank=5, threshold=None, is_paid=True, fee=Decimal("99.00"),
                       period_months=12)


def spend(member, store, amount, *, days_ago=1):
    return Purchase.objects.create(
        external_id=f"P-{member.pk}-{Purchase.objects.count()}", store=store, member=member,
        purchased_at=timezone.now() - dt.timedelta(days=days_ago), amount=Decimal(amount), currency="PLN",
        payload_hash="-", source=Source.IMPORT,
    )


def tier_data(**changes):
    data = {
        "name_en": "Platinum", "name_pl": "Platynowy", "name_ro": "", "benefits_en": "Lounge\nValet",
        "benefits_pl": "", "benefits_ro": "", "code": "platinum", "rank": "3", "threshold": "3000",
        "multiplier": "2", "fee": "", "period_months": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# -- the list ---------------------------------------------------------------------------


def test_tier_list_shows_the_distribution_and_the_settings(users, ladder, vip):
    MemberTier.objects.create(member=MemberFactory(), tier=ladder["gold"])
    MemberTier.objects.create(member=MemberFactory(), tier=ladder["gold"])
    MemberTier.objects.create(member=MemberFactory(), tier=None)
    response = client_for(users["marketing"]).get(reverse("staff:tiers"))
    assert response.status_code == 200
    counts = {tier.code: tier.members for tier in response.context["tiers"]}
    assert counts == {"silver": 0, "gold": 2, "vip": 0}
    assert response.context["without_tier"] == 2  # the member of the fixture and the one moved off
    content = response.content.decode()
    assert f"from {money_format(Decimal('1000'), 'PLN')}" in content
    assert "over the last 12 months" in content and "30 days more" in content


def test_tier_list_uses_a_fixed_number_of_queries(users, program, django_assert_num_queries):
    client = client_for(users["owner"])
    for n in range(6):
        tier = TierFactory(code=f"t{n}", rank=n + 1, threshold=Decimal(100 * (n + 1)))
        MemberTier.objects.create(member=MemberFactory(), tier=tier)
    client.get(reverse("staff:tiers"))
    # session, user, tiers with counts, members without a tier
    with django_assert_num_queries(4):
        client.get(reverse("staff:tiers"))


# -- create, edit, archive ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketing", "manager", "owner"])
def test_staff_create_a_tier_with_names_per_language(users, ladder, role):
    response = client_for(users[role]).post(reverse("staff:tier-create"), tier_data())
    assert response.status_code == 302, response.context["form"].errors
    tier = Tier.objects.get(code="platinum")
    assert (tier.name_en, tier.name_pl, tier.threshold, tier.multiplier) == (
        "Platinum", "Platynowy", Decimal("3000"), Decimal("2"))
    assert tier.benefit_list == ["Lounge", "Valet"]
    assert tier_table().get(tier.pk) is not None  # the cache follows


def test_overlapping_thresholds_are_refused_on_the_threshold_field(users, ladder):
    response = client_for(users["manager"]).post(reverse("staff:tier-create"), tier_data(threshold="800"))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "Overlapping thresholds" in errors["threshold"][0] and "Gold" in errors["threshold"][0]
    assert not Tier.objects.filter(code="platinum").exists()


def test_contradictory_paid_tier_is_refused_field_by_field(users, ladder):
    response = client_for(users["manager"]).post(
        reverse("staff:tier-create"), tier_data(is_paid="on", threshold="3000", fee="", period_months="")
    )
    errors = response.context["form"].errors
    assert set(errors) >= {"threshold", "fee", "period_months"}
    response = client_for(users["manager"]).post(reverse("staff:tier-create"), tier_data(multiplier="0.5"))
    assert "below 1" in response.context["form"].errors["multiplier"][0]


def test_edit_a_tier(users, ladder):
    url = reverse("staff:tier-edit", kwargs={"pk": ladder["gold"].pk})
    page = client_for(users["marketing"]).get(url)
    assert page.status_code == 200 and page.context["form"].initial["threshold"] == Decimal("1000")
    response = client_for(users["marketing"]).post(url, tier_data(
        name_en="Gold", code="gold", rank="2", threshold="1200", multiplier="1.5",
    ))
    assert response.status_code == 302
    ladder["gold"].refresh_from_db()
    assert ladder["gold"].threshold == Decimal("1200")


def test_archive_and_restore(users, ladder):
    MemberTier.objects.create(member=MemberFactory(), tier=ladder["gold"])
    client = client_for(users["marketing"])
    response = client.post(reverse("staff:tier-archive", kwargs={"pk": ladder["gold"].pk}))
    assert response.status_code == 302
    ladder["gold"].refresh_from_db()
    assert ladder["gold"].archived
    assert MemberTier.objects.filter(tier=ladder["gold"]).count() == 1  # holders keep it until the review
    assert ladder["gold"].pk not in {tier.id for tier in tier_table().qualifying}
    client.post(reverse("staff:tier-restore", kwargs={"pk": ladder["gold"].pk}))
    ladder["gold"].refresh_from_db()
    assert not ladder["gold"].archived


@pytest.mark.parametrize(("who", "status"), [("cashier", 403), ("member", 403)])
def test_only_staff_change_tiers(users, ladder, who, status):
    client = client_for(users[who])
    assert client.post(reverse("staff:tier-create"), tier_data()).status_code == status
    assert client.post(reverse("staff:tier-archive", kwargs={"pk": ladder["gold"].pk})).status_code == status
    assert client.post(reverse("staff:tier-restore", kwargs={"pk": ladder["gold"].pk})).status_code == status
    assert not Tier.objects.filter(code="platinum").exists()
    ladder["gold"].refresh_from_db()
    assert not ladder["gold"].archived


# -- members near a threshold ----------------------------------------------------------------


def test_members_near_a_threshold(users, store, ladder):
    near_gold = MemberFactory(first_name="Near", last_name="Gold")
    MemberTier.objects.create(member=near_gold, tier=ladder["silver"])
    spend(near_gold, store, "950.00")
    near_silver = MemberFactory(first_name="Near", last_name="Silver")
    spend(near_silver, store, "460.00")
    far = MemberFactory(first_name="Far")
    spend(far, store, "300.00")
    above = MemberFactory(first_name="Gold", last_name="Holder")
    MemberTier.objects.create(member=above, tier=ladder["gold"])
    spend(above, store, "990.00")  # holds Gold already: nothing above it
    response = client_for(users["marketing"]).get(reverse("staff:tiers-near"))
    rows = response.context["rows"]
    assert [(row.member, row.next_tier.code, row.missing) for row in rows] == [
        (near_gold, "gold", Decimal("50.00")), (near_silver, "silver", Decimal("40.00")),
    ]
    assert "PLN" in rows[0].missing_text


@pytest.mark.parametrize("count", [3, 30])
def test_near_threshold_page_uses_a_fixed_number_of_queries(users, store, ladder, count, django_assert_num_queries):
    for _ in range(count):
        spend(MemberFactory(), store, "480.00")
    client = client_for(users["owner"])
    client.get(reverse("staff:tiers-near"))
    # session, user, count, page rows, members, their tiers, the tiers
    with django_assert_num_queries(7):
        response = client.get(reverse("staff:tiers-near"))
    assert len(response.context["rows"]) == min(count, 25)


# -- the member page --------------------------------------------------------------------------


def test_member_page_shows_the_tier_progress_and_history(users, member, store, ladder):
    MemberTier.objects.create(member=member, tier=ladder["silver"], since=timezone.now() - dt.timedelta(days=3))
    TierChange.objects.create(member=member, to_tier=ladder["silver"], reason=TierChange.Reason.QUALIFIED)
    spend(member, store, "600.00")
    response = client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk}))
    content = response.content.decode()
    assert response.context["tier_progress"].tier == ladder["silver"]
    assert "to reach Gold" in content and "Qualified" in content
    assert "vip_fee_form" not in response.context  # no paid tier, and marketing may not


def test_owner_records_a_paid_tier_fee_on_the_member_page(users, member, vip):
    client = client_for(users["owner"])
    page = client.get(reverse("staff:member-detail", kwargs={"pk": member.pk}))
    form = page.context["vip_fee_form"]
    data = {"tier": vip.pk, "amount": "", "reference": "INV-7", "idempotency_key": form.initial["idempotency_key"]}
    url = reverse("staff:member-vip-fee", kwargs={"pk": member.pk})
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302  # sent twice: taken once
    fee = VipFee.objects.get()
    assert (fee.external_id, fee.amount, fee.source, fee.recorded_by) == ("INV-7", Decimal("99.00"), "staff",
                                                                          users["owner"])
    assert MemberTier.objects.get(member=member).tier == vip
    response = client.post(url, {**data, "amount": "50"})
    assert "different paid tier fee" in response.context["vip_fee_form"].errors["reference"][0]


@pytest.mark.parametrize("who", ["marketing", "cashier", "member"])
def test_only_owner_and_manager_record_a_fee(users, member, vip, who):
    url = reverse("staff:member-vip-fee", kwargs={"pk": member.pk})
    response = client_for(users[who]).post(url, {"tier": vip.pk, "idempotency_key": "a" * 32})
    assert response.status_code == 403
    assert not VipFee.objects.exists()


# -- program settings and the admin -------------------------------------------------------------


def test_the_program_form_sets_the_tier_settings(users, program):
    from tests.web.test_staff import program_data

    response = client_for(users["owner"]).post(reverse("staff:program"), program_data(
        tier_metric="points", tier_window_months="6", tier_grace_days="14",
    ))
    assert response.status_code == 302
    program.refresh_from_db()
    assert (program.tier_metric, program.tier_window_months, program.tier_grace_days) == ("points", 6, 14)


def test_superuser_edits_tiers_in_the_admin_with_every_language(users, ladder):
    from tests.factories import UserFactory

    root = client_for(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))
    page = root.get(reverse("admin:loyalty_tier_change", args=[ladder["silver"].pk]))
    assert page.status_code == 200
    assert b'name="name_pl"' in page.content and b'name="benefits_ro"' in page.content
    data = {
        "code": "bronze", "name_en": "Bronze", "name_pl": "", "name_ro": "", "benefits_en": "", "benefits_pl": "",
        "benefits_ro": "", "rank": "3", "threshold": "800", "multiplier": "1", "fee": "", "period_months": "",
    }
    response = root.post(reverse("admin:loyalty_tier_add"), data)
    assert response.status_code == 200  # refused: 800 is below Gold's 1000
    assert "Overlapping thresholds" in response.content.decode()
    assert root.post(reverse("admin:loyalty_tier_add"), {**data, "threshold": "1500"}).status_code == 302
    assert Tier.objects.filter(code="bronze", threshold=Decimal("1500")).exists()

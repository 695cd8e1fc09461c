"""``/admin/`` for the rewards models: superusers only, lists without a query
per row, rewards checked as the staff pages check them, vouchers read-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rewards.models import PartnerCode, Reward
from tests.factories import CharityFactory, MemberFactory, ProgramFactory, RewardFactory, TierFactory, UserFactory
from tests.rewards.test_catalog import voucher

pytestmark = pytest.mark.django_db

LISTS = ["reward", "charity", "partnercode", "campaign", "voucher", "waitlistentry"]


@pytest.fixture
def admin_client(db):
    ProgramFactory()
    client = Client()
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    return client


def fill(count: int, offset: int) -> None:
    for n in range(offset, offset + count):
        tier = TierFactory(code=f"t{n}")
        charity = CharityFactory(code=f"c{n}")
        reward = RewardFactory(code=f"r{n}", kind="donation", value=1, charity=charity, min_tier=tier)
        member = MemberFactory()
        PartnerCode.objects.create(reward=reward, code=f"K{n}", voucher=voucher(reward, member=member, status="used"))


@pytest.mark.parametrize("model", LISTS)
def test_admin_lists_read_the_same_queries_for_2_or_12_rows(admin_client, model, django_assert_max_num_queries):
    url = reverse(f"admin:rewards_{model}_changelist")
    fill(2, 0)
    with django_assert_max_num_queries(20) as few:
        assert admin_client.get(url).status_code == 200
    fill(10, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(url).status_code == 200


def test_vouchers_are_read_only_and_rewards_are_checked(admin_client):
    reward = RewardFactory(code="coffee")
    code = voucher(reward).pk
    assert admin_client.get(reverse("admin:rewards_voucher_add")).status_code == 403
    change = admin_client.post(reverse("admin:rewards_voucher_change", args=[code]), {"status": "used"})
    assert change.status_code == 403
    response = admin_client.post(reverse("admin:rewards_reward_add"), {
        "code": "pct", "kind": "percent", "name_en": "Percent", "points_cost": "10", "value": "150",
        "member_limit_period": "ever", "status": "active", "in_catalog": "on",
    })
    assert response.status_code == 200
    assert "A percent discount must be above 0 and at most 100." in response.content.decode()
    assert not Reward.objects.filter(code="pct").exists()


def test_staff_roles_do_not_reach_the_admin(program_staff_client):
    assert program_staff_client.get(reverse("admin:rewards_reward_changelist")).status_code == 302


@pytest.fixture
def program_staff_client(db):
    ProgramFactory()
    client = Client()
    client.force_login(UserFactory(email="manager@example.com", role="manager"))
    return client

"""Who may open which page: every URL of the three faces × every kind of user."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import get_resolver, reverse
from django.utils import timezone

from analytics.models import Segment
from loyalty.models import LedgerEntry
from loyalty.services.ledger import points_credit
from loyalty.services.purchases import refund_record
from loyalty.services.tiers import vip_fee_record
from rewards.services.gifts import campaign_create, campaign_issue
from rewards.services.till import till_reward_redeem, till_voucher_use
from tests.factories import CharityFactory, EarnRuleFactory, RewardFactory, TierFactory, UserFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db

LOGIN = "login"  # redirected to the login page
PICK_STORE = "pick-store"  # allowed at the till, but must first choose one of their stores

WHO = ["anonymous", "member", "cashier", "marketing", "manager", "owner"]

STAFF_PAGE = {"anonymous": LOGIN, "member": 403, "cashier": 403, "marketing": 200, "manager": 200, "owner": 200}
MANAGE_PAGE = {**STAFF_PAGE, "marketing": 403}
# Only the cashier is assigned to the store the device chose.
TILL_PAGE = {
    "anonymous": LOGIN, "member": 403, "cashier": 200, "marketing": 403,
    "manager": PICK_STORE, "owner": PICK_STORE,
}
PORTAL_PAGE = {"anonymous": LOGIN, "member": 200, "cashier": 403, "marketing": 403, "manager": 403, "owner": 403}

PAGES = [
    ("staff:dashboard", {}, STAFF_PAGE),
    ("staff:members", {}, STAFF_PAGE),
    ("staff:member-detail", {"pk": "member"}, STAFF_PAGE),
    ("staff:purchases", {}, STAFF_PAGE),
    ("staff:stores", {}, STAFF_PAGE),
    ("staff:program", {}, MANAGE_PAGE),
    ("staff:store-create", {}, MANAGE_PAGE),
    ("staff:store-edit", {"pk": "store"}, MANAGE_PAGE),
    ("staff:deliveries", {}, STAFF_PAGE),
    ("staff:vouchers", {}, STAFF_PAGE),
    ("staff:voucher", {"code": "voucher"}, STAFF_PAGE),
    ("staff:campaigns", {}, STAFF_PAGE),
    ("staff:campaign-create", {}, STAFF_PAGE),
    ("staff:campaign", {"pk": "campaign"}, STAFF_PAGE),
    ("staff:bonuses", {}, STAFF_PAGE),
    ("staff:rules", {}, STAFF_PAGE),
    ("staff:rule-create", {}, STAFF_PAGE),
    ("staff:rule-edit", {"pk": "rule"}, STAFF_PAGE),
    ("staff:rule-simulate", {}, STAFF_PAGE),
    ("staff:tiers", {}, STAFF_PAGE),
    ("staff:tier-create", {}, STAFF_PAGE),
    ("staff:tier-edit", {"pk": "tier"}, STAFF_PAGE),
    ("staff:tiers-near", {}, STAFF_PAGE),
    ("staff:rewards", {}, STAFF_PAGE),
    ("staff:reward-create", {}, STAFF_PAGE),
    ("staff:reward-edit", {"code": "reward"}, STAFF_PAGE),
    ("staff:reward-codes", {"code": "partner"}, STAFF_PAGE),
    ("staff:charities", {}, STAFF_PAGE),
    ("staff:charity-create", {}, STAFF_PAGE),
    ("staff:charity-edit", {"code": "charity"}, STAFF_PAGE),
    ("staff:analytics", {}, STAFF_PAGE),
    ("staff:exports", {}, STAFF_PAGE),
    ("staff:what-if", {}, STAFF_PAGE),
    ("staff:what-if-detail", {"pk": "simulation"}, STAFF_PAGE),
    ("staff:what-if-csv", {"pk": "simulation"}, STAFF_PAGE),
    ("staff:segments", {}, STAFF_PAGE),
    ("staff:segment-create", {}, STAFF_PAGE),
    ("staff:segment-edit", {"pk": "segment"}, STAFF_PAGE),
    ("staff:segment-members", {"pk": "segment"}, STAFF_PAGE),
    ("staff:segment-export", {"pk": "segment"}, STAFF_PAGE),
    ("till:search", {}, TILL_PAGE),
    ("till:member", {"card": "card"}, TILL_PAGE),
    ("till:purchase-done", {"card": "card", "pk": "purchase"}, TILL_PAGE),
    ("till:purchase-preview", {"card": "card"}, TILL_PAGE),
    ("till:store-select", {}, {**TILL_PAGE, "manager": 200, "owner": 200}),
    ("till:enroll", {}, TILL_PAGE),
    ("till:undo", {}, TILL_PAGE),
    ("till:card-print", {"card": "card"}, TILL_PAGE),
    ("till:refund-done", {"card": "card", "pk": "refund"}, TILL_PAGE),
    ("till:vip-fee", {"card": "card"}, TILL_PAGE),
    ("till:vip-done", {"card": "card", "pk": "vip_fee"}, TILL_PAGE),
    ("till:redeem", {"card": "card"}, TILL_PAGE),
    ("till:redeem-confirm", {"card": "card", "reward": "reward"}, TILL_PAGE),
    ("till:redeem-done", {"card": "card", "reward": "reward"}, TILL_PAGE),
    ("till:voucher-used", {"code": "till_voucher"}, TILL_PAGE),
    ("me:home", {}, PORTAL_PAGE),
    ("me:history", {}, PORTAL_PAGE),
    ("me:account", {}, PORTAL_PAGE),
    ("me:purchase-detail", {"pk": "purchase"}, PORTAL_PAGE),
    ("me:card", {}, PORTAL_PAGE),
    ("me:tier", {}, PORTAL_PAGE),
    ("me:stamps", {}, PORTAL_PAGE),
    ("me:privacy", {}, PORTAL_PAGE),
    ("me:export-json", {}, PORTAL_PAGE),
    ("me:export-csv", {}, PORTAL_PAGE),
    ("me:delete-account", {}, PORTAL_PAGE),
    ("me:feedback", {}, PORTAL_PAGE),
    ("me:profile", {}, PORTAL_PAGE),
    ("me:consent", {}, PORTAL_PAGE),
    ("me:rewards", {}, PORTAL_PAGE),
    ("me:reward", {"code": "reward"}, PORTAL_PAGE),
    ("me:vouchers", {}, PORTAL_PAGE),
    ("me:voucher", {"code": "voucher"}, PORTAL_PAGE),
]


@pytest.fixture
def world(users, member, store, other_store):
    # A second store for the cashier so the store picker shows rather than auto-choosing.
    users["cashier"].stores.add(other_store)
    purchase = buy(member, store).purchase
    refund = refund_record(external_id="RF-ACCESS", purchase=purchase, amount=Decimal("1.00"), source="till").refund
    rule = EarnRuleFactory(status="paused")
    tier = TierFactory(code="vip", rank=9, threshold=None, is_paid=True, fee=Decimal("9.00"), period_months=1)
    fee = vip_fee_record(member=member, tier=tier, external_id="VIP-ACCESS", source="staff").fee
    reward = RewardFactory(code="coffee")
    partner = RewardFactory(code="cinema", kind="partner", value=None)
    charity = CharityFactory(code="shelter")
    campaign = campaign_create(name="Gift", reward=reward, valid_until=timezone.now() + dt.timedelta(days=30))
    campaign_issue(campaign=campaign, member_ids=[member.pk])
    voucher = campaign.vouchers.get()
    # Redeemed and then used at the till by the cashier (a used voucher's code may be an address).
    points_credit(member=member, points=500, kind="bonus", idempotency_key="access-points")
    till_voucher = till_reward_redeem(
        member=member, reward=reward, idempotency_key="access-till", user=users["cashier"], store=store
    ).voucher
    till_voucher_use(code=till_voucher.code, user=users["cashier"], store=store, receipt="")
    return {
        "member": member.pk, "store": store.pk, "card": member.card_number, "purchase": purchase.pk,
        "refund": refund.pk, "rule": rule.pk, "tier": tier.pk, "vip_fee": fee.pk,
        "reward": reward.code, "voucher": voucher.code, "campaign": campaign.pk, "till_voucher": till_voucher.code,
        "partner": partner.code, "charity": charity.code,
        "simulation": simulation_done().pk,
        "segment": Segment.objects.create(name="Everyone", conditions={"all": []}).pk,
    }



def simulation_done():
    """A what-if simulation run to the end (its page shows the comparison, its CSV downloads)."""
    from analytics.models import Simulation
    from analytics.services.whatif import simulation_run

    simulation = Simulation.objects.create(scenario={"earn_rate": "2"})
    return simulation_run(simulation_id=simulation.pk)


# Routes not in PAGES, and where their access is tested instead.
POST_ONLY = {
    "staff:member-adjust": "test_only_owner_and_manager_may_post_adjustments",
    "staff:member-review": "tests/web/test_staff_bonuses.py",
    "till:purchase-create": "test_cashier_may_not_post_to_a_store_they_are_not_assigned_to",
    "till:refund-create": "tests/web/test_till.py",
    "till:claim-send": "tests/web/test_till_access.py",
    "till:card-attach": "tests/web/test_till_access.py",
    "till:scan": "tests/web/test_till_vouchers.py::test_only_a_cashier_at_their_store_may_scan_and_use",
    "till:voucher-use": "tests/web/test_till_vouchers.py::test_only_a_cashier_at_their_store_may_scan_and_use",
    "staff:rule-pause": "tests/web/test_staff_rules.py",
    "staff:rule-resume": "tests/web/test_staff_rules.py",
    "staff:rule-archive": "tests/web/test_staff_rules.py",
    "staff:rule-copy": "tests/web/test_staff_rules.py",
    "staff:voucher-cancel": "tests/web/test_staff_vouchers.py::test_only_owner_and_manager_cancel",
    "staff:campaign-issue": "tests/web/test_staff_vouchers.py::test_only_staff_issue_campaigns",
    "staff:tier-archive": "tests/web/test_staff_tiers.py::test_only_staff_change_tiers",
    "staff:tier-restore": "tests/web/test_staff_tiers.py (restore goes through tier_save, as edits do)",
    "staff:member-vip-fee": "tests/web/test_staff_tiers.py::test_only_owner_and_manager_record_a_fee",
    "staff:reward-archive": "tests/web/test_staff_catalog.py::test_only_staff_archive_and_restore_rewards",
    "staff:reward-restore": "tests/web/test_staff_catalog.py::test_only_staff_archive_and_restore_rewards",
    "staff:segment-count": "tests/web/test_staff_segments.py::test_only_staff_count_and_archive",
    "staff:segment-archive": "tests/web/test_staff_segments.py::test_only_staff_count_and_archive",
    "staff:segment-restore": "tests/web/test_staff_segments.py::test_only_staff_count_and_archive",
}
PUBLIC = {
    "me:manifest": "the web-app manifest: browsers fetch it without cookies; nothing personal",
    "me:claim-start": "claim an account: asked for before one has a login",
    "me:claim": "claim an account from the emailed link",
}


def test_every_route_of_the_faces_has_its_access_tested():
    names = set()
    for namespace in ("staff", "till", "me"):
        resolver = get_resolver().namespace_dict[namespace][1]
        names |= {f"{namespace}:{name}" for name in resolver.reverse_dict if isinstance(name, str)}
    covered = {page[0] for page in PAGES} | set(POST_ONLY) | set(PUBLIC)
    assert names - covered == set(), "add these routes to PAGES (or POST_ONLY / PUBLIC with a reason)"
    assert covered - names == set()


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("name", "kwargs", "expected"), PAGES, ids=[p[0] for p in PAGES])
def test_page_access(world, users, store, who, name, kwargs, expected):
    url = reverse(name, kwargs={key: world[value] for key, value in kwargs.items()})
    client = client_for(users.get(who), store=store)
    response = client.get(url)
    want = expected[who]
    if want == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    elif want == PICK_STORE:
        assert response.status_code == 302
        assert response["Location"] == reverse("till:store-select")
    else:
        assert response.status_code == want, (url, who)


STAFF_OBJECT_PAGES = [page for page in PAGES if page[0].startswith("staff:") and page[1]]


@pytest.mark.parametrize("who", ["anonymous", "member", "cashier"])
@pytest.mark.parametrize(("name", "kwargs", "expected"), STAFF_OBJECT_PAGES, ids=[p[0] for p in STAFF_OBJECT_PAGES])
def test_staff_pages_of_objects_that_do_not_exist_say_nothing_to_the_wrong_people(users, store, who, name, kwargs,
                                                                                   expected):
    """The role is checked before the object is looked up: someone without the role
    gets the login page or 403, never a 404 that tells which ids exist."""
    missing = {key: 987654 if key == "pk" else "no-such-thing" for key in kwargs}
    response = client_for(users.get(who), store=store).get(reverse(name, kwargs=missing))
    if expected[who] == LOGIN:
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    else:
        assert response.status_code == expected[who] == 403


@pytest.mark.parametrize(
    ("who", "where"),
    [
        ("anonymous", "/accounts/login/"),
        ("member", "/me/"),
        ("cashier", "/till/"),
        ("marketing", "/staff/"),
        ("manager", "/staff/"),
        ("owner", "/staff/"),
    ],
)
def test_root_sends_each_role_to_its_face(users, who, where):
    response = client_for(users.get(who)).get("/")
    assert response.status_code == 302
    assert response["Location"] == where


@pytest.mark.parametrize(("who", "status"), [("marketing", 403), ("cashier", 403), ("member", 403)])
def test_only_owner_and_manager_may_post_adjustments(users, member, who, status):
    url = reverse("staff:member-adjust", kwargs={"pk": member.pk})
    response = client_for(users[who]).post(url, {"points": 50, "reason": "goodwill", "idempotency_key": "a" * 32})
    assert response.status_code == status
    assert not LedgerEntry.objects.filter(account__member=member).exists()


def test_marketing_sees_no_adjustment_form(users, member):
    response = client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": member.pk}))
    assert response.status_code == 200
    assert b"Adjust points" not in response.content


def test_cashier_may_not_post_to_a_store_they_are_not_assigned_to(users, member, other_store):
    client = client_for(users["cashier"], store=other_store)
    response = client.post(
        reverse("till:purchase-create", kwargs={"card": member.card_number}), {"purchase-amount": "10"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("till:store-select")
    assert not member.purchases.exists()


def test_superuser_alone_opens_the_admin(users):
    owner = client_for(users["owner"])
    owner_with_is_staff = users["owner"]
    owner_with_is_staff.is_staff = True
    owner_with_is_staff.save()
    assert owner.get("/admin/").status_code == 302  # to the admin login
    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    assert client_for(root).get("/admin/").status_code == 200
    assert client_for(root).get("/admin/loyalty/ledgerentry/").status_code == 200
    assert client_for(root).get("/admin/members/member/").status_code == 200

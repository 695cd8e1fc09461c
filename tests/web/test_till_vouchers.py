"""Vouchers at the till: a code scanned or typed into the one box shows the
voucher and a single "Use voucher" action, or exactly why it cannot be used;
rewards redeemed for a member at the counter. Codes of usable vouchers stay
out of every address; wrong codes are throttled per cashier."""

from __future__ import annotations

import datetime as dt
import logging
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty.models import LedgerEntry, MemberTier, PointsAccount, TillAction
from loyalty.services.ledger import points_credit
from members.models import Member, Role
from rewards.codes import voucher_code_check_character
from rewards.forms.till import voucher_code_meant
from rewards.models import PartnerCode, Reward, Voucher
from rewards.services.redemption import reward_redeem
from rewards.services.vouchers import voucher_cancel, voucher_use
from tests.factories import CharityFactory, RewardFactory, TierFactory, UserFactory, code_mistyped
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

SCAN = reverse("till:scan")
USE = reverse("till:voucher-use")


def give(member, points: int, key: str = "gift") -> None:
    points_credit(member=member, points=points, kind=LedgerEntry.Kind.BONUS, idempotency_key=key)


def available(member) -> int:
    return PointsAccount.objects.get(member=member).available


def voucher_of(member, reward=None, key="portal-1") -> Voucher:
    """A voucher the member redeemed in the portal (100 points by default)."""
    if available_or_zero(member) < (reward.points_cost if reward else 100):
        give(member, 500, key=f"gift-{key}")
    reward = reward or RewardFactory(code="coffee", name_en="Free coffee", kind="product", sku="COF-1", value=None)
    return reward_redeem(member=member, reward=reward, idempotency_key=key, channel="portal").voucher


def available_or_zero(member) -> int:
    return PointsAccount.objects.filter(member=member).values_list("available", flat=True).first() or 0


def scan(till, text):
    return till.post(SCAN, {"q": text})


def use_form(response):
    return response.context["use_form"]


def use(till, response, receipt=""):
    form = use_form(response)
    return till.post(USE, {
        "voucher-code": form.initial["code"], "voucher-token": form.initial["token"], "voucher-receipt": receipt,
    })


def box_error(response) -> str:
    return " ".join(response.context["search_form"].errors["q"])


def wrong_code(n: int) -> str:
    """A well-formed code (its check character matches) that no voucher has."""
    payload = f"{n:02d}".translate(str.maketrans("0123456789", "23456789AB")) + "K" * 12
    return payload + voucher_code_check_character(payload)


# -- what the box takes for a code -------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("7KQ4M-XR9DA-2HTW5", True),
        ("7kq4m xr9da 2htw5", True),
        ("7KQ4MXR9DA2HTW", True),  # one left out: a code, too short
        ("7KQ4M-XR9DA-2HTWO", True),  # an O: a code with a character codes never have
        ("ABCDE-FGHJK-MNPQR", True),  # letters only, grouped as a code
        ("ABCDEFGHJKMNPQR", True),
        ("CBFEMWCEWQFMNCO", True),  # letters only with an O: a code with a character codes never have
        ("ABCDE-FGHJK-MNPQI", True),
        ("Andrew Hernandez", False),  # two words of letters: a name
        ("Ada Nowak", False),
        ("5901234123457", False),  # a card number
        ("+48 601 234 567", False),
        ("0048601234567", False),
        ("ada@example.com", False),
        ("A1", False),
        ("", False),
    ],
)
def test_the_box_tells_a_voucher_code_from_a_member_search(typed, meant):
    assert voucher_code_meant(typed) is meant


def test_a_search_for_a_member_goes_on_as_before(till, member):
    response = scan(till, "Nowak")
    assert response.status_code == 302
    assert response["Location"] == reverse("till:search") + "?q=Nowak"
    card = scan(till, member.card_number)
    assert till.get(card["Location"])["Location"] == reverse("till:member", kwargs={"card": member.card_number})


def test_the_box_posts_so_no_code_reaches_an_address(till):
    content = till.get(reverse("till:search")).content.decode()
    assert re.search(r'<form method="post" action="/till/scan/"[^>]*data-till-search', content)
    assert "csrfmiddlewaretoken" in content


def test_a_code_in_an_address_is_not_looked_up(till, member):
    voucher = voucher_of(member)
    response = till.get(reverse("till:search"), {"q": voucher.display_code})
    assert response.status_code == 200
    assert "voucher" not in response.context
    assert "press Enter to check it" in response.content.decode()
    assert response.context["search_form"]["q"].value() == voucher.display_code  # kept in the box


# -- checking and using a voucher ----------------------------------------------------------


def test_a_scanned_code_shows_the_voucher_and_one_use_action(till, member, store):
    voucher = voucher_of(member)
    response = scan(till, voucher.display_code.lower().replace("-", " "))
    assert response.status_code == 200
    assert response.context["voucher"].pk == voucher.pk
    content = response.content.decode()
    assert "Free coffee" in content and "Free product, SKU COF-1" in content
    assert "Ada Nowak, card " + member.card_number in content
    local = timezone.localtime(voucher.valid_until, store.tz)
    assert local.strftime("%Z") in content  # valid until, in the store's zone
    assert content.count('type="submit" class="btn btn-success') == 1
    assert "Use voucher" in content
    assert 'name="voucher-receipt"' in content
    Voucher.objects.get(pk=voucher.pk, status=Voucher.Status.ISSUED)  # looking changes nothing
    assert "no-store" in response["Cache-Control"]  # a usable code is not kept by any cache


@pytest.mark.parametrize(
    ("kind", "fields", "worth"),
    [
        ("amount", {"value": Decimal("10.00")}, "10.00"),
        ("percent", {"value": Decimal("15"), "max_discount": Decimal("20.00")}, "15% off, at most"),
        ("event", {"value": None, "place": "Warsaw roastery",
                   "event_at": timezone.now() + dt.timedelta(days=9)}, "at Warsaw roastery"),
    ],
)
def test_the_voucher_page_says_what_the_reward_is_worth(till, member, kind, fields, worth):
    reward = RewardFactory(code=f"r-{kind}", kind=kind, **fields)
    voucher = voucher_of(member, reward=reward)
    content = scan(till, voucher.code).content.decode()
    assert worth in content


def test_use_once_records_store_cashier_receipt_and_till_action(till, member, store, cashier):
    voucher = voucher_of(member)
    response = use(till, scan(till, voucher.code), receipt="R-77")
    assert response.status_code == 302
    assert response["Location"] == reverse("till:voucher-used", kwargs={"code": voucher.code})
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_via, voucher.used_store, voucher.used_by, voucher.used_receipt) == (
        "used", "till", store, cashier, "R-77")
    action = TillAction.objects.get()
    assert (action.kind, action.voucher, action.member, action.store, action.user) == (
        TillAction.Kind.VOUCHER_USE, voucher, member, store, cashier)
    done = till.get(response["Location"])
    content = done.content.decode()
    assert "Voucher used" in content and "receipt R-77" in content
    assert re.search(r'<input type="search"[^>]*autofocus', content)  # the box waits for the next customer


def test_a_second_use_says_when_and_where_it_was_used(till, member, store, other_store):
    voucher = voucher_of(member)
    other = UserFactory(email="other@example.com", role=Role.CASHIER)
    other.stores.add(other_store)
    elsewhere = client_for(other, store=other_store)
    shown_elsewhere = scan(elsewhere, voucher.code)  # another till has it on screen, usable
    use(till, scan(till, voucher.code))
    again = scan(till, voucher.code)
    assert again.status_code == 200
    assert again.context["use_form"] is None
    assert "This voucher was already used on" in again.context["problem"]
    assert "at Warsaw Centre" in again.context["problem"]
    assert "Use voucher" not in again.content.decode()
    refused = use(elsewhere, shown_elsewhere)  # its "Use" comes too late, with the same reason
    assert refused.status_code == 409
    assert "already used on" in refused.context["problem"] and "at Warsaw Centre" in refused.context["problem"]
    assert TillAction.objects.filter(kind=TillAction.Kind.VOUCHER_USE).count() == 1
    assert Voucher.objects.get(pk=voucher.pk).used_store == store


def test_the_same_use_form_sent_twice_uses_once_and_confirms_twice(till, member):
    voucher = voucher_of(member)
    page = scan(till, voucher.code)
    first, second = use(till, page), use(till, page)
    assert first["Location"] == second["Location"] == reverse("till:voucher-used", kwargs={"code": voucher.code})
    assert TillAction.objects.filter(kind=TillAction.Kind.VOUCHER_USE).count() == 1


def test_a_cancelled_voucher_says_when(till, member, users):
    voucher = voucher_of(member)
    voucher_cancel(voucher=voucher, actor=users["manager"], reason="customer asked")
    response = scan(till, voucher.code)
    assert "This voucher was cancelled on" in response.context["problem"]
    assert response.context["use_form"] is None


def test_an_expired_voucher_says_when(till, member):
    voucher = voucher_of(member)
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() - dt.timedelta(hours=1))
    response = scan(till, voucher.code)
    assert "This voucher expired on" in response.context["problem"]
    assert 'name="voucher-receipt"' not in response.content.decode()


def test_a_voucher_expired_while_shown_is_refused_at_use(till, member):
    voucher = voucher_of(member)
    page = scan(till, voucher.code)
    Voucher.objects.filter(pk=voucher.pk).update(valid_until=timezone.now() - dt.timedelta(seconds=1))
    response = use(till, page)
    assert response.status_code == 409
    assert "expired on" in response.context["problem"]
    assert Voucher.objects.get(pk=voucher.pk).status == "issued" and not TillAction.objects.exists()


def test_a_voucher_of_a_closed_account_cannot_be_used(till, member):
    voucher = voucher_of(member)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)
    assert "account is closed" in scan(till, voucher.code).context["problem"]


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("swap", "a character is wrong or two are swapped"),
        ("O", "never contain “O”"),
        ("short", "too short"),
        ("unknown", "No voucher has this code"),
    ],
)
def test_a_mistyped_code_says_what_is_wrong_and_stays_in_the_box(till, member, typed, says):
    # A code that mixes letters and digits, as nearly all do: a letters-only one
    # cut short is a name search by design (see the box's own test above).
    voucher = voucher_of(member)
    payload = "7KQ4MXR9DA2HTW"
    code = payload + voucher_code_check_character(payload)
    Voucher.objects.filter(pk=voucher.pk).update(code=code)
    text = {"swap": code_mistyped(code), "O": code[:-1] + "O", "short": code[:-1], "unknown": wrong_code(1)}[typed]
    response = scan(till, text)
    assert response.status_code in (400, 404)
    assert says in box_error(response)
    assert response.context["search_form"]["q"].value() == text
    content = response.content.decode()
    assert f'value="{text}"' in content and 'aria-invalid="true"' in content


def test_a_cashier_at_another_store_cannot_look_up_or_use(users, member, other_store):
    voucher = voucher_of(member)
    away = client_for(users["cashier"], store=other_store)  # assigned to ``store`` only
    assert scan(away, voucher.code)["Location"] == reverse("till:store-select")
    response = away.post(USE, {"voucher-code": voucher.code, "voucher-receipt": "", "voucher-token": "x"})
    assert response["Location"] == reverse("till:store-select")
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"


def test_the_confirmation_is_only_for_a_voucher_used_at_this_store(till, member, store, other_store, cashier):
    voucher = voucher_of(member)
    url = reverse("till:voucher-used", kwargs={"code": voucher.code})
    assert till.get(url).status_code == 404  # usable: its code is never an address
    voucher_use(code=voucher.code, channel="till", store=other_store, user=cashier)
    assert till.get(url).status_code == 404  # used elsewhere
    second = voucher_of(member, key="portal-2")
    voucher_use(code=second.code, channel="till", store=store, user=cashier)
    assert till.get(reverse("till:voucher-used", kwargs={"code": second.display_code})).status_code == 200


# -- throttling -------------------------------------------------------------------------------


def test_ten_wrong_codes_still_let_a_real_one_through(till, member):
    voucher = voucher_of(member)
    for n in range(10):
        assert scan(till, wrong_code(n)).status_code == 404
    assert scan(till, voucher.code).context["voucher"].pk == voucher.pk


def test_a_burst_of_wrong_codes_is_refused_and_logged_without_the_codes(till, member, caplog, users, store):
    voucher = voucher_of(member)
    typed = [wrong_code(n) for n in range(11)]
    with caplog.at_level(logging.WARNING):
        for text in typed:
            scan(till, text)
        refused = scan(till, voucher.code)  # a real code, after the 11th wrong one
        unknown = scan(till, wrong_code(50))
    assert refused.status_code == 429
    assert "Too many wrong voucher codes" in box_error(refused)
    assert box_error(refused) == box_error(unknown)  # the same answer whether the code exists or not
    assert "voucher" not in refused.context
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"
    warnings = [record for record in caplog.records if "voucher codes blocked" in record.getMessage()]
    assert len(warnings) == 1 and f"user:{users['cashier'].pk}" in warnings[0].getMessage()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for code in [*typed, voucher.code, voucher.display_code]:
        assert code not in logged
    # Using is refused the same way, and the throttle is the cashier's own.
    form = {"voucher-code": voucher.code, "voucher-receipt": "", "voucher-token": "x"}
    assert till.post(USE, form).status_code == 429
    other = UserFactory(email="second@example.com", role=Role.CASHIER)
    other.stores.add(store)
    assert scan(client_for(other, store=store), voucher.code).context["voucher"].pk == voucher.pk


# -- redeeming at the counter ------------------------------------------------------------


def redeem_url(member, reward, name="till:redeem-confirm"):
    return reverse(name, kwargs={"card": member.card_number, "reward": reward.code})


def confirm_token(till, member, reward) -> str:
    return till.get(redeem_url(member, reward)).context["form"].initial["token"]


def test_the_member_page_links_to_redeeming(till, member):
    content = till.get(reverse("till:member", kwargs={"card": member.card_number})).content.decode()
    assert f'href="{reverse("till:redeem", kwargs={"card": member.card_number})}"' in content


def test_a_member_without_points_is_told_how_many_are_missing_and_cannot_redeem(till, member):
    reward = RewardFactory(code="coffee", name_en="Free coffee")
    give(member, 40)
    page = till.get(reverse("till:redeem", kwargs={"card": member.card_number}))
    assert page.context["redeemable"] == []
    assert [row.reason for row in page.context["others"]] == ["60 more points needed"]
    assert "till:redeem-confirm" not in page.content.decode()
    assert redeem_url(member, reward) not in page.content.decode()
    confirm = till.get(redeem_url(member, reward))
    assert "Ada Nowak has 40 points; this reward costs 100." in confirm.context["problem"]
    response = till.post(redeem_url(member, reward), {"redeem-token": confirm.context["form"].initial["token"]})
    assert response.status_code == 409
    assert not Voucher.objects.exists() and not TillAction.objects.exists()
    assert available(member) == 40


def test_redeeming_at_the_till_debits_issues_and_logs(till, member, store, cashier):
    reward = RewardFactory(code="coffee", name_en="Free coffee", points_cost=120)
    give(member, 500)
    listed = till.get(reverse("till:redeem", kwargs={"card": member.card_number}))
    assert [row.reward for row in listed.context["redeemable"]] == [reward]
    confirm = till.get(redeem_url(member, reward))
    assert confirm.context["balance_after"] == 380
    assert "Balance after" in confirm.content.decode()
    response = till.post(redeem_url(member, reward), {"redeem-token": confirm.context["form"].initial["token"]})
    assert response.status_code == 302
    assert response["Location"] == redeem_url(member, reward, "till:redeem-done")
    voucher = Voucher.objects.get()
    assert (voucher.issued_via, voucher.issued_store, voucher.issued_by, voucher.points) == (
        "till", store, cashier, 120)
    assert available(member) == 380
    action = TillAction.objects.get()
    assert (action.kind, action.voucher, action.member, action.store, action.user) == (
        TillAction.Kind.REDEEM, voucher, member, store, cashier)
    done = till.get(response["Location"])
    content = done.content.decode()
    assert voucher.display_code in content  # the code shown to hand over
    assert voucher.code not in response["Location"]
    assert done.context["use_form"].initial["code"] == voucher.code
    # "Use now": the member takes it at once.
    used = use(till, done, receipt="R-1")
    assert used["Location"] == reverse("till:voucher-used", kwargs={"code": voucher.code})
    assert Voucher.objects.get().status == "used"
    kinds = list(TillAction.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == [TillAction.Kind.REDEEM, TillAction.Kind.VOUCHER_USE]
    assert "Use now" not in till.get(response["Location"]).content.decode()  # used: nothing more to do


def test_the_same_confirmation_sent_twice_issues_one_voucher(till, member):
    reward = RewardFactory(code="coffee")
    give(member, 500)
    token = confirm_token(till, member, reward)
    first = till.post(redeem_url(member, reward), {"redeem-token": token})
    second = till.post(redeem_url(member, reward), {"redeem-token": token})
    assert first["Location"] == second["Location"]
    assert Voucher.objects.count() == 1 and TillAction.objects.count() == 1
    assert available(member) == 400


def test_a_damaged_confirmation_is_refused_and_a_new_one_offered(till, member):
    reward = RewardFactory(code="coffee")
    give(member, 500)
    response = till.post(redeem_url(member, reward), {"redeem-token": "forged"})
    assert response.status_code == 400
    assert "damaged" in response.context["error"]
    assert response.context["form"].initial["token"]
    assert not Voucher.objects.exists()


def test_the_done_page_shows_only_this_cashiers_own_redemption(till, member, users, store):
    reward = RewardFactory(code="coffee")
    give(member, 500)
    reward_redeem(member=member, reward=reward, idempotency_key="portal", channel="portal")
    assert till.get(redeem_url(member, reward, "till:redeem-done")).status_code == 404
    till.post(redeem_url(member, reward), {"redeem-token": confirm_token(till, member, reward)})
    colleague = UserFactory(email="colleague@example.com", role=Role.CASHIER)
    colleague.stores.add(store)
    assert client_for(colleague, store=store).get(redeem_url(member, reward, "till:redeem-done")).status_code == 404
    assert till.get(redeem_url(member, reward, "till:redeem-done")).status_code == 200


def test_the_list_says_briefly_why_not(till, member, program):
    give(member, 1000)
    gold = TierFactory(code="gold", name_en="Gold", rank=5)
    RewardFactory(code="a-ok", points_cost=10)
    RewardFactory(code="b-tier", points_cost=20, min_tier=gold)
    limited = RewardFactory(code="c-limit", points_cost=30, member_limit=1, member_limit_period="month")
    RewardFactory(code="d-stock", points_cost=40, stock=0)
    RewardFactory(code="e-event", points_cost=50, kind="event", value=None, stock=0,
                  event_at=timezone.now() + dt.timedelta(days=3))
    RewardFactory(code="f-later", points_cost=60, available_from=timezone.now() + dt.timedelta(days=2))
    RewardFactory(code="g-partner", points_cost=70, kind="partner", value=None)
    RewardFactory(code="h-ended", points_cost=80, available_until=timezone.now() - dt.timedelta(days=1))
    RewardFactory(code="i-archived", points_cost=90, status="archived")
    reward_redeem(member=member, reward=limited, idempotency_key="k1", channel="portal")
    page = till.get(reverse("till:redeem", kwargs={"card": member.card_number}))
    assert [row.reward.code for row in page.context["redeemable"]] == ["a-ok"]
    reasons = {row.reward.code: row.reason for row in page.context["others"]}
    assert reasons == {
        "b-tier": "For Gold members and above",
        "c-limit": "Limit reached for this month",
        "d-stock": "Out of stock",
        "e-event": "Full",
        "f-later": reasons["f-later"],
        "g-partner": "Out of stock",
    }
    assert reasons["f-later"].startswith("From ")
    MemberTier.objects.update_or_create(member=member, defaults={"tier": gold})
    PartnerCode.objects.create(reward=Reward.objects.get(code="g-partner"), code="PARTNER-1")
    page = till.get(reverse("till:redeem", kwargs={"card": member.card_number}))
    assert [row.reward.code for row in page.context["redeemable"]] == ["a-ok", "b-tier", "g-partner"]


def test_the_reward_list_takes_the_same_queries_however_long(till, member, django_assert_max_num_queries):
    give(member, 1000)
    gold = TierFactory(code="gold", rank=5)
    url = reverse("till:redeem", kwargs={"card": member.card_number})

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert till.get(url).status_code == 200
        return len(captured)

    RewardFactory(code="r0", min_tier=gold, member_limit=2)
    RewardFactory(code="r1", kind="partner", value=None)
    few = queries()
    for n in range(2, 14):
        RewardFactory(code=f"r{n}", points_cost=10 * n, min_tier=gold if n % 2 else None,
                      member_limit=3 if n % 3 else None, kind="partner" if n % 4 == 0 else "amount",
                      charity=CharityFactory(code=f"c{n}") if n % 5 == 0 else None)
    assert queries() == few
    with django_assert_max_num_queries(8):  # session, user, store, member, rewards, tier, limits, codes
        till.get(url)


def test_an_inactive_member_gets_no_redeem_link(till, member):
    RewardFactory(code="coffee")
    give(member, 500)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.BLOCKED)
    page = till.get(reverse("till:redeem", kwargs={"card": member.card_number}))
    assert page.context["redeemable"] == [] and "not active" in page.content.decode()


def test_no_address_holds_the_code_of_a_usable_voucher(till, member):
    reward = RewardFactory(code="coffee")
    give(member, 500)
    pages = [till.get(redeem_url(member, reward))]
    response = till.post(redeem_url(member, reward), {"redeem-token": pages[0].context["form"].initial["token"]})
    pages.append(till.get(response["Location"]))
    voucher = Voucher.objects.get()
    pages.append(scan(till, voucher.display_code))
    addresses = [response["Location"]]
    for page in pages:
        addresses += re.findall(r'(?:href|action)="([^"]*)"', page.content.decode())
    assert addresses
    for address in addresses:
        assert voucher.code not in address.upper().replace("-", ""), address


def test_the_undo_page_says_a_voucher_use_cannot_be_undone(till, member):
    voucher = voucher_of(member)
    use(till, scan(till, voucher.code))
    response = till.get(reverse("till:undo"))
    assert response.context["problem"]  # not undoable at the till
    assert "Yes, undo" not in response.content.decode()


# -- who may post --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", "login"), ("member", 403), ("marketing", 403), ("manager", "pick"), ("owner", "pick"),
     ("cashier", 200)],
)
def test_only_a_cashier_at_their_store_may_scan_and_use(users, store, member, who, expected):
    voucher = voucher_of(member)
    client = client_for(users.get(who), store=store)
    responses = [
        client.post(SCAN, {"q": voucher.code}),
        client.post(USE, {"voucher-code": voucher.code, "voucher-receipt": "", "voucher-token": "x"}),
    ]
    for response in responses:
        if expected == "login":
            assert response["Location"].startswith(reverse("account_login"))
        elif expected == "pick":
            assert response["Location"] == reverse("till:store-select")
        elif expected == 403:
            assert response.status_code == 403
    if expected == 200:
        assert responses[0].status_code == 200 and responses[1].status_code == 400  # a forged token
    assert Voucher.objects.get(pk=voucher.pk).status == "issued"
    assert client.get(SCAN).status_code in (302, 403, 405)

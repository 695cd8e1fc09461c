"""Stamp cards whose full card gives a voucher for a reward: live earns, retries,
refunds, the bulk path (imports), the simulator, the rule's checks and the program file."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from loyalty.earning import earning_simulate
from loyalty.imports import import_purchases
from loyalty.ledger.bulk import BulkLedger
from loyalty.models import EarnRule, LedgerEntry, Purchase, Source, StampCard
from loyalty.services import stamps as stamps_service
from loyalty.services.program import program_get
from loyalty.services.program_io import ProgramFileInvalid, program_export, program_import
from loyalty.services.purchases import LineInput, purchase_record, refund_record
from loyalty.services.rules import active_rules, rule_save
from rewards.models import Reward, Voucher
from tests.factories import MemberFactory, ProgramFactory, RewardFactory, StoreFactory, card_number

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 6, 4, 9, 30, tzinfo=dt.UTC)
COFFEE = LineInput(sku="LATTE", category="coffee", quantity=Decimal("1"), amount=Decimal("10.00"))


@pytest.fixture
def setup():
    ProgramFactory()
    store = StoreFactory(code="WAW-01")
    reward = RewardFactory(code="coffee-free", kind="product", sku="COFFEE", value=None, name_en="Free coffee",
                           name_pl="Darmowa kawa", voucher_valid_days=30)
    rule = rule_save(rule=EarnRule(name="Coffee card", kind=EarnRule.Kind.STAMPS, value=Decimal("0"),
                                   stamps_needed=3, categories=["coffee"], reward=reward))
    return {"store": store, "reward": reward, "rule": rule, "member": MemberFactory(card_number=card_number(7))}


def buy(setup, external_id, *, n=0, quantity="1", amount="10.00", member=None):
    at = T0 + dt.timedelta(hours=n)
    lines = [LineInput(sku="LATTE", category="coffee", quantity=Decimal(quantity), amount=Decimal(amount))]
    return purchase_record(external_id=external_id, store=setup["store"], member=member or setup["member"],
                           purchased_at=at, amount=amount, lines=lines, source=Source.API, now=at)


def stamp_item(result):
    return LedgerEntry.objects.get(purchase=result.purchase, kind=LedgerEntry.Kind.EARN).breakdown[-1]


def vouchers(member):
    return list(Voucher.objects.filter(member=member).order_by("issued_at", "pk"))


# -- the live earn ----------------------------------------------------------------


def test_a_full_card_gives_a_voucher_in_the_wallet_and_no_points(setup):
    rule, reward, member = setup["rule"], setup["reward"], setup["member"]
    results = [buy(setup, f"P{n}", n=n) for n in range(3)]
    assert [result.points for result in results] == [10, 10, 10]  # the base rate only: the card gives no points
    assert vouchers(member)[0].reward == reward
    (voucher,) = vouchers(member)
    assert (voucher.origin, voucher.stamp_rule_id, voucher.status, voucher.points) == (
        Voucher.Origin.STAMPS, rule.pk, Voucher.Status.ISSUED, 0,
    )
    # issued at the purchase that filled the card, valid from then for the reward's 30 days
    assert voucher.issued_at == voucher.valid_from == T0 + dt.timedelta(hours=2)
    assert voucher.valid_until == T0 + dt.timedelta(hours=2, days=30)
    assert voucher.idempotency_key == f"stamps:purchase:{results[2].purchase.pk}:{rule.pk}:0"
    assert stamp_item(results[2]) == {
        "rule": rule.pk, "label": "Coffee card", "points": 0, "stamps": 1, "cards": 1,
        "reward": reward.pk, "reward_label": "Free coffee",
    }
    assert stamp_item(results[0])["cards"] == 0 and stamp_item(results[0])["reward"] == reward.pk
    card = StampCard.objects.get(member=member, rule=rule)
    assert (card.stamps, card.completed) == (0, 1)


def test_a_retried_purchase_issues_no_voucher_twice(setup):
    buy(setup, "P1", quantity="2", amount="20.00")
    first = buy(setup, "P2", n=1)
    again = buy(setup, "P2", n=1)  # the same purchase sent again
    assert (first.created, again.created) == (True, False)
    assert len(vouchers(setup["member"])) == 1
    # and the issuer itself gives none twice for the same earn's key
    stamps_service.stamp_card_rewards_issue(stamps_service.stamp_card_rewards_due(
        member_id=setup["member"].pk, evaluation=_evaluation_of(first), key=f"purchase:{first.purchase.pk}",
        at=first.purchase.purchased_at,
    ))
    assert len(vouchers(setup["member"])) == 1


def _evaluation_of(result):
    """The evaluation a stored earn entry's breakdown stands for (the stamp item only)."""
    from loyalty.rules import Applied, Evaluation

    item = stamp_item(result)
    return Evaluation(points=0, applied=(Applied(
        item["rule"], item["label"], 0, stamps=item["stamps"], cards=item["cards"], reward_id=item["reward"],
        reward_label=item["reward_label"],
    ),))


def test_two_cards_filled_by_one_purchase_give_two_vouchers(setup):
    result = buy(setup, "P1", quantity="7", amount="35.00")  # 7 stamps: two cards of 3 and one stamp over
    assert result.points == 35
    assert stamp_item(result)["cards"] == 2
    found = vouchers(setup["member"])
    assert len(found) == 2
    assert len({voucher.code for voucher in found}) == 2
    assert sorted(voucher.idempotency_key[-2:] for voucher in found) == [":0", ":1"]
    card = StampCard.objects.get(member=setup["member"], rule=setup["rule"])
    assert (card.stamps, card.completed) == (1, 2)


def test_a_refund_takes_stamps_back_but_never_a_voucher(setup):
    member = setup["member"]
    result = buy(setup, "P1", quantity="4", amount="40.00")  # one card and one stamp over
    refund_record(external_id="R1", purchase=result.purchase, amount="40.00", refunded_at=T0 + dt.timedelta(days=1),
                  source=Source.API, now=T0 + dt.timedelta(days=1))
    card = StampCard.objects.get(member=member, rule=setup["rule"])
    assert (card.stamps, card.completed) == (0, 1)  # the completed card stays completed
    (voucher,) = vouchers(member)
    assert voucher.status == Voucher.Status.ISSUED  # and its voucher stays in the wallet


def test_a_points_card_beside_a_voucher_card_still_gives_its_points(setup):
    points_card = rule_save(rule=EarnRule(name="Visits", kind=EarnRule.Kind.STAMPS, value=Decimal("50"),
                                          stamps_needed=2))
    results = [buy(setup, f"P{n}", n=n) for n in range(3)]
    assert [result.points for result in results] == [10, 60, 10]
    assert len(vouchers(setup["member"])) == 1
    assert all(voucher.stamp_rule_id == setup["rule"].pk for voucher in vouchers(setup["member"]))
    items = {item["rule"]: item for item in LedgerEntry.objects.get(purchase=results[1].purchase).breakdown}
    assert items[points_card.pk] == {"rule": points_card.pk, "label": "Visits", "points": 50, "stamps": 1, "cards": 1}


def test_without_a_registered_issuer_the_earn_fails_rather_than_lose_the_voucher(setup, monkeypatch):
    monkeypatch.setattr(stamps_service, "_reward_issuer", None)
    buy(setup, "P1", quantity="2", amount="20.00")
    with pytest.raises(RuntimeError, match="no issuer"):
        buy(setup, "P2", n=1)
    assert not Purchase.objects.filter(external_id="P2").exists()  # nothing of it was written
    assert StampCard.objects.get(member=setup["member"]).stamps == 2


# -- the bulk path -----------------------------------------------------------------


def test_an_import_gives_the_vouchers_live_use_gives(setup, tmp_path):
    # The CSV has no lines: a card counting visits is what both paths can share.
    visits = rule_save(rule=EarnRule(name="Visit card", kind=EarnRule.Kind.STAMPS, value=Decimal("0"),
                                     stamps_needed=2, reward=setup["reward"]))
    live, imported = setup["member"], MemberFactory(external_id="M-2", card_number=card_number(8))
    times = [T0 + dt.timedelta(hours=n) for n in range(5)]
    for n, at in enumerate(times):
        purchase_record(external_id=f"live-{n}", store=setup["store"], member=live, purchased_at=at,
                        amount="10.00", source=Source.API, now=at)
    path = tmp_path / "purchases.csv"
    path.write_text("external_id,member,store,purchased_at,amount,currency,kind,refers_to\n" + "".join(
        f"imp-{n},M-2,WAW-01,{at.isoformat()},10.00,,,\n" for n, at in enumerate(times)
    ))
    now = T0 + dt.timedelta(days=2)
    assert import_purchases(file=path, now=now).ok

    def shape(member):
        return [
            (v.issued_at, v.valid_until, v.origin, v.reward_id, v.stamp_rule_id, v.status,
             v.idempotency_key.split(":")[-1])
            for v in vouchers(member)
        ]

    assert shape(imported) == shape(live) == [
        (times[n], times[n] + dt.timedelta(days=30), Voucher.Origin.STAMPS, setup["reward"].pk, visits.pk,
         Voucher.Status.ISSUED, "0")
        for n in (1, 3)
    ]
    assert import_purchases(file=path, now=now).ok  # the same file again changes nothing
    assert len(vouchers(imported)) == 2
    assert StampCard.objects.get(member=imported, rule=visits).completed == 2


@pytest.mark.parametrize("threaded", [False, True])  # the writer's thread: PostgreSQL only
def test_the_bulk_path_issues_the_vouchers_as_the_live_path_does(setup, threaded):
    live, bulk = setup["member"], MemberFactory()
    quantities = ["2", "5", "1"]  # 2, then 7 (two cards, one over), then 8
    for n, quantity in enumerate(quantities):
        buy(setup, f"live-{n}", n=n, quantity=quantity, member=live)
    with BulkLedger(program=program_get(), source=Source.IMPORT, now=T0 + dt.timedelta(days=1),
                    threaded=threaded) as loader:
        loader.accounts_prepare([bulk.pk])
        for n, quantity in enumerate(quantities):
            loader.purchase_add(
                external_id=f"bulk-{n}", store_id=setup["store"].pk, member_id=bulk.pk,
                purchased_at=T0 + dt.timedelta(hours=n), amount=Decimal("10.00"),
                lines=[LineInput(sku="LATTE", category="coffee", quantity=Decimal(quantity), amount=Decimal("10.00"))],
            )
        loader.account_close(bulk.pk)
        stats = loader.finish()
    assert stats.stamp_vouchers == 2

    def shape(member):
        return [
            (v.issued_at, v.valid_until, v.origin, v.reward_id, v.stamp_rule_id, v.status,
             v.idempotency_key.split(":")[-1])
            for v in vouchers(member)
        ]

    assert shape(live) == shape(bulk)
    assert len(shape(bulk)) == 2
    purchase = Purchase.objects.get(external_id="bulk-1")
    assert {v.idempotency_key for v in vouchers(bulk)} == {
        f"stamps:purchase:{purchase.pk}:{setup['rule'].pk}:{n}" for n in (0, 1)
    }
    breakdowns = [
        LedgerEntry.objects.get(purchase__external_id=f"{prefix}-1", kind="earn").breakdown
        for prefix in ("live", "bulk")
    ]
    assert breakdowns[0] == breakdowns[1]
    card = StampCard.objects.get(member=bulk)
    assert (card.stamps, card.completed) == (2, 2)


# -- the simulator and the preview ----------------------------------------------------


def test_the_simulation_names_the_reward_and_writes_no_voucher(setup):
    member = setup["member"]
    buy(setup, "P1", quantity="2", amount="20.00")
    evaluation = earning_simulate(store=setup["store"], purchased_at=T0 + dt.timedelta(hours=1),
                                  amount=Decimal("10.00"), lines=[COFFEE], member=member, caps=True)
    item = evaluation.breakdown[-1]
    assert (item["points"], item["cards"], item["reward"], item["reward_label"]) == (
        0, 1, setup["reward"].pk, "Free coffee",
    )
    assert evaluation.vouchers == {setup["rule"].pk: (setup["reward"].pk, 1)}
    assert Voucher.objects.count() == 0


def test_renaming_the_reward_changes_the_rules_version(setup):
    """The version names the reward's name: a process that reloads after a rename
    publishes a new version, and every other process then reloads too."""
    from loyalty.services.rules import _load

    version, active = _load()
    assert active.rules[0].reward_name == "Free coffee"
    Reward.objects.filter(pk=setup["reward"].pk).update(name_en="Coffee on us")
    renamed_version, renamed = _load()
    assert renamed.rules[0].reward_name == "Coffee on us"
    assert renamed_version != version
    assert active_rules().rules[0].reward_name == "Coffee on us"


# -- the rule's checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"kind": "fixed", "value": Decimal("50")}, "reward", "reward_not_stamps"),
        ({"kind": "stamps", "stamps_needed": 5, "value": Decimal("30")}, "value", "voucher_card_value"),
        ({"kind": "stamps", "stamps_needed": 5, "value": Decimal("0"), "member_cap": 10}, "member_cap",
         "voucher_card_cap"),
        ({"kind": "stamps", "stamps_needed": 5, "value": Decimal("0"), "budget": 100}, "budget", "voucher_card_cap"),
    ],
)
def test_contradictory_voucher_settings_are_refused(fields, field, code):
    reward = RewardFactory()
    with pytest.raises(ValidationError) as caught:
        rule_save(rule=EarnRule(name="Card", reward=reward, **fields))
    assert [error.code for error in caught.value.error_dict[field]] == [code]


def test_a_stamp_card_without_a_reward_still_needs_points():
    with pytest.raises(ValidationError) as caught:
        rule_save(rule=EarnRule(name="Card", kind="stamps", stamps_needed=5, value=Decimal("0")))
    assert [error.code for error in caught.value.error_dict["value"]] == ["value_not_positive"]


# -- the program file -----------------------------------------------------------------


def test_the_program_file_carries_the_reward_by_its_code(setup):
    plain = rule_save(rule=EarnRule(name="Visits", kind=EarnRule.Kind.STAMPS, value=Decimal("50"), stamps_needed=2))
    data = json.loads(json.dumps(program_export()))
    rules = {item["key"]: item for item in data["rules"]}
    assert rules["Coffee card"]["reward"] == "coffee-free"
    assert (rules["Coffee card"]["value"], rules["Coffee card"]["kind"]) == ("0.00", "stamps")
    assert "reward" not in rules["Visits"]  # written only for a card that gives a voucher
    assert not program_import(data=data).changed  # the round trip is a no-op

    # Another reward, and the points card turned into a voucher card, by the file.
    other = RewardFactory(code="cake-free", kind="product", sku="CAKE", value=None, name_en="Free cake")
    rules["Visits"].update(reward="cake-free", value="0")
    rules["Coffee card"].pop("reward")
    rules["Coffee card"]["value"] = "25"
    result = program_import(data=data)
    assert result.applied
    assert any('rule "Coffee card"' in line and "reward coffee-free -> null" in line for line in result.changes)
    assert any('rule "Visits"' in line and "reward null -> cake-free" in line for line in result.changes)
    plain.refresh_from_db()
    setup["rule"].refresh_from_db()
    assert (plain.reward_id, plain.value) == (other.pk, Decimal("0"))
    assert (setup["rule"].reward_id, setup["rule"].value) == (None, Decimal("25"))
    assert not program_import(data=json.loads(json.dumps(program_export()))).changed


def test_the_program_file_refuses_an_unknown_reward_or_a_reward_on_another_kind(setup):
    data = json.loads(json.dumps(program_export()))
    data["rules"][0]["reward"] = "no-such-reward"
    data["rules"].append({"key": "Bonus", "name": "Bonus", "kind": "fixed", "value": "10", "reward": "coffee-free"})
    with pytest.raises(ProgramFileInvalid) as caught:
        program_import(data=data)
    errors = {error.path: error.message for error in caught.value.errors}
    assert "no reward with the code no-such-reward" in errors["rules[0].reward"]
    assert "Only a stamp card gives a voucher" in errors["rules[1].reward"]
    setup["rule"].refresh_from_db()
    assert setup["rule"].reward_id == setup["reward"].pk  # nothing changed


def test_a_rule_may_name_a_reward_the_same_import_creates_once_it_is_written_first(setup):
    """``rules_plan(rewards=...)``: the codes the program will have; a reward still to be
    written is linked when the rules are written (after it)."""
    from loyalty.services.program_io.base import Reader
    from loyalty.services.program_io.rules import rules_plan

    data = json.loads(json.dumps(program_export()))
    data["rules"].append({"key": "Cake card", "name": "Cake card", "kind": "stamps", "value": "0",
                          "stamps_needed": 4, "reward": "cake-free"})
    read = Reader()
    plan = rules_plan(data["rules"], read, stores={"WAW-01"}, tiers=set(), tz="UTC",
                      rewards={"coffee-free", "cake-free"})
    assert read.errors == []
    assert plan.changes == ['rule "Cake card" created']
    cake = RewardFactory(code="cake-free", kind="product", sku="CAKE", value=None)  # the rewards section's write
    plan.write()
    assert EarnRule.objects.get(name="Cake card").reward == cake
    read = Reader()
    rules_plan(data["rules"], read, stores={"WAW-01"}, tiers=set(), tz="UTC")  # by default: the database's
    assert read.errors == []
    data["rules"][-1]["reward"] = "tart-free"
    rules_plan(data["rules"], read, stores={"WAW-01"}, tiers=set(), tz="UTC")
    assert [error.path for error in read.errors] == ["rules[1].reward"]


def test_one_program_file_adds_a_reward_and_a_stamp_card_that_gives_it(setup):
    data = json.loads(json.dumps(program_export()))
    cake = {**data["rewards"][0], "code": "cake-free", "name": {"en": "Free cake", "pl": "", "ro": ""}, "sku": "CAKE"}
    data["rewards"].append(cake)
    data["rules"].append({"key": "Cake card", "name": "Cake card", "kind": "stamps", "value": "0",
                          "stamps_needed": 4, "reward": "cake-free"})

    assert program_import(data=data).applied

    assert EarnRule.objects.get(name="Cake card").reward.code == "cake-free"
    assert not program_import(data=json.loads(json.dumps(program_export()))).changed

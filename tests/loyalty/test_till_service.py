"""The till's services: every action is logged with the cashier and store in the
action's transaction; a cashier's last purchase can be undone once, in time."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from loyalty.exceptions import (
    ActionNotUndoable,
    NothingLeftToUndo,
    NothingToUndo,
    UndoNotLast,
    UndoTooLate,
)
from loyalty.models import PointsAccount, Purchase, Refund, Source, TillAction
from loyalty.services.purchases import refund_record
from loyalty.services.till import (
    till_action_last,
    till_claim_send,
    till_member_enroll,
    till_purchase_record,
    till_refund_record,
    till_undo_last,
    undo_external_id,
)
from members.exceptions import DuplicateMember
from members.models import ConsentChange, Delivery, Member, Role
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory, card_number

Kind = TillAction.Kind


@pytest.fixture
def shop(db):
    program = ProgramFactory(return_window_days=0)
    store = StoreFactory(code="WAW")
    other_store = StoreFactory(code="KRK")
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    colleague = UserFactory(email="colleague@example.com", role=Role.CASHIER)
    cashier.stores.add(store, other_store)
    colleague.stores.add(store)
    member = MemberFactory(first_name="Ada", last_name="Nowak")
    return {"program": program, "store": store, "other_store": other_store, "cashier": cashier,
            "colleague": colleague, "member": member}


def sell(shop, amount="40.00", *, external_id="R-1", user=None, store=None, at=None):
    return till_purchase_record(
        user=user or shop["cashier"], store=store or shop["store"], member=shop["member"], external_id=external_id,
        amount=Decimal(amount), purchased_at=at or timezone.now(),
    )


def log(**filters):
    return list(TillAction.objects.filter(**filters).order_by("pk").values_list("kind", "user__email", "store__code"))


# -- the audit log -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_purchase_is_logged_once_even_when_sent_twice(shop):
    at = timezone.now()
    first = sell(shop, at=at)
    again = sell(shop, at=at)
    assert first.created and not again.created
    assert log() == [("purchase", "cashier@example.com", "WAW")]
    action = TillAction.objects.get()
    assert (action.member, action.purchase) == (shop["member"], first.purchase)
    assert first.purchase.source == Source.TILL and first.purchase.recorded_by == shop["cashier"]


@pytest.mark.django_db
def test_a_refund_is_logged_with_its_purchase(shop):
    purchase = sell(shop).purchase
    result = till_refund_record(
        user=shop["cashier"], store=shop["store"], purchase=purchase, external_id="RF-1",
        amount=Decimal("10.00"), refunded_at=timezone.now(),
    )
    action = TillAction.objects.get(kind=Kind.REFUND)
    assert (action.refund, action.purchase, action.member) == (result.refund, purchase, shop["member"])


@pytest.mark.django_db
def test_an_enrollment_logs_the_member_the_card_and_the_claim(shop, django_capture_on_commit_callbacks):
    number = card_number(31)
    with django_capture_on_commit_callbacks(execute=True):
        enrolled = till_member_enroll(
            user=shop["cashier"], store=shop["store"], first_name="Ola", email="ola@example.com",
            marketing_consent=True, card_number=number, language="pl",
        )
    member = enrolled.member
    assert (member.card_number, member.enrollment_store, member.language) == (number, shop["store"], "pl")
    assert [a.kind for a in TillAction.objects.order_by("pk")] == [Kind.ENROLL, Kind.CARD_ATTACH, Kind.CLAIM_SENT]
    assert set(TillAction.objects.values_list("member", flat=True)) == {member.pk}
    consent = member.consent_changes.get()
    assert (consent.channel, consent.source, consent.actor) == ("email", "till", shop["cashier"])
    delivery = enrolled.delivery
    assert (delivery.kind, delivery.channel, delivery.recipient, delivery.status) == (
        "claim", "email", "ola@example.com", Delivery.Status.LOGGED)
    assert "/me/claim/" in delivery.body and delivery.actor == shop["cashier"]


@pytest.mark.django_db
def test_without_an_email_the_claim_goes_by_sms_and_no_card_attach_is_logged(shop):
    enrolled = till_member_enroll(user=shop["cashier"], store=shop["store"], first_name="Ion", phone="+48601000111")
    assert enrolled.delivery.channel == "sms" and enrolled.delivery.recipient == "+48601000111"
    assert [a.kind for a in TillAction.objects.order_by("pk")] == [Kind.ENROLL, Kind.CLAIM_SENT]


@pytest.mark.django_db
def test_a_refused_enrollment_leaves_no_trace(shop):
    with pytest.raises(DuplicateMember):
        till_member_enroll(
            user=shop["cashier"], store=shop["store"], first_name="Ada", email=shop["member"].email.upper(),
            marketing_consent=True,
        )
    assert not TillAction.objects.exists()
    assert not ConsentChange.objects.exists() and not Delivery.objects.exists()
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_a_claim_sent_again_is_logged(shop):
    till_claim_send(user=shop["cashier"], store=shop["store"], member=shop["member"])
    assert log(kind=Kind.CLAIM_SENT) == [("claim", "cashier@example.com", "WAW")]
    assert Delivery.objects.get().member == shop["member"]


# -- undo --------------------------------------------------------------------------


def points(member):
    account = PointsAccount.objects.get(member=member)
    return account.available + account.pending


@pytest.mark.django_db
def test_a_purchase_undone_in_time_is_refunded_in_full_and_logged(shop):
    purchase = sell(shop, "40.00", external_id="R-9").purchase
    assert points(shop["member"]) == 40
    action = till_action_last(user=shop["cashier"], store=shop["store"])
    undo = till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)
    assert undo.created
    refund = Refund.objects.get()
    assert (refund.purchase, refund.amount, refund.external_id, refund.source) == (
        purchase, Decimal("40.00"), "undo-R-9", Source.TILL)
    assert points(shop["member"]) == 0
    assert undo.action.kind == Kind.UNDO and undo.action.undo_of == action and undo.action.refund == refund
    purchase.refresh_from_db()
    assert purchase.refundable_amount == 0


@pytest.mark.django_db
def test_undo_after_the_window_is_refused(shop, settings):
    settings.TILL_UNDO_SECONDS = 300
    sell(shop)
    action = TillAction.objects.get()
    late = action.at + dt.timedelta(seconds=301)
    with pytest.raises(UndoTooLate) as error:
        till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk, now=late)
    assert "5 minutes" in error.value.message
    assert not Refund.objects.exists()
    # Just inside the window it is still allowed.
    till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk,
                   now=action.at + dt.timedelta(seconds=299))
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_undo_twice_refunds_once(shop):
    sell(shop)
    action = TillAction.objects.get()
    first = till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)
    second = till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)
    assert first.created and not second.created
    assert second.action == first.action
    assert Refund.objects.count() == 1
    assert TillAction.objects.filter(kind=Kind.UNDO).count() == 1


@pytest.mark.django_db
def test_someone_elses_action_cannot_be_undone(shop):
    sell(shop)
    action = TillAction.objects.get()
    with pytest.raises(NothingToUndo):
        till_undo_last(user=shop["colleague"], store=shop["store"], action_id=action.pk)
    assert till_action_last(user=shop["colleague"], store=shop["store"]) is None
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_an_action_at_another_store_cannot_be_undone_here(shop):
    sell(shop, store=shop["other_store"])
    action = TillAction.objects.get()
    with pytest.raises(NothingToUndo):
        till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_only_the_last_action_can_be_undone(shop):
    sell(shop, external_id="R-1")
    first = TillAction.objects.get()
    sell(shop, external_id="R-2")
    with pytest.raises(UndoNotLast):
        till_undo_last(user=shop["cashier"], store=shop["store"], action_id=first.pk)
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_refunds_and_enrollments_cannot_be_undone(shop):
    purchase = sell(shop).purchase
    till_refund_record(user=shop["cashier"], store=shop["store"], purchase=purchase, external_id="RF-1",
                       amount=Decimal("5.00"), refunded_at=timezone.now())
    refund_action = till_action_last(user=shop["cashier"], store=shop["store"])
    with pytest.raises(ActionNotUndoable) as error:
        till_undo_last(user=shop["cashier"], store=shop["store"], action_id=refund_action.pk)
    assert "refund cannot be undone" in error.value.message
    till_member_enroll(user=shop["cashier"], store=shop["store"], first_name="Ola", email="ola@example.com")
    last = till_action_last(user=shop["cashier"], store=shop["store"])
    assert last.kind == Kind.CLAIM_SENT
    with pytest.raises(ActionNotUndoable):
        till_undo_last(user=shop["cashier"], store=shop["store"], action_id=last.pk)
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_a_purchase_refunded_in_full_elsewhere_has_nothing_left_to_undo(shop):
    purchase = sell(shop).purchase
    refund_record(external_id="POS-RF", purchase=purchase, amount="40.00", source=Source.API)
    action = TillAction.objects.get()
    with pytest.raises(NothingLeftToUndo):
        till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)


@pytest.mark.django_db
def test_a_partly_refunded_purchase_is_undone_for_what_remains(shop):
    purchase = sell(shop, "40.00").purchase
    refund_record(external_id="POS-RF", purchase=purchase, amount="15.00", source=Source.API)
    action = TillAction.objects.get()
    till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)
    assert Refund.objects.get(external_id="undo-R-1").amount == Decimal("25.00")
    assert points(shop["member"]) == 0


def test_the_undo_refund_id_fits_the_external_id_column():
    long = Purchase(external_id="R" * 64)
    assert len(undo_external_id(long)) <= 64
    assert undo_external_id(long) != undo_external_id(Purchase(external_id="R" * 63 + "S"))
    assert undo_external_id(Purchase(external_id="till:abc")) == "undo-till:abc"


# -- concurrency (PostgreSQL) ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_undos_at_once_refund_once(shop):
    sell(shop, "40.00")
    action = TillAction.objects.get()
    barrier = threading.Barrier(2)
    results, errors = [None, None], []

    def undo(index):
        try:
            barrier.wait(timeout=30)
            results[index] = till_undo_last(user=shop["cashier"], store=shop["store"], action_id=action.pk)
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=undo, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(result.created for result in results) == [False, True]
    assert results[0].action.pk == results[1].action.pk
    assert Refund.objects.count() == 1
    assert TillAction.objects.filter(kind=Kind.UNDO).count() == 1
    assert points(shop["member"]) == 0

"""People and places for the web tests: one program, two stores, a user per role."""

from decimal import Decimal

import pytest
from django.core.signing import get_cookie_signer
from django.test import Client
from django.utils import timezone

from loyalty.models import Source
from loyalty.services.purchases import purchase_record
from members.models import Role
from members.permissions import TILL_STORE_COOKIE, TILL_STORE_SALT
from tests.factories import MemberFactory, ProgramFactory, StoreFactory, UserFactory


@pytest.fixture
def program(db):
    return ProgramFactory(return_window_days=14, expiry_months=24)


@pytest.fixture
def store(program):
    return StoreFactory(code="WAW", name="Warsaw Centre", timezone="Europe/Warsaw")


@pytest.fixture
def other_store(program):
    return StoreFactory(code="KRK", name="Kraków Old Town", timezone="Europe/Warsaw")


@pytest.fixture
def users(store):
    """One user per role; the cashier, and only the cashier, is assigned to ``store``."""
    made = {role: UserFactory(email=f"{role}@example.com", role=role) for role in Role.values}
    made[Role.CASHIER].stores.add(store)
    member = MemberFactory(user=UserFactory(email="member@example.com"), first_name="Ada", last_name="Nowak")
    made["member"] = member.user
    return made


@pytest.fixture
def member(users):
    return users["member"].member


@pytest.fixture
def cashier(users):
    return users["cashier"]


@pytest.fixture
def till(cashier, store):
    """A client logged in as the cashier, on a device that chose ``store``."""
    return client_for(cashier, store=store)


def client_for(user, *, store=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    if store is not None:
        client.cookies[TILL_STORE_COOKIE] = _signed_store(client, store.pk)
    return client


def _signed_store(client: Client, store_id: int) -> str:
    return get_cookie_signer(salt=TILL_STORE_COOKIE + TILL_STORE_SALT).sign(str(store_id))


def buy(member, store, amount="25.00", *, external_id=None, user=None, at=None):
    return purchase_record(
        external_id=external_id or f"T-{member.pk}-{amount}-{timezone.now().timestamp()}",
        store=store, member=member, purchased_at=at or timezone.now(), amount=Decimal(amount),
        source=Source.TILL, recorded_by=user,
    )

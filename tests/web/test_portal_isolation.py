"""A member reaches only their own data, on every portal URL.

Member A logs in and tries member B's ids (purchase pk, member pk, card
number) on every page and download: B's purchase is a 404 and B's data never
appears. Anonymous users are sent to the login page; staff and cashiers get
403, for GET and POST alike.
"""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from members.models import Feedback, Member, Role
from tests.factories import MemberFactory, UserFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db

OWN_PAGES = [
    "me:home", "me:card", "me:history", "me:privacy", "me:export-json", "me:export-csv",
    "me:delete-account", "me:feedback",
]
PUBLIC = {
    "me:manifest": "holds nothing personal; browsers fetch it without cookies",
    "me:claim-start": "for members who have no login yet",
    "me:claim": "for members who have no login yet (a signed link)",
}
STAFF_ROLES = [Role.CASHIER, Role.MARKETING, Role.MANAGER, Role.OWNER]


def _portal_names() -> set[str]:
    """Every route in the ``me`` namespace (taking no id), as the URLconf has them now."""
    resolver = next(
        r for r in get_resolver().url_patterns if isinstance(r, URLResolver) and r.namespace == "me"
    )
    return {
        f"me:{p.name}" for p in resolver.url_patterns
        if isinstance(p, URLPattern) and p.name and not p.pattern.converters
    }


# Every /me/ page that takes no id: ours, then any other the URLconf has (the
# account pages), found at collection time so that a new page is covered at once.
PAGES = OWN_PAGES + sorted(_portal_names() - set(OWN_PAGES) - set(PUBLIC))


@pytest.fixture
def world(users, member, store):
    mine = buy(member, store, "10.00", external_id="MINE-1").purchase
    bob = MemberFactory(
        user=UserFactory(email="bob@example.com"), first_name="Bobzilla", last_name="Theirson",
        email="bob@example.com", phone="+48609999999",
    )
    theirs = buy(bob, store, "77.77", external_id="THEIRS-1").purchase
    Feedback.objects.create(member=bob, score=2, comment="Bob's secret complaint")
    return {"mine": mine, "bob": bob, "theirs": theirs}


def _body(response) -> str:
    """The response's text, less the language switcher's echo of the query string."""
    if response.streaming:
        raw = b"".join(response.streaming_content)
        if response["Content-Type"] == "application/zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                return "".join(archive.read(name).decode("utf-8-sig") for name in archive.namelist())
        return raw.decode()
    return re.sub(r'name="next" value="[^"]*"', "", response.content.decode())


def test_every_portal_page_is_covered_here():
    assert set(OWN_PAGES) | {"me:account"} <= set(PAGES)
    assert not set(PAGES) & set(PUBLIC)


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_users_are_sent_to_the_login_page(world, name):
    for method in ("get", "post"):
        response = getattr(client_for(None), method)(reverse(name))
        assert response.status_code == 302, (name, method)
        assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("role", STAFF_ROLES)
@pytest.mark.parametrize("name", [*PAGES, "me:purchase-detail"])
def test_staff_and_cashiers_are_refused(world, users, role, name):
    kwargs = {"pk": world["mine"].pk} if name == "me:purchase-detail" else {}
    client = client_for(users[role])
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403
    assert client.post(reverse(name, kwargs=kwargs), {"password": "pass-word-123", "score": "1"}).status_code == 403
    assert Member.objects.get(pk=world["bob"].pk).status == Member.Status.ACTIVE
    assert not Feedback.objects.filter(score=1).exists()


def test_another_members_purchase_is_not_found(world, users):
    client = client_for(users["member"])
    url = reverse("me:purchase-detail", kwargs={"pk": world["mine"].pk})
    assert client.get(url).status_code == 200
    for pk in (world["theirs"].pk, world["theirs"].pk + 10_000):
        response = client.get(reverse("me:purchase-detail", kwargs={"pk": pk}))
        assert response.status_code == 404
        assert "THEIRS" not in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_other_members_ids_in_the_query_change_nothing(world, users, member, name):
    bob, theirs = world["bob"], world["theirs"]
    client = client_for(users["member"])
    params = {"member": bob.pk, "pk": bob.pk, "member_id": bob.pk, "card": bob.card_number,
              "purchase": theirs.pk, "user": bob.user_id}
    response = client.get(reverse(name), params)
    assert response.status_code == 200, name
    body = _body(response)
    for theirs_text in ("THEIRS-1", "Bobzilla", "Theirson", "bob@example.com", bob.card_number, "+48609999999",
                        "secret complaint", "77.77", "77,77"):
        assert theirs_text not in body, (name, theirs_text)
    if name in ("me:card", "me:export-json", "me:export-csv", "me:account"):
        assert member.card_number in body


def test_posting_with_another_members_ids_acts_on_your_own_account_only(world, users, member):
    bob = world["bob"]
    client = client_for(users["member"])
    client.post(reverse("me:feedback") + f"?member={bob.pk}", {"score": "4", "member": bob.pk})
    assert list(Feedback.objects.filter(member=bob).values_list("score", flat=True)) == [2]
    assert list(Feedback.objects.filter(member=member).values_list("score", flat=True)) == [4]
    client.post(reverse("me:delete-account") + f"?member={bob.pk}", {"password": "pass-word-123", "member": bob.pk})
    assert Member.objects.get(pk=bob.pk).status == Member.Status.ACTIVE
    assert Member.objects.get(pk=member.pk).status == Member.Status.DELETED


def test_a_deleted_members_login_reaches_nothing(world, users, member):
    Member.objects.filter(pk=member.pk).update(status=Member.Status.DELETED)
    client = client_for(users["member"])
    for name in PAGES:
        assert client.get(reverse(name)).status_code == 403, name


def test_the_public_manifest_names_no_one(world):
    body = client_for(None).get(reverse("me:manifest")).content.decode()
    for text in ("Bobzilla", "Ada", world["bob"].card_number, "member@example.com"):
        assert text not in body

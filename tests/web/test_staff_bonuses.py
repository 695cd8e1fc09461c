"""The staff's action bonuses page, "mark a review" on the member page, and
bonus entries named by their (translated) kind in the portal and staff history."""

import pytest
from django.urls import reverse

from loyalty.models import ActionBonus, LedgerEntry
from loyalty.services.bonuses import action_bonuses_get, action_bonuses_save, bonus_grant
from tests.factories import MemberFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

Kind = ActionBonus.Kind


def form_data(**rows) -> dict:
    """``rows``: kind=(points, on) for each kind to send; the others are sent empty and off."""
    data = {}
    for kind in Kind.values:
        points, on = rows.get(kind, ("", False))
        data[f"{kind}-points"] = points
        if on:
            data[f"{kind}-active"] = "on"
    return data


def review_url(member):
    return reverse("staff:member-review", kwargs={"pk": member.pk})


def review_entries(member):
    return LedgerEntry.objects.filter(account__member=member, kind=LedgerEntry.Kind.BONUS)


# -- the settings page ----------------------------------------------------------------


def test_the_page_lists_the_seven_bonuses_with_labels_for_every_input(users, program):
    action_bonuses_save(values={Kind.BIRTHDAY: (100, True)})
    response = client_for(users["marketing"]).get(reverse("staff:bonuses"))
    assert response.status_code == 200
    rows = response.context["form"].rows
    assert [row.kind for row in rows] == Kind.values
    content = response.content.decode()
    for row in rows:
        assert f'for="{row.points.id_for_label}"' in content and f'for="{row.active.id_for_label}"' in content
    birthday = next(row for row in rows if row.kind == Kind.BIRTHDAY)
    assert (birthday.points.value(), birthday.active.value()) == (100, True)
    assert 'aria-current="page" href="/staff/bonuses/"' in content  # in the staff navigation


@pytest.mark.parametrize("role", ["marketing", "manager", "owner"])
def test_staff_set_points_and_switch_bonuses_on_and_off_in_one_form(users, program, role):
    action_bonuses_save(values={Kind.REVIEW: (30, True)})
    client = client_for(users[role])
    response = client.post(
        reverse("staff:bonuses"), form_data(signup=(50, True), birthday=(120, True), review=(30, False))
    )
    assert response.status_code == 302 and response["Location"] == reverse("staff:bonuses")
    settings = action_bonuses_get()
    assert {kind: (s.points, s.active) for kind, s in settings.items()} == {
        "signup": (50, True), "birthday": (120, True), "review": (30, False),
    }
    assert "The action bonuses were saved." in client.get(reverse("staff:bonuses")).content.decode()


def test_a_bonus_switched_on_without_points_is_refused_on_its_field(users, program):
    response = client_for(users["manager"]).post(reverse("staff:bonuses"), form_data(referrer=("", True)))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "Give the points of the Referral: the member who referred bonus" in errors["referrer-points"][0]
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ActionBonus.objects.exists()


def test_points_below_one_are_refused(users, program):
    response = client_for(users["manager"]).post(reverse("staff:bonuses"), form_data(signup=(0, True)))
    assert "signup-points" in response.context["form"].errors
    assert not ActionBonus.objects.exists()


# -- marking a review ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketing", "manager", "owner"])
def test_staff_mark_a_review_on_the_member_page(users, member, program, role):
    action_bonuses_save(values={Kind.REVIEW: (30, True)})
    client = client_for(users[role])
    page = client.get(reverse("staff:member-detail", kwargs={"pk": member.pk})).content.decode()
    assert "Mark a review" in page and review_url(member) in page
    response = client.post(review_url(member), {"reference": "https://www.example.com/reviews/7"})
    assert response.status_code == 302
    [entry] = review_entries(member)
    assert (entry.points, entry.actor) == (30, users[role])
    page = client.get(response["Location"]).content.decode()
    assert "Review bonus of 30 points granted." in page
    assert "<td>Review · <code>example.com/reviews/7</code>" in page  # the ledger names the bonus


def test_a_review_already_rewarded_is_an_error_on_the_reference(users, member, program):
    action_bonuses_save(values={Kind.REVIEW: (30, True)})
    client = client_for(users["manager"])
    client.post(review_url(member), {"reference": "https://example.com/reviews/7"})
    response = client.post(review_url(member), {"reference": "http://example.com/reviews/7/"})
    assert response.status_code == 200
    assert "was already rewarded" in response.context["review_form"].errors["reference"][0]
    assert review_entries(member).count() == 1


def test_marking_a_review_while_the_bonus_is_off_says_so(users, member, program):
    response = client_for(users["manager"]).post(review_url(member), {"reference": "r-1"})
    assert response.status_code == 200
    assert "The Review bonus is switched off" in response.content.decode()
    assert not review_entries(member).exists()


@pytest.mark.parametrize(("who", "status"), [("cashier", 403), ("member", 403)])
def test_only_staff_may_mark_reviews(users, member, program, who, status):
    action_bonuses_save(values={Kind.REVIEW: (30, True)})
    assert client_for(users[who]).post(review_url(member), {"reference": "r-1"}).status_code == status
    assert client_for(None).post(review_url(member), {"reference": "r-1"}).status_code == 302
    assert not review_entries(member).exists()


def test_marking_a_review_of_an_unknown_member_is_404(users, program):
    action_bonuses_save(values={Kind.REVIEW: (30, True)})
    url = reverse("staff:member-review", kwargs={"pk": 999999})
    assert client_for(users["manager"]).post(url, {"reference": "r-1"}).status_code == 404


# -- how bonus entries read ------------------------------------------------------------


def test_the_portal_history_names_each_bonus_by_its_kind(users, member, program):
    action_bonuses_save(values={Kind.SIGNUP: (50, True), Kind.BIRTHDAY: (100, True)})
    bonus_grant(member=member, kind=Kind.SIGNUP, occasion="once")
    bonus_grant(member=member, kind=Kind.BIRTHDAY, occasion="2026")
    # The label comes from the kind named in the breakdown (translated when shown), not a stored text.
    LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS).update(reason="stored English")
    content = client_for(users["member"]).get(reverse("me:history")).content.decode()
    assert "Bonus: Sign-up" in content and "Bonus: Birthday" in content
    assert "stored English" not in content


def test_the_staff_ledger_names_the_bonus_and_its_occasion(users, program):
    action_bonuses_save(values={Kind.REFERRER: (100, True)})
    referrer = MemberFactory()
    friend = MemberFactory(referred_by=referrer)
    bonus_grant(member=referrer, kind=Kind.REFERRER, occasion=str(friend.pk))
    page = client_for(users["marketing"]).get(reverse("staff:member-detail", kwargs={"pk": referrer.pk}))
    assert f"<td>Referral: the member who referred · <code>{friend.pk}</code>" in page.content.decode()

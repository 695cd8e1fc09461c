"""The till's one search box: names list matches to choose from; what is not
found offers to enroll with what was typed."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from members.models import Member
from tests.factories import MemberFactory, card_number
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def till(users, store):
    return client_for(users["cashier"], store=store)


def search(till, q):
    return till.get(reverse("till:search"), {"q": q})


def names(response):
    return [m.full_name for m in response.context["found"]]


def enroll_params(response):
    url = response.context["enroll_url"]
    assert urlsplit(url).path == reverse("till:enroll")
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def test_a_name_prefix_lists_the_members_whose_first_or_last_name_starts_with_it(till, member):
    MemberFactory(first_name="Adam", last_name="Zieliński")
    MemberFactory(first_name="Ewa", last_name="Adamczyk")
    MemberFactory(first_name="Piotr", last_name="Kadar")  # "ad" inside a name is no match
    response = search(till, "ad")
    assert response.status_code == 200
    assert sorted(names(response)) == ["Ada Nowak", "Adam Zieliński", "Ewa Adamczyk"]
    assert response.context["lookup"].kind == "name"
    content = response.content.decode()
    assert f'href="{reverse("till:member", kwargs={"card": member.card_number})}"' in content
    assert "arrow keys" in content


def test_each_word_must_start_the_first_or_the_last_name_in_any_case(till, member):
    MemberFactory(first_name="Ada", last_name="Kowalska")
    MemberFactory(first_name="Nowak", last_name="Jan")
    assert names(search(till, "ADA now")) == ["Ada Nowak"]
    assert sorted(names(search(till, "now"))) == ["Ada Nowak", "Nowak Jan"]


def test_a_single_name_match_is_listed_to_confirm_not_opened(till, member):
    response = search(till, "Nowak")
    assert response.status_code == 200
    assert names(response) == ["Ada Nowak"]


def test_name_results_are_sorted_and_limited_to_ten_with_a_hint(till):
    for n in range(12):
        MemberFactory(first_name=f"Zoe{n:02d}", last_name=f"Zed{n:02d}")
    response = search(till, "zoe")
    assert names(response) == [f"Zoe{n:02d} Zed{n:02d}" for n in range(10)]
    assert response.context["lookup"].more
    assert "type more of the name" in response.content.decode()


def test_deleted_members_are_never_listed(till):
    MemberFactory(first_name="Gone", last_name="Away", status=Member.Status.DELETED)
    response = search(till, "gone")
    assert names(response) == []
    assert "No member" in response.context["search_form"].errors["q"][0]


def test_an_unknown_name_offers_to_enroll_with_it(till):
    response = search(till, "Zofia Kowalska")
    assert "No member's name starts with Zofia Kowalska" in response.context["search_form"].errors["q"][0]
    assert enroll_params(response) == {"first_name": "Zofia", "last_name": "Kowalska"}
    assert "Enroll a new member" in response.content.decode()


def test_an_unknown_email_offers_to_enroll_with_it(till):
    response = search(till, "new@example.com")
    assert "No member has the email" in response.context["search_form"].errors["q"][0]
    assert enroll_params(response) == {"email": "new@example.com"}


def test_an_unknown_phone_offers_to_enroll_with_it(till):
    assert enroll_params(search(till, "601 999 888")) == {"phone": "601 999 888"}


def test_a_new_card_scanned_offers_to_enroll_with_the_card(till):
    number = card_number(4242)
    assert enroll_params(search(till, number)) == {"card_number": number}


def test_a_wrong_check_digit_offers_no_enrollment(till, member):
    wrong = card_number(4242)[:-1] + str((int(card_number(4242)[-1]) + 1) % 10)
    response = search(till, wrong)
    assert "not a valid card number" in response.context["search_form"].errors["q"][0]
    assert "enroll_url" not in response.context


@pytest.mark.parametrize("count", [3, 10])
def test_the_results_page_uses_a_fixed_number_of_queries(till, count, django_assert_num_queries):
    for n in range(count):
        MemberFactory(first_name=f"Kim{n}", last_name="Lee")
    search(till, "kim")  # the program is cached from here on
    # session, user, the device's store, the matching members
    with django_assert_num_queries(4):
        response = search(till, "kim")
    assert len(response.context["found"]) == count


@pytest.mark.postgres
def test_the_name_lookup_is_answered_by_the_prefix_indexes_on_postgresql(users):
    """The expression and operator class of migration 0004 fit the query the
    selector sends (with sequential scans off, so a tiny table still shows it)."""
    from django.db import connection

    from members.selectors import member_search_by_name

    for n in range(30):
        MemberFactory(first_name=f"Name{n}", last_name=f"Family{n}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_member")
        cursor.execute("SET LOCAL enable_seqscan = off")
        with connection.execute_wrapper(_explain_into(plans := [])):
            member_search_by_name(query="zof kow")
    plan = "\n".join(plans)
    assert "member_first_lower_prefix" in plan and "member_last_lower_prefix" in plan, plan


def _explain_into(plans):
    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT"):
            cursor = context["cursor"]
            cursor.execute("EXPLAIN " + sql, params)
            plans.extend(row[0] for row in cursor.fetchall())
        return execute(sql, params, many, context)

    return wrapper

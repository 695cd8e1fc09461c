"""The segment pages of /staff/: list with counts, the editor (saving, adding rows
and counting without script, errors on the row), the count endpoint, the
member list, the CSV export and archiving."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.urls import reverse

from analytics.models import MemberScore, ScoreRun, Segment
from analytics.segments import segment_members
from analytics.services.segments import segment_archive, segment_save
from loyalty.models import MemberTier
from tests.factories import EarnRuleFactory, MemberFactory, TierFactory
from tests.web.conftest import buy, client_for

pytestmark = pytest.mark.django_db


def rows(*conditions, deleted=()) -> dict:
    """The editor's formset data for ``(field, op, value-or-choices)`` rows."""
    data = {
        "conditions-TOTAL_FORMS": str(len(conditions)), "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0", "conditions-MAX_NUM_FORMS": "30",
    }
    for index, (field, op, value) in enumerate(conditions):
        data[f"conditions-{index}-field"] = field
        data[f"conditions-{index}-op"] = op
        if isinstance(value, list):
            data[f"conditions-{index}-choices"] = value
        else:
            data[f"conditions-{index}-value"] = value
        if index in deleted:
            data[f"conditions-{index}-DELETE"] = "on"
    return data


@pytest.fixture
def shoppers(member, store):
    """Ada (the member fixture) spent 80.00 and gave email consent; Bob spent 20.00; Cy never bought."""
    member.marketing_consent = True
    member.save()
    bob = MemberFactory(first_name="Bob", last_name="Brown", marketing_consent=False)
    cy = MemberFactory(first_name="Cy", last_name="Young", marketing_consent=True)
    buy(member, store, "50.00")
    buy(member, store, "30.00")
    buy(bob, store, "20.00")
    return {"ada": member, "bob": bob, "cy": cy}


def test_creating_a_segment_saves_its_conditions_and_shows_its_members(users, shoppers, store):
    client = client_for(users["marketing"])
    response = client.post(reverse("staff:segment-create"), {
        "name": "Mailable spenders", "description": "For the spring mailing",
        **rows(("consent", "given", ["channel:email"]), ("spend", "at_least", "50"),
               ("store", "bought_at", [f"store:{store.pk}"])),
    })
    segment = Segment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:segment-members", kwargs={"pk": segment.pk})
    assert segment.conditions == {"all": [
        {"field": "consent", "op": "given", "value": "email"},
        {"field": "spend", "op": "at_least", "value": "50.00"},
        {"field": "store", "op": "bought_at", "value": [store.pk]},
    ]}
    assert segment.created_by == users["marketing"]
    page = client.get(response["Location"]).content.decode()
    assert "Nowak" in page and "Brown" not in page and "Young" not in page
    assert "1 member" in page


def test_bad_conditions_are_shown_on_their_row_and_nothing_is_saved(users, shoppers):
    response = client_for(users["manager"]).post(reverse("staff:segment-create"), {
        "name": "Broken", **rows(("consent", "given", ["channel:email"]), ("spend", "at_least", "lots")),
    })
    assert response.status_code == 200
    assert not Segment.objects.exists()
    page = response.content.decode()
    assert "The segment was not saved" in page
    assert "Condition 2 (Lifetime spend): give an amount of 0 or more" in page
    assert 'id="conditions-1-errors"' in page  # on the second row
    assert 'data-row aria-describedby="conditions-1-errors"' in page  # read with the row's fields


def test_editing_shows_the_saved_rows_and_saves_changes_removing_a_ticked_row(users, shoppers):
    segment = segment_save(name="Mailable", conditions={"all": [
        {"field": "consent", "op": "given", "value": "email"}, {"field": "rfm_group", "op": "in", "value": ["loyal"]},
    ]})
    client = client_for(users["owner"])
    page = client.get(reverse("staff:segment-edit", kwargs={"pk": segment.pk})).content.decode()
    assert '<option value="channel:email" selected>' in page
    assert '<option value="rfm:loyal" selected>' in page
    response = client.post(reverse("staff:segment-edit", kwargs={"pk": segment.pk}), {
        "name": "Mailable, renamed",
        **rows(("consent", "given", ["channel:email"]), ("rfm_group", "in", ["rfm:loyal"]),
               ("purchases", "at_least", "2"), deleted=(1,)),
    })
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Mailable, renamed"
    assert [item["field"] for item in segment.conditions["all"]] == ["consent", "purchases"]


def test_without_script_a_row_is_added_and_the_count_shown_without_saving(users, shoppers):
    client = client_for(users["marketing"])
    data = {"name": "", **rows(("consent", "given", ["channel:email"]))}
    added = client.post(reverse("staff:segment-create"), {**data, "add": "1"}).content.decode()
    assert 'name="conditions-1-field"' in added
    assert "This field is required" not in added
    counted = client.post(reverse("staff:segment-create"), {**data, "count": "1"}).content.decode()
    assert "2 members" in counted  # Ada and Cy
    assert not Segment.objects.exists()


def test_the_count_endpoint_answers_the_editors_form(users, shoppers):
    client = client_for(users["marketing"])
    url = reverse("staff:segment-count")
    answer = client.post(url, rows(("spend", "at_least", "20"), ("consent", "not_given", ["channel:email"])))
    assert answer.status_code == 200
    assert answer.json() == {"count": 1, "text": "1 member"}
    bad = client.post(url, rows(("last_purchase", "before", "yesterday")))
    assert bad.status_code == 400
    assert bad.json()["errors"] == ["Condition 1 (Last purchase): give a date as YYYY-MM-DD."]
    assert client.get(url).status_code == 405


@pytest.mark.parametrize(("who", "status"), [("cashier", 403), ("member", 403), ("owner", 200)])
def test_only_staff_count_and_archive(users, shoppers, who, status):
    client = client_for(users[who])
    assert client.post(reverse("staff:segment-count"), rows()).status_code == status
    segment = segment_save(name="Everyone", conditions={"all": []})
    response = client.post(reverse("staff:segment-archive", kwargs={"pk": segment.pk}))
    segment.refresh_from_db()
    assert (response.status_code == 302) == (status == 200)
    assert (segment.archived_at is not None) == (status == 200)
    segment_archive(segment=segment)
    response = client.post(reverse("staff:segment-restore", kwargs={"pk": segment.pk}))
    segment.refresh_from_db()
    assert response.status_code == (302 if status == 200 else status)
    assert (segment.archived_at is None) == (status == 200)


def test_an_archived_segment_is_listed_apart_and_restored_to_the_rules(users, shoppers):
    client = client_for(users["marketing"])
    segment = segment_save(name="Mailable", conditions={"all": [{"field": "consent", "op": "given", "value": "email"}]})
    client.post(reverse("staff:segment-archive", kwargs={"pk": segment.pk}), follow=True)  # its message read
    assert segment_members(segment.pk) is None  # nobody, for the rules
    assert "Mailable" not in client.get(reverse("staff:segments")).content.decode()
    archived = client.get(reverse("staff:segments"), {"archived": "1"}).content.decode()
    assert "Mailable" in archived and reverse("staff:segment-restore", kwargs={"pk": segment.pk}) in archived
    response = client.post(reverse("staff:segment-restore", kwargs={"pk": segment.pk}), follow=True)
    assert "Segment Mailable is back" in response.content.decode()
    assert "Mailable" in client.get(reverse("staff:segments")).content.decode()
    assert segment_members(segment.pk) is not None and segment_members(segment.pk).exists()
    # Restoring twice: the second finds no archived segment.
    assert client.post(reverse("staff:segment-restore", kwargs={"pk": segment.pk})).status_code == 404


def test_the_list_counts_members_in_a_fixed_number_of_queries(users, shoppers, django_assert_max_num_queries):
    client = client_for(users["marketing"])
    segment_save(name="Mailable", conditions={"all": [{"field": "consent", "op": "given", "value": "email"}]})
    client.get(reverse("staff:segments"))  # warm the session and the program
    cache.clear()  # the counts are computed, not read from the cache
    with django_assert_max_num_queries(16) as few:
        client.get(reverse("staff:segments"))
    for index in range(8):
        segment_save(name=f"Spend {index}", conditions={"all": [
            {"field": "spend", "op": "at_least", "value": str(10 * index)},
            {"field": "last_purchase", "op": "within_days", "value": 30},
        ]})
    cache.clear()
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(reverse("staff:segments")).content.decode()
    assert "Mailable" in page and "Spend 7" in page


def test_the_member_list_shows_tier_spend_and_group_in_a_fixed_number_of_queries(
    users, shoppers, django_assert_max_num_queries
):
    gold = TierFactory(code="gold", name_en="Gold")
    MemberTier.objects.create(member=shoppers["ada"], tier=gold)
    run = ScoreRun.objects.create(as_of=shoppers["ada"].enrolled_at, status=ScoreRun.Status.DONE)
    MemberScore.objects.create(member=shoppers["ada"], run=run, rfm_group="champions")
    segment = segment_save(name="Everyone", conditions={"all": []})
    client = client_for(users["marketing"])
    url = reverse("staff:segment-members", kwargs={"pk": segment.pk})
    client.get(url)
    with django_assert_max_num_queries(10) as few:
        client.get(url)
    for index in range(10):
        MemberTier.objects.create(member=MemberFactory(last_name=f"Extra{index}"), tier=gold)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(url).content.decode()
    assert "Gold" in page and "Champions" in page and "80.00" in page and "Extra9" in page
    assert shoppers["ada"].card_number in page


def test_the_export_streams_the_segments_members(users, shoppers, store):
    gold = TierFactory(code="gold", name_en="Gold")
    MemberTier.objects.create(member=shoppers["ada"], tier=gold)
    segment = segment_save(name="Mailable", conditions={"all": [{"field": "consent", "op": "given", "value": "email"}]})
    response = client_for(users["marketing"]).get(reverse("staff:segment-export", kwargs={"pk": segment.pk}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"segment-{segment.pk}-" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "card number", "first name", "last name", "email", "phone", "marketing consent", "SMS consent",
        "enrolled at", "enrollment store", "tier", "last purchase date", "purchases", "net spend", "RFM group",
    ]
    by_name = {row[1]: row for row in table[1:]}
    assert set(by_name) == {"Ada", "Cy"}
    ada = by_name["Ada"]
    assert (ada[0], ada[5], ada[9], ada[11], ada[12]) == (shoppers["ada"].card_number, "yes", "gold", "2", "80.00")
    assert by_name["Cy"][10:13] == ["", "0", "0.00"]


def test_archiving_removes_the_segment_from_the_list_and_names_the_rules_using_it(users, shoppers):
    segment = segment_save(name="Mailable", conditions={"all": []})
    EarnRuleFactory(name="Mail bonus", segments=[segment.pk])
    client = client_for(users["manager"])
    response = client.post(reverse("staff:segment-archive", kwargs={"pk": segment.pk}), follow=True)
    page = response.content.decode()
    assert "Segment Mailable is archived" in page
    assert "These rules still name it and now give its members nothing: Mail bonus." in page
    assert "No segments yet." in page
    assert client.get(reverse("staff:segment-edit", kwargs={"pk": segment.pk})).status_code == 404


def test_the_analytics_menu_links_the_segments(users):
    page = client_for(users["marketing"]).get(reverse("staff:segments")).content.decode()
    assert f'href="{reverse("staff:segments")}" aria-current="page"' in page

"""``/staff/deliveries/``: the delivery log, for staff roles only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members.messaging import message_send
from members.models import Delivery, Role
from tests.factories import MemberFactory
from tests.web.conftest import client_for

pytestmark = pytest.mark.django_db

URL = reverse("staff:deliveries")


def log(member=None, *, recipient="ada@example.com", channel=Delivery.Channel.EMAIL, body="Link: https://x/claim/abc/"):
    return message_send(channel=channel, kind="claim", recipient=recipient, subject="Your card",
                        body=body, member=member)


@pytest.mark.parametrize(("who", "status"), [
    (Role.OWNER, 200), (Role.MANAGER, 200), (Role.MARKETING, 200), (Role.CASHIER, 403), ("member", 403),
])
def test_only_staff_roles_read_the_delivery_log(users, who, status):
    assert client_for(users[who]).get(URL).status_code == status


def test_anonymous_users_are_sent_to_log_in(program):
    response = client_for(None).get(URL)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_a_logged_message_shows_its_text_for_staff_to_pass_on(users, settings):
    settings.EMAIL_CONFIGURED = False
    log(MemberFactory(first_name="Ada", last_name="Nowak"))
    page = client_for(users[Role.MARKETING]).get(URL).content.decode()
    assert "Link: https://x/claim/abc/" in page
    assert "Account claim" in page
    assert "Ada Nowak" in page


def test_filters_by_channel_and_recipient(users):
    log(recipient="ada@example.com")
    log(recipient="+48601234567", channel=Delivery.Channel.SMS)
    client = client_for(users[Role.MANAGER])
    sms = client.get(URL, {"channel": "sms"}).context["deliveries"]
    assert [d.recipient for d in sms] == ["+48601234567"]
    by_recipient = client.get(URL, {"q": "ADA@example.com"}).context["deliveries"]
    assert [d.recipient for d in by_recipient] == ["ada@example.com"]


def test_the_log_page_runs_a_fixed_number_of_queries(users, django_assert_max_num_queries):
    client = client_for(users[Role.OWNER])
    for n in range(3):
        log(MemberFactory(), recipient=f"m{n}@example.com")
    with django_assert_max_num_queries(8) as few:
        client.get(URL)
    for n in range(20):
        log(MemberFactory(), recipient=f"more{n}@example.com")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert len(response.context["deliveries"]) == 23

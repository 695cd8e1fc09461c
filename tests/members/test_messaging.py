"""Messages are written to the delivery log first; sent once; logged for staff
when the channel has no backend."""

from __future__ import annotations

import pytest
from django.core import mail

from members.messaging import delivery_send, message_send
from members.messaging.sms import LocmemBackend
from members.models import Delivery
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

LOCMEM_SMS = "members.messaging.sms.LocmemBackend"


@pytest.fixture(autouse=True)
def _empty_sms_outbox():
    LocmemBackend.outbox.clear()
    yield
    LocmemBackend.outbox.clear()


def send_email(**overrides) -> Delivery:
    values = {"channel": Delivery.Channel.EMAIL, "kind": "claim", "recipient": "ada@example.com",
              "subject": "Hello", "body": "Your link: https://example.com/secret"}
    return message_send(**{**values, **overrides})


def test_without_a_backend_the_message_is_logged_with_its_text_and_not_sent(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_CONFIGURED = False
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_email()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.LOGGED
    assert delivery.body == "Your link: https://example.com/secret"
    assert mail.outbox == []


def test_with_a_backend_the_email_is_sent_after_commit_and_its_text_forgotten(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_CONFIGURED = True
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delivery = send_email(member=member)
    assert mail.outbox == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.body == ""
    assert [(m.to, m.subject, m.body) for m in mail.outbox] == [
        (["ada@example.com"], "Hello", "Your link: https://example.com/secret")
    ]


def test_an_sms_goes_through_the_configured_backend(settings, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = LOCMEM_SMS
    with django_capture_on_commit_callbacks(execute=True):
        delivery = message_send(channel=Delivery.Channel.SMS, kind="claim", recipient="+48601234567", body="Hi")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert LocmemBackend.outbox == [{"to": "+48601234567", "body": "Hi"}]


def test_sms_without_a_backend_is_only_logged(settings, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = ""
    with django_capture_on_commit_callbacks(execute=True):
        delivery = message_send(channel=Delivery.Channel.SMS, kind="claim", recipient="+48601234567", body="Hi")
    assert delivery.status == Delivery.Status.LOGGED
    assert LocmemBackend.outbox == []


def test_a_delivery_is_sent_once_however_often_the_task_runs(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_CONFIGURED = True
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_email()
    delivery_send(delivery_id=delivery.pk)
    delivery_send(delivery_id=delivery.pk)
    assert len(mail.outbox) == 1


def test_the_same_dedupe_key_sends_once(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_CONFIGURED = True
    with django_capture_on_commit_callbacks(execute=True):
        first = send_email(dedupe_key="birthday:1:2026")
        again = send_email(dedupe_key="birthday:1:2026", body="other text")
    assert again.pk == first.pk
    assert Delivery.objects.count() == 1
    assert len(mail.outbox) == 1


def test_a_refusing_provider_marks_the_delivery_failed(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "tests.members.test_messaging.BrokenEmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_email()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.error == "ConnectionRefusedError"
    assert delivery.body  # kept, so that it can be sent again


class BrokenEmailBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("provider down")

"""Messages to members: email and SMS, each written to the delivery log first.

``message_send`` writes a ``Delivery`` row and, after the transaction
commits, hands it to the ``deliver_message`` task, which sends it through the
channel's backend. A channel with no backend configured (``EMAIL_URL`` or
``SMS_BACKEND`` unset) sends nothing: its messages stay in the log with their
body, where staff can read them and pass them on.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from members.messaging.sms import SmsDeliveryFailed, sms_send
from members.models import Delivery, Member, User

KIND_LABELS = {
    "claim": _("Account claim"),
}
"""How staff see each ``Delivery.kind``; a module that sends a new kind adds its label."""


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def channel_configured(channel: str) -> bool:
    if channel == Delivery.Channel.EMAIL:
        return bool(settings.EMAIL_CONFIGURED)
    return bool(settings.SMS_BACKEND)


def message_send(
    *,
    channel: str,
    kind: str,
    recipient: str,
    body: str,
    subject: str = "",
    member: Member | None = None,
    dedupe_key: str | None = None,
    actor: User | None = None,
) -> Delivery:
    """Log a message and send it once the caller's transaction commits.

    With ``dedupe_key`` a second call for the same occasion returns the first
    delivery and sends nothing (the key is unique in the database, so this
    holds under concurrency too).
    """
    if dedupe_key:
        earlier = Delivery.objects.filter(dedupe_key=dedupe_key).first()
        if earlier is not None:
            return earlier
    configured = channel_configured(channel)
    delivery = Delivery(
        member=member, channel=channel, kind=kind, recipient=recipient, subject=subject, body=body,
        status=Delivery.Status.QUEUED if configured else Delivery.Status.LOGGED,
        dedupe_key=dedupe_key or None, actor=actor,
    )
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:
        if dedupe_key:
            return Delivery.objects.get(dedupe_key=dedupe_key)
        raise
    if configured:
        from members.tasks import deliver_message

        transaction.on_commit(partial(deliver_message.delay, delivery_id=delivery.pk))
    return delivery


def delivery_send(*, delivery_id: int) -> Delivery:
    """Send a queued delivery through its channel's backend, once.

    Locks the delivery row, so a task run twice sends once. A sent message's
    body is cleared: it may hold a one-time link that staff must not see.
    """
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
        if delivery.status != Delivery.Status.QUEUED:
            return delivery
        try:
            if delivery.channel == Delivery.Channel.EMAIL:
                send_mail(delivery.subject, delivery.body, None, [delivery.recipient])
            else:
                sms_send(to=delivery.recipient, body=delivery.body)
        except (OSError, SmsDeliveryFailed) as error:
            delivery.status = Delivery.Status.FAILED
            delivery.error = type(error).__name__[:200]
        else:
            delivery.status = Delivery.Status.SENT
            delivery.body = ""
        delivery.save(update_fields=["status", "error", "body"])
    return delivery

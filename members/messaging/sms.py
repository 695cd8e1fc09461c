"""SMS backends, shaped like Django's email backends: ``SMS_BACKEND`` names a
class with ``send(to, body)``. Unset, SMS messages stay in the delivery log."""

from __future__ import annotations

import sys
from typing import ClassVar

from django.conf import settings
from django.utils.module_loading import import_string


class SmsDeliveryFailed(Exception):
    """The provider refused or could not be reached; the delivery is marked failed."""


class ConsoleBackend:
    """Writes each message to standard output (development)."""

    def send(self, *, to: str, body: str) -> None:
        sys.stdout.write(f"SMS to {to}: {body}\n")


class LocmemBackend:
    """Keeps messages in ``LocmemBackend.outbox`` (tests)."""

    outbox: ClassVar[list[dict[str, str]]] = []

    def send(self, *, to: str, body: str) -> None:
        self.outbox.append({"to": to, "body": body})


def sms_send(*, to: str, body: str) -> None:
    backend = import_string(settings.SMS_BACKEND)()
    backend.send(to=to, body=body)

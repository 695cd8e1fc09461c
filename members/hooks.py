"""Seams through which a higher app reacts to what happens to a member.

``members`` is the lowest app (members ← loyalty ← rewards ← analytics) and
never imports the others. Where a member's action must start work in a
higher app (the sign-up and completed-profile bonuses of ``loyalty``), the
members service runs a hook here and the higher app registers its receivers
in its ``AppConfig.ready()``.

How receivers run (decided once, for every hook):

* **Synchronously, inside the service's transaction**, after the service's
  own writes. What a receiver writes commits or rolls back with the action: a
  sign-up never commits without its bonus, nor a bonus without its sign-up,
  and no crash between a commit and an ``on_commit`` callback can lose the
  bonus. An error in a receiver refuses the action, so receivers must not
  raise for business reasons (a bonus that is switched off grants nothing).
* Receivers are idempotent (the bonus ledger keys make a second run a no-op)
  and quick; slow work (a message) is enqueued from inside the receiver with
  ``transaction.on_commit``.
* Locks: a receiver may lock rows the service has not (the member's points
  account) but only after the service's own (the member row), the order used
  everywhere: member, then points account.
* Receivers are called with keyword arguments only and must accept ``**_`` so
  that a hook can pass more later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Receiver = Callable[..., Any]


class Hook:
    """A named list of receivers, run in registration order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Receiver] = []

    def __repr__(self) -> str:
        return f"Hook({self.name!r})"

    def register(self, receiver: Receiver) -> Receiver:
        """Add ``receiver`` (once: registering it again changes nothing)."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def unregister(self, receiver: Receiver) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    @property
    def receivers(self) -> tuple[Receiver, ...]:
        return tuple(self._receivers)

    def run(self, **kwargs: Any) -> None:
        """Call every receiver with ``kwargs``, in the caller's transaction."""
        for receiver in tuple(self._receivers):
            receiver(**kwargs)

    @contextmanager
    def replaced(self, *receivers: Receiver) -> Iterator[None]:
        """For tests: only ``receivers`` run inside the block."""
        saved = self._receivers
        self._receivers = list(receivers)
        try:
            yield
        finally:
            self._receivers = saved


member_enrolled = Hook("member_enrolled")
"""A new member enrolled live, by portal sign-up or at the till
(``members.services.enrollment.member_enroll``); never run for imported or
demo members, which are history. Keywords: ``member``, ``source`` (the
``ConsentChange.Source`` of the enrollment: ``signup`` or ``till``)."""

member_profile_changed = Hook("member_profile_changed")
"""The member's details were saved (their profile, or a confirmed email on
file). Keywords: ``member`` (the saved row)."""

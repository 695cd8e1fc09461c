import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from loyalty.models import Program, Store
from members.cards import ean13_check_digit
from members.models import Member, Role, User


def card_number(n: int) -> str:
    body = f"29{n:010d}"
    return body + ean13_check_digit(body)


class ProgramFactory(DjangoModelFactory):
    class Meta:
        model = Program
        django_get_or_create = ("id",)

    id = 1
    name = "Coffee Club"
    currency = "PLN"
    country = "PL"
    timezone = "Europe/Warsaw"
    earn_rate = Decimal("1")
    point_value = Decimal("0.01")
    return_window_days = 0
    expiry_months = None
    allow_debt = True


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:02d}")
    name = factory.Sequence(lambda n: f"Store {n}")
    timezone = "Europe/Warsaw"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("pass-word-123")
    role = ""


class StaffFactory(UserFactory):
    role = Role.MANAGER


class MemberFactory(DjangoModelFactory):
    class Meta:
        model = Member

    # Far from the small numbers that tests pass to card_number() themselves.
    card_number = factory.Sequence(lambda n: card_number(5_000_000 + n))
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"member{n}@example.com")
    enrolled_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=400))


class TierFactory(DjangoModelFactory):
    """A qualifying tier by default; ``is_paid=True, threshold=None, fee=..., period_months=...`` for a paid one."""

    class Meta:
        model = "loyalty.Tier"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier{n}")
    name_en = factory.LazyAttribute(lambda tier: tier.code.title())
    rank = factory.Sequence(lambda n: n + 1)
    threshold = Decimal("100")
    multiplier = Decimal("1")


class EarnRuleFactory(DjangoModelFactory):
    """A fixed bonus of 10 points, active, with no conditions. Saved directly:
    call ``rules_cache_clear()`` (or save through ``rule_save``) before earning."""

    class Meta:
        model = "loyalty.EarnRule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = "fixed"
    value = Decimal("10")
    status = "active"


class CharityFactory(DjangoModelFactory):
    class Meta:
        model = "rewards.Charity"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"charity{n}")
    name_en = factory.LazyAttribute(lambda charity: charity.code.title())


class RewardFactory(DjangoModelFactory):
    """A 100-point discount of 10.00, unlimited, in the catalog. ``kind=...`` and
    the kind's fields (``stock``, ``event_at``, ``charity``...) for others."""

    class Meta:
        model = "rewards.Reward"
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"reward-{n}")
    kind = "amount"
    name_en = factory.LazyAttribute(lambda reward: reward.code.replace("-", " ").title())
    points_cost = 100
    value = Decimal("10.00")


def code_mistyped(code: str) -> str:
    """``code`` (a voucher code, raw or grouped) with the last two neighbouring
    characters that differ swapped: a typing mistake its check character catches."""
    i = next(i for i in range(len(code) - 2, -1, -1) if "-" not in code[i:i + 2] and code[i] != code[i + 1])
    return code[:i] + code[i + 1] + code[i] + code[i + 2:]

"""The demo's redemptions: vouchers in wallets and at the tills, through the live services, once."""

import pytest
from django.core.management import call_command

from loyalty.ledger.verify import ledger_offenders
from loyalty.models import LedgerEntry
from rewards.models import Voucher

pytestmark = pytest.mark.django_db


def test_demo_data_redeems_rewards_once_with_the_ledger_in_step(capsys):
    call_command("demo_data", "--members", "40", "--seed", "3")
    out = capsys.readouterr().out
    vouchers = list(Voucher.objects.select_related("redeem_entry", "member__user"))

    assert vouchers and "rewards redeemed" in out
    assert {voucher.status for voucher in vouchers} == {"issued", "used"}
    assert all(voucher.redeem_entry.points == -voucher.points for voucher in vouchers)
    assert any(voucher.member.user and voucher.member.user.email == "member@demo.example" for voucher in vouchers)
    assert list(ledger_offenders()) == []

    entries = LedgerEntry.objects.count()
    call_command("demo_data", "--members", "40", "--seed", "4")
    assert Voucher.objects.count() == len(vouchers) and LedgerEntry.objects.count() == entries

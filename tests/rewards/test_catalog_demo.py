"""The demo catalog (from ``demo_data``) and the ``import_partner_codes`` command."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from loyalty.demo import demo_data_load
from rewards.demo import demo_catalog_load, partner_codes_csv
from rewards.models import Charity, PartnerCode, Reward
from tests.factories import ProgramFactory, RewardFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


def catalog_state():
    return (
        sorted(Reward.objects.values_list("code", "updated_at", "stock", "status")),
        sorted(Charity.objects.values_list("code", "active")),
        sorted(PartnerCode.objects.values_list("reward__code", "code")),
    )


def test_the_demo_catalog_covers_every_kind_in_three_languages():
    demo_data_load(members=5, seed=1, now=NOW)
    result = demo_catalog_load(seed=1, now=NOW)
    assert (result.rewards, result.charities, result.codes) == (8, 1, 50)
    rewards = {reward.code: reward for reward in Reward.objects.select_related("charity", "min_tier")}
    assert {reward.kind for reward in rewards.values()} == set(Reward.Kind.values)
    for reward in rewards.values():
        assert reward.name_en and reward.name_pl and reward.name_ro, reward.code
        assert reward.description_en and reward.description_pl and reward.description_ro, reward.code
    event = rewards["cupping-evening"]
    assert (event.stock, event.min_tier.code) == (12, "gold")
    assert event.event_at == dt.datetime(2026, 5, 25, 16, 0, tzinfo=dt.UTC)  # 18:00 in Warsaw, three weeks on
    assert rewards["donate-shelter"].charity.name_pl == "Miejskie Schronisko dla Zwierząt"
    assert rewards["cakes-15"].min_tier.code == "silver"
    assert not rewards["birthday-cake"].in_catalog
    assert rewards["cinema-ticket"].partner_codes.filter(voucher__isnull=True).count() == 50


def test_the_demo_catalog_is_deterministic_and_a_second_run_changes_nothing():
    ProgramFactory()
    demo_catalog_load(seed=3, now=NOW)
    first = catalog_state()
    again = demo_catalog_load(seed=4, now=NOW + dt.timedelta(days=2))  # another seed and day: still nothing new
    assert not again.created
    assert catalog_state() == first
    assert partner_codes_csv(seed=3) == partner_codes_csv(seed=3) != partner_codes_csv(seed=4)


def test_demo_data_adds_the_catalog_and_a_second_run_changes_nothing(capsys):
    call_command("demo_data", "--members", "5", "--seed", "2")
    out = capsys.readouterr().out
    assert "Rewards catalog: 8 rewards, 1 charity and 50 partner codes added." in out
    state = catalog_state()
    call_command("demo_data")
    out = capsys.readouterr().out
    assert "already loaded; nothing changed" in out and "Rewards catalog" not in out
    assert catalog_state() == state


# -- import_partner_codes ------------------------------------------------------------------


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_partner_codes", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def cinema(db):
    ProgramFactory()
    return RewardFactory(code="cinema", kind="partner", value=None)


def test_the_command_imports_and_a_rerun_adds_nothing(cinema, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_bytes("\ufeffcode\nK1\nK2\n".encode())
    out, _err = run("cinema", str(path), "--dry-run")
    assert "Dry run: 2 new codes" in out and not PartnerCode.objects.exists()
    out, _err = run("cinema", str(path))
    assert "Added 2 codes" in out and "Free codes now: 2." in out
    out, _err = run("cinema", str(path))
    assert "Added 0 codes" in out and "(2 were already in the pool)" in out
    assert PartnerCode.objects.count() == 2


def test_the_command_lists_each_bad_line_and_imports_nothing(cinema, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code,extra\nK1,x\nK1,y\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match=r"The file has 2 errors; no code was imported\."):
        call_command("import_partner_codes", "cinema", str(path), stderr=err)
    assert err.getvalue().splitlines() == [
        f"{path}: Line 1: Unknown column(s) extra: the file has one column, code.",
        f"{path}: Line 3: The code K1 is already on line 2.",
    ]
    assert not PartnerCode.objects.exists()


def test_the_command_refuses_unknown_and_non_partner_rewards(cinema, tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code\nK1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="No reward has the code tea"):
        run("tea", str(path))
    RewardFactory(code="coffee")
    with pytest.raises(CommandError, match="not a partner reward"):
        run("coffee", str(path))
    with pytest.raises(CommandError, match="cannot be read"):
        run("cinema", str(tmp_path / "missing.csv"))

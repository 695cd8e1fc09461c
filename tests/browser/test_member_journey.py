"""A new member's first day, in Chromium: sign up, buy at the till, see the
pending points in the portal, download all their data."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty.services.till import till_purchase_record
from members.models import Member, Role
from tests.browser.conftest import axe_serious
from tests.factories import ProgramFactory, StoreFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_signs_up_sees_pending_points_and_downloads_their_data(page, live_server, tmp_path):
    ProgramFactory(return_window_days=14, expiry_months=24)
    store = StoreFactory(code="WAW-01", name="Warsaw Centre")
    cashier = UserFactory(email="cashier@example.com", role=Role.CASHIER)
    cashier.stores.add(store)

    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("First name").fill("Ola")
    page.get_by_label("Email").first.fill("ola@example.com")
    page.locator("#id_password1").fill("long-secret-77")
    page.locator("#id_password2").fill("long-secret-77")
    page.get_by_role("button", name=re.compile("Join")).click()
    expect(page).to_have_url(re.compile(r"/me/$"))
    member = Member.objects.get(email="ola@example.com")

    # The new member shows their card at the till and buys for 42.50.
    till_purchase_record(
        user=cashier, store=store, member=member, external_id="R-9001", amount=Decimal("42.50"),
        purchased_at=timezone.now(),
    )
    page.reload()
    balances = page.get_by_role("region", name="Points you can use")
    expect(balances.locator("dt:text-is('Pending') + dd")).to_have_text("42")
    expect(balances.locator(".balance-figure")).to_have_text("0")
    expect(page.get_by_text("Pending points become yours when the return period of the purchase ends.")).to_be_visible()
    assert axe_serious(page) == []

    page.get_by_role("link", name="Privacy and your data").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as JSON").click()
    path = tmp_path / "data.json"
    download_info.value.save_as(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["profile"]["card_number"] == member.card_number
    assert [p["receipt"] for p in data["purchases"]] == ["R-9001"]
    assert [(e["kind"], e["points"], e["pending_change"]) for e in data["ledger"]] == [("earn", 42, 42)]

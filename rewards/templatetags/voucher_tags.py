"""A voucher as the member shows it at the till, and a reward in the member's words.

``{% voucher_qr voucher %}`` and ``{% voucher_barcode voucher %}`` draw the
normalised code as inline SVG with a ``<title>`` (the approach of
``members.templatetags.card_tags``); ``{% voucher_worth voucher %}`` and
``{% reward_worth reward %}`` say what it is worth; ``voucher|voucher_state``
is the state a member sees (an issued voucher past its end is expired even
before the nightly task marks it).
"""

from __future__ import annotations

import io
import re

import barcode
from barcode.writer import SVGWriter
from django import template
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from loyalty.currencies import money_format
from loyalty.selectors import program_get_or_none
from loyalty.templatetags.loyalty_tags import local_datetime, number
from members.templatetags.card_tags import _inline, qr_code
from rewards.models import Reward, Voucher

register = template.Library()

READY, NOT_YET = "ready", "not_yet"


@register.simple_tag
def voucher_qr(voucher: Voucher) -> SafeString:
    title = gettext("QR code of voucher %(code)s") % {"code": voucher.display_code}
    return qr_code(voucher.code, title)


@register.simple_tag
def voucher_barcode(voucher: Voucher) -> SafeString:
    """A Code128 barcode of the canonical code; the text is shown beside it, grouped."""
    code128 = barcode.get("code128", voucher.code, writer=SVGWriter())
    out = io.BytesIO()
    code128.write(out, options={"module_width": 0.3, "module_height": 15, "quiet_zone": 4, "write_text": False,
                                "background": "#ffffff", "foreground": "#000000"})
    svg = out.getvalue().decode()
    # Millimetres become user units with a viewBox, so the barcode scales with the page.
    width = re.search(r'width="([\d.]+)mm"', svg)
    height = re.search(r'height="([\d.]+)mm"', svg)
    if width and height:
        svg = svg.replace(
            f'width="{width.group(1)}mm" height="{height.group(1)}mm"',
            f'viewBox="0 0 {width.group(1)} {height.group(1)}"', 1,
        )
    svg = re.sub(r"([\d.]+)mm", r"\1", svg).replace(' id="barcode_group"', "")
    title = gettext("Barcode of voucher %(code)s") % {"code": voucher.display_code}
    return _inline(svg, title=title, css_class="barcode")


@register.filter
def voucher_state(voucher: Voucher, now=None) -> str:
    """``ready``, ``not_yet``, ``used``, ``cancelled`` or ``expired``."""
    now = now or timezone.now()
    if voucher.status == Voucher.Status.ISSUED:
        if voucher.valid_until is not None and now >= voucher.valid_until:
            return Voucher.Status.EXPIRED
        return NOT_YET if now < voucher.valid_from else READY
    return voucher.status


@register.filter
def voucher_state_label(voucher: Voucher) -> str:
    state = voucher_state(voucher)
    if state == READY:
        return gettext("Ready to use")
    if state == NOT_YET:
        return gettext("Not yet usable")
    if state == Voucher.Status.USED and voucher.reward.kind == Reward.Kind.DONATION:
        return gettext("Donated")
    return str(Voucher.Status(state).label)


def _money(amount) -> str:
    program = program_get_or_none()
    return money_format(amount, program.currency) if program and amount is not None else number(amount)


@register.simple_tag
def reward_worth(reward: Reward) -> str:
    """What a reward gives, in one sentence."""
    kind = Reward.Kind
    program = program_get_or_none()
    if reward.kind == kind.AMOUNT and reward.value is not None:
        return gettext("%(amount)s off your purchase") % {"amount": _money(reward.value)}
    if reward.kind == kind.PERCENT and reward.value is not None:
        if reward.max_discount:
            return gettext("%(percent)s%% off your purchase, up to %(cap)s") % {
                "percent": number(reward.value), "cap": _money(reward.max_discount),
            }
        return gettext("%(percent)s%% off your purchase") % {"percent": number(reward.value)}
    if reward.kind == kind.PRODUCT:
        return gettext("A free product, given at the till")
    if reward.kind == kind.EVENT and reward.event_at:
        when = local_datetime(reward.event_at, program)
        if reward.place:
            return gettext("On %(date)s at %(place)s") % {"date": when, "place": reward.place}
        return gettext("On %(date)s") % {"date": when}
    if reward.kind == kind.DONATION and reward.charity_id:
        if reward.value:
            return gettext("A donation of %(amount)s to %(charity)s") % {
                "amount": _money(reward.value), "charity": reward.charity.name,
            }
        return gettext("A donation to %(charity)s") % {"charity": reward.charity.name}
    if reward.kind == kind.PARTNER:
        return gettext("A code to use with our partner")
    return str(reward.get_kind_display())


@register.simple_tag
def voucher_worth(voucher: Voucher) -> str:
    """What this voucher is worth; a donation's thanks."""
    reward = voucher.reward
    if reward.kind == Reward.Kind.DONATION:
        charity = reward.charity.name if reward.charity_id else ""
        if reward.value and charity:
            return gettext("Thank you! You gave %(amount)s to %(charity)s.") % {
                "amount": _money(reward.value), "charity": charity,
            }
        if charity:
            return gettext("Thank you! Your points went to %(charity)s.") % {"charity": charity}
        return gettext("Thank you for your donation!")
    return reward_worth(reward)

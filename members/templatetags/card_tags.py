"""Barcodes and QR codes as inline SVG, each with a title for screen readers.

``{% card_barcode member.card_number %}`` draws the card's EAN-13 barcode (the
number printed under it); ``{% qr_code value title %}`` a QR code of any text
(a card number, later a voucher code).
"""

from __future__ import annotations

import io
import re

import barcode
import segno
from barcode.writer import SVGWriter
from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

register = template.Library()

_XML_PROLOGUE = re.compile(r"^<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?")


def _inline(svg: str, *, title: str, css_class: str) -> SafeString:
    """An SVG document as an element to put in a page: no prologue, a role,
    a title and a class; the viewBox keeps it sharp at any width."""
    svg = _XML_PROLOGUE.sub("", svg.strip())
    svg = svg.replace("<svg ", f'<svg role="img" class="{css_class}" ', 1)
    head_end = svg.index(">") + 1
    return mark_safe(f"{svg[:head_end]}<title>{escape(title)}</title>{svg[head_end:]}")  # noqa: S308


@register.simple_tag
def card_barcode(card_number: str) -> SafeString:
    ean = barcode.get("ean13", card_number[:12], writer=SVGWriter())
    out = io.BytesIO()
    ean.write(out, options={"module_width": 0.4, "module_height": 22, "font_size": 8, "text_distance": 4,
                            "quiet_zone": 4, "background": "#ffffff", "foreground": "#000000"})
    svg = out.getvalue().decode()
    # Drawn in millimetres; make them user units with a viewBox, so that the
    # barcode scales with the page and stays sharp.
    width = re.search(r'width="([\d.]+)mm"', svg)
    height = re.search(r'height="([\d.]+)mm"', svg)
    if width and height:
        svg = svg.replace(
            f'width="{width.group(1)}mm" height="{height.group(1)}mm"',
            f'viewBox="0 0 {width.group(1)} {height.group(1)}"', 1,
        )
    svg = re.sub(r"([\d.]+)mm", r"\1", svg)
    svg = re.sub(r"font-size:([\d.]+)pt", lambda m: f"font-size:{float(m.group(1)) * 0.3528:.2f}px", svg)
    return _inline(svg, title=gettext("Barcode of card %(card)s") % {"card": card_number}, css_class="barcode")


@register.simple_tag
def qr_code(value: str, title: str) -> SafeString:
    qr = segno.make(value, micro=False, error="m")
    svg = qr.svg_inline(scale=1, border=4, dark="#000000", light="#ffffff", omitsize=True, svgclass=None)
    return _inline(svg, title=title, css_class="qr")

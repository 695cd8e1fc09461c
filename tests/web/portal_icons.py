"""Draws the member portal's home-screen icons with Pillow (run once; the PNGs are committed).

    .venv/bin/python -m tests.web.portal_icons

A white loyalty card with a barcode on the portal's blue: ``icon-<size>.png``
(rounded, transparent corners), ``icon-maskable-<size>.png`` (full bleed, the
card inside the central 80% safe zone that launchers may crop to a circle) and
``apple-touch-icon.png`` (180 px, opaque: iOS rounds it itself).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parent.parent.parent / "static" / "icons"
BLUE = (10, 88, 202, 255)
WHITE = (255, 255, 255, 255)
BLACK = (17, 17, 17, 255)
SCALE = 4  # drawn larger, then reduced: smooth edges
BARS = [2, 1, 1, 3, 1, 2, 2, 1, 3, 1, 1, 2, 1, 3, 2, 1, 1, 2]  # widths, bar and gap alternating


def _draw(size: int, *, card_share: float, rounded: bool) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=int(big * 0.22), fill=BLUE)
    else:
        draw.rectangle((0, 0, big, big), fill=BLUE)
    card_w = big * card_share
    card_h = card_w * 0.63  # a bank card's proportions
    left, top = (big - card_w) / 2, (big - card_h) / 2
    draw.rounded_rectangle((left, top, left + card_w, top + card_h), radius=card_w * 0.07, fill=WHITE)
    unit = card_w * 0.76 / sum(BARS)
    x = left + card_w * 0.12
    bar_top, bar_bottom = top + card_h * 0.22, top + card_h * 0.78
    for index, width in enumerate(BARS):
        if index % 2 == 0:
            draw.rectangle((x, bar_top, x + width * unit, bar_bottom), fill=BLACK)
        x += width * unit
    return image.resize((size, size), Image.Resampling.LANCZOS)


def icons_make(directory: Path = ICONS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for size in (192, 512):
        made.append(directory / f"icon-{size}.png")
        _draw(size, card_share=0.7, rounded=True).save(made[-1], optimize=True)
        made.append(directory / f"icon-maskable-{size}.png")
        _draw(size, card_share=0.56, rounded=False).save(made[-1], optimize=True)
    made.append(directory / "apple-touch-icon.png")
    _draw(180, card_share=0.64, rounded=False).convert("RGB").save(made[-1], optimize=True)
    return made


if __name__ == "__main__":
    for path in icons_make():
        print(path)

"""Reward images: checked, shrunk and re-encoded with Pillow before they reach the storage."""

from __future__ import annotations

import io
import secrets
import struct
from typing import IO

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from PIL import Image, ImageOps

from rewards.exceptions import RewardImageInvalid
from rewards.models import Reward

IMAGE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_MAX_SIDE = 1200
IMAGE_MAX_PIXELS = 50_000_000  # refuse before decoding: a small file can hold a huge (bomb) image
IMAGE_QUALITY = 85


def _size_mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"


def reward_image_prepare(*, upload: IO[bytes], name: str = "") -> bytes:
    """The JPEG a reward shows for an uploaded image: at most 5 MB uploaded,
    read by Pillow (anything else is refused), turned upright from its EXIF
    orientation, flattened onto white and converted to RGB, fitted within
    1200 × 1200 pixels keeping its ratio (never enlarged), and re-encoded
    without any metadata (EXIF, GPS, comments, ICC profile). Raises
    ``RewardImageInvalid`` (field ``image``). Pure: writes nothing."""
    name = name or getattr(upload, "name", "") or gettext("the file")
    size = getattr(upload, "size", None)
    if size is None:
        upload.seek(0, io.SEEK_END)
        size = upload.tell()
    if size > IMAGE_MAX_BYTES:
        raise RewardImageInvalid(
            reason="too_large", name=name, size_mb=_size_mb(size), limit_mb=IMAGE_MAX_BYTES // (1024 * 1024)
        )
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            width, height = probe.size
            if width * height > IMAGE_MAX_PIXELS:
                raise RewardImageInvalid(
                    reason="too_many_pixels", name=name, width=width, height=height,
                    limit=IMAGE_MAX_PIXELS // 1_000_000,
                )
            probe.verify()  # checks the file's structure; the image must then be opened again
        upload.seek(0)
        with Image.open(upload) as opened:
            opened.load()
            image = _flattened(ImageOps.exif_transpose(opened))
    except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombError):
        raise RewardImageInvalid(reason="unreadable", name=name) from None
    image.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE), Image.Resampling.LANCZOS)
    # Pillow writes some of ``info`` back (a JPEG comment); with it empty and no
    # exif=, icc_profile= or comment= given, none of the original's metadata is written.
    image.info = {}
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=IMAGE_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def _flattened(image: Image.Image) -> Image.Image:
    """``image`` in RGB, transparent parts on white (JPEG has no transparency)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


def reward_image_store(*, reward: Reward, upload: IO[bytes]) -> Reward:
    """Make ``upload`` the reward's image (``reward_image_prepare``), saved
    through the default storage as ``rewards/<code>-<random>.jpg``; the old
    file is deleted once the transaction commits (a rollback keeps it, and may
    leave the new file behind). Writes the ``image`` column alone. Raises
    ``RewardImageInvalid`` before anything is written."""
    content = reward_image_prepare(upload=upload)
    old = reward.image.name if reward.image else ""
    reward.image.save(f"{reward.code}-{secrets.token_hex(4)}.jpg", ContentFile(content), save=False)
    Reward.objects.filter(pk=reward.pk).update(image=reward.image.name, updated_at=timezone.now())
    if old and old != reward.image.name:
        storage = reward.image.storage
        transaction.on_commit(lambda: storage.delete(old))
    return reward


def reward_image_remove(*, reward: Reward) -> Reward:
    """Take the image off a reward; the file is deleted once the transaction commits."""
    old = reward.image.name if reward.image else ""
    if not old:
        return reward
    storage = reward.image.storage
    Reward.objects.filter(pk=reward.pk).update(image="", updated_at=timezone.now())
    reward.image = None
    transaction.on_commit(lambda: storage.delete(old))
    return reward

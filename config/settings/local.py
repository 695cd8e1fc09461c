"""The demo and development settings: SQLite, in-process tasks, debug on."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "insecure-local-development-key-do-not-use")

from .base import *  # noqa: F403

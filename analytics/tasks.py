"""Celery tasks of analytics: thin wrappers over services (each module's
docstring says what it computes)."""

from __future__ import annotations

from celery import shared_task  # noqa: F401  (used as the tasks are added)

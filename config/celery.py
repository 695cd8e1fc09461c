"""The Celery application.

With ``CELERY_BROKER_URL`` unset, tasks run in-process (``task_always_eager``),
so the demo and the tests need no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("loyalty_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

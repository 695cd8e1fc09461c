from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        # The earning rules' segment condition (loyalty never imports analytics).
        from analytics.segments import segment_members
        from loyalty.segments import segment_register

        segment_register(segment_members)

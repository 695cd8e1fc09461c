"""``/admin/`` for superusers: the scoring runs and the stored scores are
read-only (the nightly run, ``analytics.services.scoring``, writes them)."""

from django.contrib import admin

from analytics.models import MemberScore, ScoreRun
from loyalty.admin import ReadOnlyAdmin


@admin.register(ScoreRun)
class ScoreRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "as_of", "status", "members_scored", "finished_at"]
    list_filter = ["status"]
    date_hierarchy = "started_at"


@admin.register(MemberScore)
class MemberScoreAdmin(ReadOnlyAdmin):
    list_display = [
        "member", "rfm_group", "r_score", "f_score", "m_score", "recency_days", "frequency", "monetary",
        "clv_12m", "probability_alive",
    ]
    list_filter = ["rfm_group", "r_score", "f_score", "m_score"]
    list_select_related = ["member"]
    search_fields = ["member__card_number"]
    raw_id_fields = ["member", "run"]

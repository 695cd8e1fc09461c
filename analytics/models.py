"""What analytics stores: each member's scores from the nightly run, the runs
themselves, saved segments and what-if simulations.

KPIs are not stored: they are computed from the ledger and purchases when
asked (``analytics.kpis``) and cached by the dashboard.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

MONEY = {"max_digits": 14, "decimal_places": 2}


class RfmGroup(models.TextChoices):
    """Named RFM groups; how scores map to them is ``analytics.rfm.RFM_GROUPS``."""

    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL_LOYALISTS = "potential_loyalists", _("Potential loyalists")
    NEW = "new", _("New")
    PROMISING = "promising", _("Promising")
    NEED_ATTENTION = "need_attention", _("Need attention")
    ABOUT_TO_SLEEP = "about_to_sleep", _("About to sleep")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class ScoreRun(models.Model):
    """One run of the nightly scoring (RFM and CLV per member): when, how it
    went, and the program-level figures it produced (the fitted CLV model's
    parameters, the RFM quintile edges)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    as_of = models.DateTimeField(_("as of"), help_text=_("The instant the scores describe (exclusive)."))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.RUNNING)
    members_scored = models.PositiveIntegerField(_("members scored"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("score run")
        verbose_name_plural = _("score runs")
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.status}"


class MemberScore(models.Model):
    """A member's RFM scores and CLV prediction from the last finished run.

    Members without a purchase have a row with empty scores and no group, so
    that "not scored" and "scored, nothing bought" differ only by ``run``.
    """

    member = models.OneToOneField(
        Member, verbose_name=_("member"), primary_key=True, on_delete=models.CASCADE, related_name="score"
    )
    run = models.ForeignKey(ScoreRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="+")
    # RFM
    recency_days = models.PositiveIntegerField(_("days since the last purchase"), null=True, blank=True)
    frequency = models.PositiveIntegerField(_("purchases"), default=0)
    monetary = models.DecimalField(_("spend"), default=0, **MONEY)
    r_score = models.PositiveSmallIntegerField(_("R score"), null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(_("F score"), null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(_("M score"), null=True, blank=True)
    rfm_group = models.CharField(_("RFM group"), max_length=24, choices=RfmGroup.choices, blank=True)
    # CLV (BG/NBD + Gamma-Gamma, members with a purchase)
    expected_purchases = models.FloatField(_("expected purchases in 12 months"), null=True, blank=True)
    expected_amount = models.DecimalField(_("expected amount per purchase"), null=True, blank=True, **MONEY)
    clv_12m = models.DecimalField(_("predicted 12-month CLV"), null=True, blank=True, **MONEY)
    probability_alive = models.FloatField(_("probability of being active"), null=True, blank=True)

    class Meta:
        verbose_name = _("member score")
        verbose_name_plural = _("member scores")
        indexes = [
            models.Index(fields=["rfm_group"], name="analytics_score_group"),
            models.Index(fields=["r_score", "f_score"], name="analytics_score_rf"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.rfm_group or '-'}"


class Segment(models.Model):
    """A saved, rule-based group of members: its conditions are checked and
    turned into a member queryset by ``analytics.segments``."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Simulation(models.Model):
    """A what-if replay of past purchases under a changed program: the
    scenario asked for and, once computed, what it gives against what
    actually happened. Written by the task that runs it, never the ledger."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    scenario = models.JSONField(_("scenario"), default=dict)
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("simulation")
        verbose_name_plural = _("simulations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.pk} {self.status}"

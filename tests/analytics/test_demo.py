"""demo_data leaves the analytics something to show: ratings for the NPS and every member scored."""

import pytest
from django.core.management import call_command

from analytics.models import MemberScore, ScoreRun
from members.models import Feedback, Member

pytestmark = pytest.mark.django_db


def test_the_demo_has_ratings_and_scores_every_member(capsys):
    call_command("demo_data", "--members", "60", "--seed", "2")
    out = capsys.readouterr().out
    members = Member.objects.exclude(status=Member.Status.DELETED)
    assert MemberScore.objects.count() == members.count()
    assert MemberScore.objects.exclude(rfm_group="").exists()
    assert ScoreRun.objects.get().status == ScoreRun.Status.DONE
    assert Feedback.objects.exists()
    assert f"{members.count()} members scored" in out

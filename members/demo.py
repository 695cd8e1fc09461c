"""Demo feedback: ``demo_data`` adds program ratings (NPS) after the members
and their purchases, so the staff dashboard's NPS chart and comments have
something to show.

About one active member in twelve who has bought something rates the
program (at most ``DEMO_FEEDBACK`` ratings, so a demo of 100,000 members
spends a second here), on a day drawn from the last year after their
enrollment; a quarter of them rate again at least ``FEEDBACK_INTERVAL_DAYS``
later, as the portal allows. Scores lean positive, as a running program's do
(NPS around +30), and one rating in three has a short comment in the
member's language. Deterministic from the seed and the day; runs once (a
second run finds ratings and adds none).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from loyalty.models import Purchase
from members.models import Feedback, Member
from members.services.feedback import FEEDBACK_INTERVAL_DAYS

DEMO_FEEDBACK = 6000
SHARE = 12  # one member in SHARE rates the program
# Scores 0..10 and their weights: about 45% promoters, 15% detractors.
SCORES = list(range(11))
WEIGHTS = [1, 1, 1, 1, 2, 3, 6, 17, 23, 25, 20]
COMMENTS = {
    "en": {
        "good": ["Love the free coffee after a few visits.", "Great app, points show up at once.",
                 "The birthday cake slice was a lovely surprise."],
        "bad": ["Points take too long to become available.", "Hard to find the rewards I can afford.",
                "The cashier could not find my card."],
    },
    "pl": {
        "good": ["Darmowa kawa po kilku wizytach to świetna sprawa.", "Punkty widać od razu, super.",
                 "Kawałek tortu na urodziny był miłą niespodzianką."],
        "bad": ["Za długo czekam, aż punkty będą dostępne.", "Trudno znaleźć nagrody, na które mnie stać.",
                "Kasjer nie mógł znaleźć mojej karty."],
    },
    "ro": {
        "good": ["Îmi place cafeaua gratuită după câteva vizite.", "Punctele apar imediat, foarte bine.",
                 "Felia de tort de ziua mea a fost o surpriză plăcută."],
        "bad": ["Punctele devin disponibile prea târziu.", "Greu de găsit recompensele pe care mi le permit.",
                "Casierul nu mi-a găsit cardul."],
    },
}


@dataclass(frozen=True)
class DemoFeedbackResult:
    ratings: int


def demo_feedback_load(
    *, seed: int = 1, now: dt.datetime | None = None, limit: int = DEMO_FEEDBACK
) -> DemoFeedbackResult:
    """Add the demo's program ratings (see the module docstring); one transaction."""
    if Feedback.objects.exists():
        return DemoFeedbackResult(ratings=0)
    now = now or timezone.now()
    year_ago = now - dt.timedelta(days=365)
    draw = random.Random(f"feedback-{seed}")
    buyers = (
        Member.objects.filter(Exists(Purchase.objects.filter(member=OuterRef("pk"))), status=Member.Status.ACTIVE)
        .order_by("pk")
        .values_list("pk", "enrolled_at", "language")
    )
    rows: list[Feedback] = []
    for member_id, enrolled_at, language in buyers.iterator(chunk_size=5000):
        if len(rows) >= limit:
            break
        if draw.randrange(SHARE):
            continue
        start = max(enrolled_at, year_ago)
        span = int((now - start).total_seconds())
        if span <= 0:
            continue
        at = start + dt.timedelta(seconds=draw.randrange(span))
        rows.append(_rating(draw, member_id, language, at))
        again = at + dt.timedelta(days=FEEDBACK_INTERVAL_DAYS + draw.randrange(60))
        if draw.random() < 0.25 and again < now:
            rows.append(_rating(draw, member_id, language, again))
    with transaction.atomic():
        Feedback.objects.bulk_create(rows, batch_size=2000)
    return DemoFeedbackResult(ratings=len(rows))


def _rating(draw: random.Random, member_id: int, language: str, at: dt.datetime) -> Feedback:
    score = draw.choices(SCORES, WEIGHTS)[0]
    comment = ""
    if draw.random() < 1 / 3:
        pool = COMMENTS.get(language) or COMMENTS["en"]
        comment = draw.choice(pool["good"] if score >= 7 else pool["bad"])
    return Feedback(member_id=member_id, score=score, comment=comment, created_at=at)


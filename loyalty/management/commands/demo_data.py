import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from analytics.services.scoring import members_score
from loyalty.demo import LOGINS, demo_data_load
from members.demo import demo_feedback_load
from members.exceptions import LoyaltyError
from rewards.demo import demo_catalog_load, demo_redemptions_load


class Command(BaseCommand):
    help = (
        "Fill an empty database with a demo program (a Polish coffee-and-bakery chain): stores, "
        "tiers (Silver, Gold, Platinum by spend, a paid VIP tier), earning rules, action bonuses, "
        "demo logins, members and a year of purchases with their lines, deterministic from the "
        "seed; members are then put on the tier their spend reaches; and a rewards catalog (every "
        "kind, a charity, a partner reward's codes); and members' ratings of the program. Running "
        "it again adds nothing and prints the logins. Each run then scores the members (RFM and "
        "CLV) as the nightly task does."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=300, help=("How many members (default 300)."))
        parser.add_argument("--seed", type=int, default=1, help=("Random seed (default 1)."))

    def handle(self, *args, members, seed, verbosity, **options):
        if members < 1:
            raise CommandError(_("--members must be at least 1."))
        started = time.monotonic()
        progress = self.stdout.write if verbosity > 1 else None
        try:
            result = demo_data_load(members=members, seed=seed, progress=progress)
        except LoyaltyError as error:
            raise CommandError(error.message) from None
        if result.created:
            self.stdout.write(
                _(
                    "Demo data loaded in %(seconds).0f s: %(members)d members, %(purchases)d purchases, "
                    "%(refunds)d refunds, %(entries)d ledger entries."
                )
                % {
                    "seconds": time.monotonic() - started, "members": result.members,
                    "purchases": result.purchases, "refunds": result.refunds, "entries": result.entries,
                }
            )
            if result.tiers:
                self.stdout.write(
                    _("Members by tier: %(tiers)s.")
                    % {"tiers": ", ".join(f"{code} {count}" for code, count in result.tiers.items())}
                )
        else:
            self.stdout.write(_("The demo data is already loaded; nothing changed."))
        # A command may use every app (loyalty's demo does not import rewards); idempotent on its own.
        catalog = demo_catalog_load(seed=seed)
        if catalog.created:
            self.stdout.write(
                _("Rewards catalog: %(rewards)d rewards, %(charities)d charity and %(codes)d partner codes added.")
                % {"rewards": catalog.rewards, "charities": catalog.charities, "codes": catalog.codes}
            )
        redemptions = demo_redemptions_load(seed=seed)
        if redemptions.vouchers:
            self.stdout.write(
                _("Vouchers: %(vouchers)d rewards redeemed, %(used)d of them used at a till.")
                % {"vouchers": redemptions.vouchers, "used": redemptions.used}
            )
        feedback = demo_feedback_load(seed=seed)
        if feedback.ratings:
            self.stdout.write(_("Feedback: %(ratings)d program ratings added.") % {"ratings": feedback.ratings})
        # The nightly scoring, once now, so the RFM grid, segments and CLV have figures from the start.
        run = members_score()
        if run is not None:
            self.stdout.write(_("Scores: %(members)d members scored (RFM and CLV).") % {"members": run.members_scored})
        self.stdout.write(_("Demo logins (email / password):"))
        for login in LOGINS:
            self.stdout.write(f"  {login.email} / {login.password}   ({login.what})")

"""Action bonuses: points for an action rather than a purchase.

Each bonus is granted at most once per *occasion*, whatever runs its
trigger and however often: the ledger entry's idempotency key is
``bonus:<kind>:<occasion>`` on the member's account, looked for under the
account lock and backed by the ledger's unique key.

| kind | occasion | trigger |
| --- | --- | --- |
| sign-up | ``once`` | a live enrollment (portal sign-up, till): the ``member_enrolled`` hook |
| completed profile | ``once`` | first name, last name, email, phone and birth date all set |
|  |  | (``member_profile_is_complete``), at enrollment or any later save |
| referral, new member | ``once`` | ``referral_bonuses_grant_due``: the referred member's |
| referral, referrer | the referred member's id | first purchase is final (see below) |
| review | the normalised reference | staff mark it (``bonus_review_mark``) |
| birthday | the year | ``bonuses_grant_due``, in the program's time zone |
| anniversary | years since enrollment (1, 2, ...) | ``bonuses_grant_due`` |

The sign-up and profile bonuses are granted by receivers of the
``members.hooks`` that ``LoyaltyConfig.ready`` registers; they run inside the
enrollment's (or profile save's) transaction, so the member and the bonus
commit together. Staff, the till and the jobs call the services here.
``grants`` holds the settings and the granting, ``due`` the periodic jobs.

A bonus that is switched off grants nothing (and a later run does not make
up for it beyond the look-backs below); a bonus is never taken back.

Late runs. ``bonuses_grant_due`` looks back ``OCCASION_LOOKBACK_DAYS`` local
days (today included): a run that is up to six days late still grants every
birthday and anniversary of the days it missed. ``referral_bonuses_grant_due``
grants referrals whose qualifying purchase became final within the last
``REFERRAL_LOOKBACK_DAYS``. Entries are dated at the occasion (the start of
the local day, or the moment the purchase became final), so the ledger does
not depend on when, how often or how concurrently the jobs run.
"""

from loyalty.services.bonuses.due import (
    LIVE_SOURCES,
    OCCASION_LOOKBACK_DAYS,
    REFERRAL_LOOKBACK_DAYS,
    BonusRun,
    bonuses_grant_due,
    referral_bonuses_grant_due,
    referral_is_same_person,
)
from loyalty.services.bonuses.grants import (
    ONCE,
    BonusInactive,
    BonusPointsRequired,
    BonusSetting,
    ReviewAlreadyRewarded,
    ReviewReferenceRequired,
    action_bonuses_cache_clear,
    action_bonuses_get,
    action_bonuses_save,
    active_bonus,
    bonus_grant,
    bonus_grant_profile,
    bonus_hooks_register,
    bonus_key,
    bonus_review_mark,
    review_reference_normalise,
)

__all__ = [
    "LIVE_SOURCES",
    "OCCASION_LOOKBACK_DAYS",
    "ONCE",
    "REFERRAL_LOOKBACK_DAYS",
    "BonusInactive",
    "BonusPointsRequired",
    "BonusRun",
    "BonusSetting",
    "ReviewAlreadyRewarded",
    "ReviewReferenceRequired",
    "action_bonuses_cache_clear",
    "action_bonuses_get",
    "action_bonuses_save",
    "active_bonus",
    "bonus_grant",
    "bonus_grant_profile",
    "bonus_hooks_register",
    "bonus_key",
    "bonus_review_mark",
    "bonuses_grant_due",
    "referral_bonuses_grant_due",
    "referral_is_same_person",
    "review_reference_normalise",
]

"""What-if on history: the last 12 months of real purchases replayed through
the earning engine under a changed program, beside the current program.

``Scenario`` is the change (earn rate, point value, expiry months, one earning
rule changed, added or removed, tier thresholds); ``whatif_replay`` replays the
window ``[end - 12 months, end)`` (calendar days in the program's zone) twice,
with the current program ("actual") and with the change, and returns both
sets of figures and the ledger's own (``analytics.kpis``), so that the replay
of the current program can be checked against what really happened. It
writes nothing: it runs in a transaction that is rolled back, and the engine
it drives (``loyalty.rules.evaluate``, ``loyalty.ledger.engine.AccountLedger``,
``TierTable``'s decisions, the review's ``tier_review_member``, ``refund_apply``,
``earning_credit``) works on in-memory objects.

How a member is replayed
------------------------
Members are read in ascending id, ``BATCH_MEMBERS`` at a time; each stream of
a batch is read with ``.iterator(chunk_size=...)`` and only the batch's
events are held. For each member:

1. The opening state at the window's start: every ledger entry before it
   (earn, bonus, returned redemption and positive adjustment: credits;
   redemption and negative adjustment: debits; refund reversals) goes
   through one ``AccountLedger`` with the real settings, which releases and
   expires lots as they fell due. Both programs start from this state (lots
   earned before the window keep the real expiry). The tier held at the
   start is the last ``TierChange`` before it.
2. Then, in time order, for each program: each purchase of the window is
   evaluated by the engine with that program's earn rate, rules and tiers
   and the member's context as replayed so far (tier, stamps, first
   purchase, birthday, segments), capped by that program's caps, and
   credited as a pending lot expiring after that program's months; the tier
   moves up at once after it, as ``tier_upgrade_if_qualified`` decides.
   Refunds reverse ``floor(points x remaining / amount)`` of the replayed
   points. Bonuses, returned vouchers and adjustments are replayed as they
   happened. Redemptions are member decisions: the real redemption is kept,
   capped by the replayed available balance (a member cannot spend points
   the changed program would not have given them); a returned voucher gives
   back at most what the replay took. The periodic tier review runs at the
   instants it really ran (the times of the ledger's grace and review
   changes) and, for a month whose review left no such trace, at the beat
   schedule's instant (``review_instants``); a bonus that reaches a points
   tier moves the member up at once, as ``bonus_grant`` does; paid tiers and
   staff changes happen when they really happened.
3. At the end the account is settled to the window's end; the figures are
   summed: points earned (earn + bonus + reversal, as the KPI), redeemed
   (redeem - returned), expired, liability ((available + pending) x point
   value), breakage (expired / earned), and the tier mix at the end.

Known simplifications (in the README too)
-----------------------------------------
* The current program (settings, active rules, tiers) is taken to have been
  in force the whole window; a rule paused, archived or edited during the
  window, or settings changed, make the baseline replay differ from the
  ledger (the page shows the ledger's figures beside it).
* Segment membership is today's, not as it was at each purchase.
* Stamp cards start the window with the stamps the earn entries before it
  gave (modulo a card); stamps taken back by refunds before the window, and
  stamps of purchases made before the window that are refunded in it, are
  not counted.
* Caps: per-member caps count what the member's earn entries before the
  window gave; total budgets count what all earn entries before the window
  gave, then the replay in member order (as the bulk import counts them),
  not in strict time order.
* A paid tier's floor under a higher qualifying tier is not modelled.
* Manual adjustments, bonuses and redemptions are replayed as they were
  (redemptions capped by the replayed balance); they are not re-decided.
* Events of one member at the same instant are taken purchases first, then
  refunds, then other ledger entries.

Modules: ``scenario`` (the change and its checks), ``version`` (a program as the
engine needs it, current or changed), ``events`` (the batch's events, read),
``member`` (one member's replay), ``replay`` (``whatif_replay``, the totals) and
``result`` (the figures, and the comparison rows the page and the CSV show).
"""

from analytics.whatif.replay import BATCH_MEMBERS, WINDOW_MONTHS, whatif_replay, window_bounds
from analytics.whatif.result import (
    ROWS,
    Figures,
    Row,
    WhatIfResult,
    scenario_lines,
    scenario_lines_many,
    whatif_rows,
)
from analytics.whatif.scenario import (
    LABELS,
    NEVER,
    RULE_ACTIONS,
    RuleChange,
    Scenario,
    rule_change_snapshot,
    scenario_from_data,
)
from analytics.whatif.version import Version, version_changed, version_current

__all__ = [
    "BATCH_MEMBERS", "LABELS", "NEVER", "ROWS", "RULE_ACTIONS", "WINDOW_MONTHS", "Figures", "Row", "RuleChange",
    "Scenario", "Version", "WhatIfResult", "rule_change_snapshot", "scenario_from_data", "scenario_lines",
    "scenario_lines_many",
    "version_changed", "version_current", "whatif_replay", "whatif_rows", "window_bounds",
]

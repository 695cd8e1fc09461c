"""``/till/``: one search box, then record a purchase or a refund for the member.

A cashier sees only what the till needs: the member found, their balances
and their refundable purchases; no lists, no KPIs, no adjustments. Every page
works with the keyboard alone and without JavaScript; each form carries a
token drawn when it is shown, so sending it twice records it once.
"""


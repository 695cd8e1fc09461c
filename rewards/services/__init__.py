"""Writes of the rewards app: one function per business action.

* ``redemption``: ``reward_redeem`` (points for a voucher) and the checks it makes;
* ``vouchers``: ``voucher_check``, ``voucher_use``, ``voucher_cancel``, ``vouchers_expire_due``;
* ``gifts``: campaign vouchers and the vouchers of full stamp cards;
* ``waitlist``: joining, leaving and promoting an event's waitlist;
* ``throttle``: the wrong-code limit per cashier and API client;
* ``catalog``: rewards, charities, images and partner codes, as staff edit them;
* ``issue``: the voucher row every path above writes.
"""

"""The outbox has no admin registration of its own.

``DailyNotification`` is registered in ``delivery/admin.py``, next to its delivery
attempt inline and the retry/requeue actions, so that imports keep pointing one way
(delivery → outbox → accounts) and ``outbox`` never imports ``delivery``.
"""

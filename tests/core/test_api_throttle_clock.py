"""The throttle reads the clock at each request, whatever the clock was when DRF was imported."""

from __future__ import annotations

import datetime

from freezegun import freeze_time

from core.api.throttling import ApiClientRateThrottle


def test_the_throttle_reads_the_current_clock_at_each_request():
    frozen = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)

    with freeze_time(frozen):
        now = ApiClientRateThrottle().timer()

    # DRF's own timer is time.time as it was at import: a frozen clock would not reach it
    # (and a clock frozen at import would stay, as a method that cannot be called).
    assert now == frozen.timestamp()

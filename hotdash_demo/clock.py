"""Time as the demo shops write it: shop-local ISO-8601 timestamps under US daylight saving
time, version times that only move forward, and calendar months."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right

NAIVE_EPOCH = dt.datetime(1970, 1, 1)
UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def months_before(anchor: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day if shorter)."""
    y, m = divmod(anchor.year * 12 + anchor.month - 1 - months, 12)
    day = anchor.day
    while True:
        try:
            return anchor.replace(year=y, month=m + 1, day=day)
        except ValueError:
            day -= 1


def bump(prev: int, want: int, now: int) -> int:
    """A version time after ``prev`` (latest updated_at wins) that is not after ``now``."""
    sec = want if want > prev else prev + 1
    return now if sec > now else sec


def _dst_edges(std_hours: int, first_year: int, last_year: int) -> list[int]:
    """UTC epoch seconds where US daylight saving time starts and ends, alternating.

    Computed from the US rule instead of a tz database so that output does not depend on the
    machine's tzdata version.
    """
    edges: list[int] = []
    for y in range(first_year, last_year + 1):
        mar = dt.date(y, 3, 1)
        start_day = 1 + (6 - mar.weekday()) % 7 + 7
        nov = dt.date(y, 11, 1)
        end_day = 1 + (6 - nov.weekday()) % 7
        start = dt.datetime(y, 3, start_day, 2) - dt.timedelta(hours=std_hours)
        end = dt.datetime(y, 11, end_day, 2) - dt.timedelta(hours=std_hours + 1)
        edges.append(int((start - NAIVE_EPOCH).total_seconds()))
        edges.append(int((end - NAIVE_EPOCH).total_seconds()))
    return edges


def _offset_suffix(hours: int) -> str:
    return f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00"


class ShopClock:
    """A shop's time zone: ``std_hours`` from UTC in winter, one hour more in summer."""

    __slots__ = ("_dst_off", "_dst_sfx", "_edges", "_std_off", "_std_sfx")

    def __init__(self, std_hours: int, start_sec: int, end_sec: int) -> None:
        self._std_off = std_hours * 3600
        self._dst_off = (std_hours + 1) * 3600
        self._std_sfx = _offset_suffix(std_hours)
        self._dst_sfx = _offset_suffix(std_hours + 1)
        # Customers and products may be created years before the window starts.
        first_year = dt.datetime.fromtimestamp(start_sec, dt.UTC).year - 6
        last_year = dt.datetime.fromtimestamp(end_sec, dt.UTC).year + 1
        self._edges = _dst_edges(std_hours, first_year, last_year)

    def ts(self, sec: int) -> str:
        """Shop-local ISO-8601 timestamp with offset, as Shopify renders it."""
        if bisect_right(self._edges, sec) & 1:
            return (NAIVE_EPOCH + dt.timedelta(seconds=sec + self._dst_off)).isoformat() + (
                self._dst_sfx
            )
        return (NAIVE_EPOCH + dt.timedelta(seconds=sec + self._std_off)).isoformat() + (
            self._std_sfx
        )

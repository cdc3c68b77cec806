"""The calendar and clock categories (training/data/gen/calendar_clock.py) re-solved from the question
text alone with `datetime` and `calendar`: dates, weekdays, years, times, durations and clock offsets
are read back from the words, independently of the generator's month-by-month walk."""

import calendar
import datetime as dt
import re

from v3_data import records, rows

MONTHS = list(calendar.month_name)[1:]
DATE = re.compile(r"(" + "|".join(MONTHS) + r") (\d{1,2}), (\d{4})")
TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?: (am|pm))?")
DURATION = re.compile(r"(?:takes|for|needs|took|of|it) (\d+ (?:hours?|minutes?)(?: \d+ minutes?)?)")


def dates(q: str) -> list[dt.date]:
    return [dt.date(int(y), MONTHS.index(m) + 1, int(d)) for m, d, y in DATE.findall(q)]


def solve_calendar(q: str) -> str:
    if re.search(r"leap|29th day|February 29\?", q):
        years = [int(y) for y in re.findall(r"\b(\d{4})\b", q)]
        if len(years) == 2:
            return str(sum(calendar.isleap(y) for y in range(years[0], years[1] + 1)))
        return "yes" if calendar.isleap(years[0]) else "no"
    ds = dates(q)
    if re.search(r"day of the week|weekday", q):
        known, target = ds
        given = re.search(r"(?:is|was) an? (\w+day)|falls on an? (\w+day)", q)
        assert known.strftime("%A") in given.groups(), q  # the weekday the question gives is the real one
        return target.strftime("%A")
    shift = re.search(r"(\d+) days (after|before|forward|back)", q)
    if shift:
        n = int(shift.group(1)) * (-1 if shift.group(2) in ("before", "back") else 1)
        d = ds[0] + dt.timedelta(days=n)
        return f"{MONTHS[d.month - 1]} {d.day}"
    return str((ds[1] - ds[0]).days)


def minutes(h: str, m: str, half: str) -> int:
    if half:
        return dt.datetime.strptime(f"{h}:{m} {half.upper()}", "%I:%M %p").hour * 60 + int(m)
    return int(h) * 60 + int(m)


def span(text: str) -> int:
    h = re.search(r"(\d+) hours?", text)
    m = re.search(r"(\d+) minutes?", text)
    return (int(h.group(1)) * 60 if h else 0) + (int(m.group(1)) if m else 0)


def solve_clock(q: str) -> str:
    times = [minutes(*t) for t in TIME.findall(q)]
    base = dt.datetime(2001, 5, 5) + dt.timedelta(minutes=times[0])
    if re.search(r"[Hh]ow many minutes", q):
        return str((times[1] - times[0]) % 1440)
    dur = DURATION.search(q)
    delta = dt.timedelta(minutes=span(dur.group(1)) if dur else 0)
    if re.search(r"before|arrives|finished", q):
        delta = -delta
    offset = re.search(r"(\d+) hours? (ahead of|behind)", q)
    if offset:
        delta += dt.timedelta(hours=int(offset.group(1))) * (1 if offset.group(2) == "ahead of" else -1)
    end = base + delta
    if "12-hour" in q:
        return end.strftime("%I:%M %p").lstrip("0").lower()
    return end.strftime("%H:%M")


def test_every_calendar_answer_matches_datetime():
    for rid, q, answer, _ in records("calendar"):
        assert answer == solve_calendar(q), (rid, q, answer)


def test_every_clock_answer_matches_datetime():
    for rid, q, answer, _ in records("clock"):
        assert answer == solve_clock(q), (rid, q, answer)


def test_hard_clock_traces_cross_midnight():
    hard = [r for r in rows("clock") if r["split"] == "train" and r["difficulty"] == "hard"]
    assert hard
    assert not [r["id"] for r in hard if "day" not in r["reasoning"] and "midnight" not in r["reasoning"]]

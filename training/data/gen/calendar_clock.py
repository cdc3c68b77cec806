"""Calendars and clocks: weekdays from a known weekday, days between dates, the date N days away, leap
years; clock times after adding or taking away a duration, minutes between two times, time zones.

Teaches month lengths and carrying across month ends, whole weeks falling away (days mod 7), the leap
year rule, and clock arithmetic with carries and borrows of 60 minutes and 24 hours (midnight) and the
12-hour form. Answers come from `datetime` at generation time; the trace walks month by month or hour
by hour in small checkable claims (bigger sums broken down by place value), and for a number answer
its last claim gives the answer."""

from __future__ import annotations

import calendar
import datetime as dt

from gen.common import MONTHS, NAMES, WEEKDAYS, num, pick
from gen.steps import say

SECTION = "calendar"


# --- calendar ------------------------------------------------------------------------------------

def _date(d: dt.date, year: bool = True) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}" + (f", {d.year}" if year else "")


def _month_len(y: int, m: int) -> int:
    return calendar.monthrange(y, m)[1]


def _feb_note(y: int, m: int) -> str:
    if m != 2:
        return ""
    return f" ({y} is a leap year)" if calendar.isleap(y) else f" ({y} is not a leap year)"


def _between(a: dt.date, b: dt.date) -> list[str]:
    """Lines counting the days from a to b (a < b), month by month; the last claim is the total."""
    if (a.year, a.month) == (b.year, b.month):
        return [f"Both dates are in {MONTHS[a.month - 1]}: {say(b.day, '-', a.day)} days."]
    n = _month_len(a.year, a.month)
    lines = [f"{MONTHS[a.month - 1]} {a.year} has {n} days{_feb_note(a.year, a.month)}, so from {_date(a, False)} "
             f"to {MONTHS[a.month - 1]} {n} is {say(n, '-', a.day)} days."]
    total = n - a.day
    y, m = (a.year + a.month // 12, a.month % 12 + 1)
    while (y, m) != (b.year, b.month):
        n = _month_len(y, m)
        lines.append(f"All of {MONTHS[m - 1]} {y}: {n} more days{_feb_note(y, m)}, {say(total, '+', n)}.")
        total += n
        y, m = (y + m // 12, m % 12 + 1)
    lines.append(f"Then {b.day} more days to reach {_date(b, False)}: {say(total, '+', b.day)}.")
    return lines


def _shift(a: dt.date, n: int, forward: bool) -> list[str]:
    """Lines walking n days forward or back from a, a month end at a time."""
    if forward:
        room = _month_len(a.year, a.month) - a.day
        if n <= room:
            return [f"{MONTHS[a.month - 1]} has room: {say(a.day, '+', n)}, so it is {MONTHS[a.month - 1]} {a.day + n}."]
        ml = _month_len(a.year, a.month)
        lines = [f"{MONTHS[a.month - 1]} {a.year} has {ml} days{_feb_note(a.year, a.month)}: {say(ml, '-', a.day)} days "
                 f"reach {MONTHS[a.month - 1]} {ml}, leaving {say(n, '-', room)}."]
        left, y, m = n - room, a.year + a.month // 12, a.month % 12 + 1
        while left > _month_len(y, m):
            ml = _month_len(y, m)
            lines.append(f"{MONTHS[m - 1]} {y} has {ml} days{_feb_note(y, m)}: after {MONTHS[m - 1]} {ml}, "
                         f"{say(left, '-', ml)} are left.")
            left, y, m = left - ml, y + m // 12, m % 12 + 1
        return lines + [f"The last {left} days go into {MONTHS[m - 1]}: {MONTHS[m - 1]} {left}."]
    if n < a.day:
        return [f"Stay in {MONTHS[a.month - 1]}: {say(a.day, '-', n)}, so it is {MONTHS[a.month - 1]} {a.day - n}."]
    y, m = (a.year, a.month - 1) if a.month > 1 else (a.year - 1, 12)
    lines = [f"Going back {a.day} days from {_date(a, False)} reaches the last day of {MONTHS[m - 1]}, "
             f"leaving {say(n, '-', a.day)}."]
    left = n - a.day
    while left >= _month_len(y, m):
        ml = _month_len(y, m)
        lines.append(f"{MONTHS[m - 1]} {y} has {ml} days{_feb_note(y, m)}: going back all of it leaves "
                     f"{say(left, '-', ml)}.")
        left = left - ml
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    ml = _month_len(y, m)
    return lines + [f"{MONTHS[m - 1]} {y} has {ml} days{_feb_note(y, m)}: back {left} from {MONTHS[m - 1]} {ml} "
                    f"is {say(ml, '-', left)}, so {MONTHS[m - 1]} {ml - left}."]


def _pair(rng, d: str) -> tuple[dt.date, dt.date]:
    """Two dates, a before b; harder: more month ends between them, a February, a new year."""
    gap = {"easy": (3, 25), "medium": (26, 80), "hard": (81, 200)}[d]
    year = rng.randint(1990, 2030)
    if d == "hard" and rng.random() < 0.5:
        start = dt.date(year, rng.choice((10, 11, 12)), 1) if rng.random() < 0.5 else dt.date(year, 1, 1)
    else:
        start = dt.date(year, 1, 1)
    a = start + dt.timedelta(days=rng.randint(0, 300 if start.month == 1 else 60))
    return a, a + dt.timedelta(days=rng.randint(*gap))


def _weekday_count(start: str, r: int, forward: bool) -> str:
    i = WEEKDAYS.index(start)
    seq = [WEEKDAYS[(i + (k if forward else -k)) % 7] for k in range(1, r + 1)]
    return ", ".join(f"{w} ({k})" for k, w in enumerate(seq, start=1))


def calendar_question(rng, d):
    kind = pick(rng, ("weekday", "between", "shift", "leap"))
    name = pick(rng, NAMES)
    if kind == "leap":
        return _leap(rng, d)
    a, b = _pair(rng, d)
    n = (b - a).days
    if kind == "between":
        q = pick(rng, (f"How many days after {_date(a)} is {_date(b)}?",
                       f"{name} marks {_date(a)} on a calendar. How many days later is {_date(b)}?",
                       f"Counting from {_date(a)} to {_date(b)}, how many days pass?"))
        q += pick(rng, (" Answer with a number.", " Give a number.", " Reply with a number of days."))
        lines = _between(a, b)
        return q, lines + [f"So the answer is {n}."], num(n)
    back = d == "hard" and rng.random() < 0.5
    if kind == "shift":
        frm, to = (b, a) if back else (a, b)
        word = "before" if back else "after"
        q = pick(rng, (f"What date is {n} days {word} {_date(frm)}?",
                       f"{name} counts {n} days {'back' if back else 'forward'} from {_date(frm)}. Which date is reached?",
                       f"Which date comes {n} days {word} {_date(frm)}?"))
        q += pick(rng, (" Answer with the month name and the day number.", " Give the month and day.",
                        " Reply with a month and a day."))
        ans = _date(to, False)
        return q, _shift(frm, n, not back) + [f"So the answer is {ans}."], ans
    known, target = (b, a) if back else (a, b)
    wk, wt = WEEKDAYS[known.weekday()], WEEKDAYS[target.weekday()]
    q = pick(rng, (f"{_date(known)} is a {wk}. What day of the week is {_date(target)}?",
                   f"{name} knows that {_date(known)} falls on a {wk}. On which day of the week does {_date(target)} fall?",
                   f"If {_date(known)} was a {wk}, what weekday was {_date(target)}?"))
    q += pick(rng, (" Answer with the day of the week.", " Give the weekday.", " Reply with a weekday name."))
    lines = [f"First count the days from {_date(a, False)} to {_date(b, False)}."] + _between(a, b)
    w, r = divmod(n, 7)
    if w:
        steps, left = [], n
        for part in (w - w % 10, w % 10):  # tens of weeks, then single weeks
            if part:
                steps.append(f"{say(7, '×', part)}, {say(left, '-', 7 * part)}")
                left -= 7 * part
        lines.append(f"Whole weeks do not change the weekday, so take them away: {'; '.join(steps)}. "
                     f"That leaves {r} day{'s' * (r != 1)}.")
    else:
        lines.append(f"That is less than a week: {r} days.")
    if r == 0:
        lines.append(f"No days are left over, so it is the same weekday, {wt}.")
    else:
        lines.append(f"Count {r} days {'back' if back else 'on'} from {wk}: {_weekday_count(wk, r, not back)}.")
    return q, lines + [f"So the answer is {wt}."], wt


def _leap_check(y: int) -> list[str]:
    """Why y is or is not a leap year, by the last two digits (or, for a century, the first two)."""
    if y % 100:
        t = y % 100
        w, r = divmod(t, 4)
        why = (f"{say(4, '×', w)}, so {t} is a multiple of 4" if r == 0 else
               f"{say(4, '×', w)} and {say(t, '-', 4 * w)} is left over, so {t} is not a multiple of 4")
        return [f"{y} is not a century year, so it is a leap year exactly when its last two digits, {t}, "
                f"make a multiple of 4: {why}."]
    h = y // 100
    w, r = divmod(h, 4)
    why = (f"{say(4, '×', w)}, a multiple of 4" if r == 0 else f"{say(4, '×', w)} and {say(h, '-', 4 * w)} is left over")
    return [f"{y} is a century year, so it must divide by 400, which means {h} must be a multiple of 4: {why}."]


def _leap(rng, d):
    if d != "hard":
        y = rng.randint(1601, 2400) if d == "easy" else rng.choice((rng.randint(16, 24) * 100, rng.randint(1601, 2400)))
        if d == "easy" and y % 100 == 0:
            y += rng.randint(1, 99)
        q = pick(rng, (f"Is {y} a leap year?", f"Does February {y} have a 29th day?",
                       f"Would a calendar for the year {y} include February 29?"))
        q += pick(rng, (" Answer yes or no.", " Reply with yes or no.", " Give yes or no."))
        ans = "yes" if calendar.isleap(y) else "no"
        lines = ["Leap years are the multiples of 4, except century years, which must be multiples of 400."]
        lines += _leap_check(y)
        return q, lines + [f"So {y} is {'' if ans == 'yes' else 'not '}a leap year, and the answer is {ans}."], ans
    while True:
        y1 = rng.randint(1601, 2380)
        y2 = y1 + rng.randint(12, 40)
        years = [y for y in range(y1, y2 + 1) if y % 4 == 0]
        if any(y % 100 == 0 for y in years) or rng.random() < 0.4:
            break
    count = sum(1 for y in range(y1, y2 + 1) if calendar.isleap(y))
    name = pick(rng, NAMES)
    q = pick(rng, (f"How many leap years are there from {y1} to {y2}, counting both?",
                   f"{name} lists every leap year from {y1} through {y2}. How many years are on the list?",
                   f"Between {y1} and {y2} inclusive, how many years are leap years?"))
    q += pick(rng, (" Answer with a number.", " Give a number.", " Reply with a number."))
    lines = ["Leap years are the multiples of 4, except century years, which must be multiples of 400.",
             f"The multiples of 4 from {y1} to {y2}: {', '.join(map(str, years))}. That is {len(years)} years."]
    for y in years:
        if y % 100 == 0:  # in words only: a claim here would come after the count's last claim
            ok = y % 400 == 0
            lines.append(f"{y} is a century year, so it must divide by 400: {y // 100} is "
                         f"{'' if ok else 'not '}a multiple of 4, so {y} {'stays' if ok else 'is not'} a leap year.")
            if not ok:
                lines.append(f"Take it away: {len(years)} - 1 = {len(years) - 1}.")
    assert count == len(years) - sum(1 for y in years if y % 100 == 0 and y % 400)
    return q, lines + [f"So the answer is {count}."], num(count)


# --- clock ---------------------------------------------------------------------------------------

def _hm(t: int) -> str:
    """Minutes after midnight as 24-hour hh:mm."""
    return f"{t // 60 % 24:02d}:{t % 60:02d}"


def _ampm(t: int) -> str:
    h, m = t // 60 % 24, t % 60
    return f"{(h - 1) % 12 + 1}:{m:02d} {'am' if h < 12 else 'pm'}"


def _to_12(t: int) -> str:
    """A line turning a 24-hour time into the 12-hour form."""
    h = t // 60 % 24
    if h == 0:
        return f"{_hm(t)} is in the hour after midnight, which the 12-hour clock calls 12: {_ampm(t)}."
    if h < 12:
        return f"{_hm(t)} is before noon: {_ampm(t)}."
    if h == 12:
        return f"{_hm(t)} is in the hour after noon: {_ampm(t)}."
    return f"{_hm(t)} is after noon: {h} - 12 = {h - 12}, so {_ampm(t)}."


def _from_12(t: int) -> list[str]:
    h = t // 60
    if h == 0:
        return [f"{_ampm(t)} is in the hour after midnight, so it is {_hm(t)}."]
    if h < 12:
        return []
    if h == 12:
        return [f"{_ampm(t)} is in the hour after noon, so it is {_hm(t)}."]
    return [f"{_ampm(t)} is after noon: {h - 12} + 12 = {h}, so it is {_hm(t)}."]


def _dur(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    hs = f"{h} hour{'s' * (h != 1)}" if h else ""
    ms = f"{m} minute{'s' * (m != 1)}" if m else ""
    return " ".join(x for x in (hs, ms) if x)


def _plus(t: int, dur: int, sign: int, tell: bool = False) -> list[str]:
    """Lines adding (sign 1) or taking away (sign -1) a duration, minutes first, then hours, with the
    carry or borrow of an hour and of a day at midnight."""
    h, m = divmod(t, 60)
    dh, dm = divmod(dur, 60)
    lines, carry = [], 0
    if dm and sign > 0:
        s = m + dm
        lines.append(f"Minutes: {say(m, '+', dm)}." + (f" That is a full hour and {say(s, '-', 60)} minute{'s' * (s != 61)}, so carry 1 hour."
                                                     if s >= 60 else ""))
        carry, m = s // 60, s % 60
    elif dm:
        if m >= dm:
            lines.append(f"Minutes: {say(m, '-', dm)}.")
            m -= dm
        else:
            lines.append(f"Minutes: {m} is less than {dm}, so borrow 1 hour: {say(m, '+', 60)}, and "
                         f"{say(m + 60, '-', dm)}.")
            carry, m = -1, m + 60 - dm
    if dh or carry:
        change = dh * sign + carry
        expr = f"{h} {'+' if sign > 0 else '-'} {dh}" if dh else f"{h}"
        if carry:
            expr += f" {'+' if carry > 0 else '-'} 1"
        nh = h + change
        if 0 <= nh < 24:
            lines.append(f"Hours: {expr} = {nh}.")
        elif nh >= 24:
            lines.append(f"Hours: {expr} = {nh}, which is past midnight: {nh} - 24 = {nh - 24}, the next day.")
        else:
            lines.append(f"Hours: {h} is too few to take away {-change}, so go back past midnight to the day "
                         f"before: {h} + 24 = {h + 24}, and {h + 24} - {-change} = {nh + 24}.")
        h = nh % 24
    else:
        lines.append(f"The hour stays {h}.")
    assert h * 60 + m == (t + sign * dur) % 1440
    return lines + ([f"That makes it {_hm(h * 60 + m)}."] if tell else [])


def _elapsed(t1: int, t2: int) -> list[str]:
    """Minutes from t1 to t2 (t2 later, maybe the next day): to the next full hour, whole hours, the
    rest; the last claim is the total."""
    if t2 <= t1:
        t2 += 1440
    if t1 // 60 == t2 // 60:
        return [f"Both times are in the same hour: {say(t2 % 60, '-', t1 % 60)} minutes."]
    parts, lines = [], []
    h1 = t1 // 60 + (1 if t1 % 60 else 0)
    if t1 % 60:
        lines.append(f"From {_hm(t1)} to {_hm(h1 * 60)}: {say(60, '-', t1 % 60)} minutes.")
        parts.append(60 - t1 % 60)
    h2 = t2 // 60
    if h2 > h1:
        hours = h2 - h1
        over = f" (after midnight the hours go on as 24, 25, ..., so {h1} to {h2})" if h2 >= 24 else ""
        lines.append(f"From {_hm(h1 * 60)} to {_hm(h2 * 60)}{over}: {say(h2, '-', h1)} hours, and {say(hours, '×', 60)} minutes.")
        parts.append(hours * 60)
    if t2 % 60:
        lines.append(f"From {_hm(h2 * 60)} to {_hm(t2)}: {t2 % 60} minutes.")
        parts.append(t2 % 60)
    if len(parts) > 1:
        steps, acc = [], parts[0]
        for p in parts[1:]:
            steps.append(say(acc, '+', p))
            acc += p
        lines.append("Add the pieces: " + "; ".join(steps) + ".")
    return lines


FORM24 = (" Answer as 24-hour hh:mm.", " Use 24-hour hh:mm.", " Reply in 24-hour hh:mm form.")
FORM12 = (" Use the 12-hour form with am or pm.", " Answer like a 12-hour clock, with am/pm.")


def clock(rng, d):
    kind = pick(rng, ("later", "earlier", "elapsed", "zone"))
    name = pick(rng, NAMES)
    twelve = d != "easy" and rng.random() < 0.35  # times written and asked in the 12-hour form
    show = _ampm if twelve else _hm
    while True:
        t, dur = rng.randint(0, 1439), {"easy": rng.randint(5, 55), "medium": rng.randint(65, 420),
                                        "hard": rng.randint(65, 600)}[d]
        end = t + dur if kind != "earlier" else t - dur
        if dur % 60 and (0 <= end < 1440) != (d == "hard"):
            break
    form = " " + (pick(rng, FORM12) if twelve else pick(rng, FORM24)).strip()
    lines = _from_12(t) if twelve else []
    if kind == "elapsed":
        t2 = end % 1440
        lines += _from_12(t2) if twelve else []
        q = pick(rng, (f"How many minutes pass from {show(t)} to {show(t2)}{' the next day' if d == 'hard' else ''}?",
                       f"{name} fell asleep at {show(t)} and woke up at {show(t2)}"
                       f"{' the next morning' if d == 'hard' else ''}. For how many minutes did {name} sleep?",
                       f"{name}'s shop opens at {show(t)} and closes at {show(t2)}"
                       f"{' after midnight' if d == 'hard' else ''}. For how many minutes is {name}'s shop open?"))
        q += pick(rng, (" Answer with a number.", " Give a number of minutes.", " Reply with a number."))
        return q, lines + _elapsed(t, t2) + [f"So the answer is {dur}."], num(dur)
    if kind == "zone":
        ahead = rng.choice((True, False))
        off = rng.randint(1, 9 if d != "easy" else 5)
        other = pick(rng, [n for n in NAMES if n != name])
        rel = f"{off} hour{'s' * (off > 1)} {'ahead of' if ahead else 'behind'}"
        if d == "hard":  # a flight: the duration, then the other town's clock
            land = t + dur
            q = pick(rng, (f"{name} flies out of {other}'s home town at {show(t)} local time. The flight takes "
                           f"{_dur(dur)}, and the clocks where {name} lands are {rel} those of {other}'s town. "
                           f"What do the clocks show when {name} lands?",
                           f"A plane leaves {name}'s town at {show(t)} and flies for {_dur(dur)} to {other}'s town, "
                           f"whose clocks are {rel} {name}'s. What is the local time on arrival?"))
            lines += ["First the landing time by the clocks of the starting town."] + _plus(t, dur, 1, True)
            lines.append(f"The other clocks are {rel}, so {'add' if ahead else 'take away'} {_dur(off * 60)}.")
            lines += _plus(land % 1440, off * 60, 1 if ahead else -1)
            ans_t = land + (off if ahead else -off) * 60
        else:
            q = pick(rng, (f"{other}'s clocks are {rel} {name}'s clocks. When it is {show(t)} for {name}, what "
                           f"time is it for {other}?",
                           f"In {name}'s town it is {show(t)}. {other}'s town keeps clocks {rel} {name}'s. "
                           f"What time is it in {other}'s town?"))
            lines.append(f"The other clocks are {rel}, so {'add' if ahead else 'take away'} {_dur(off * 60)}.")
            lines += _plus(t, off * 60, 1 if ahead else -1)
            ans_t = t + (off if ahead else -off) * 60
        if d != "hard" and not 0 <= ans_t < 1440:
            return clock(rng, d)  # easy and medium stay within one day
    else:
        later = kind == "later"
        q = pick(rng, (f"{name}'s film starts at {show(t)} and runs for {_dur(dur)}. When does it end?",
                       f"{name} puts bread in the oven at {show(t)}; it needs {_dur(dur)}. When is it done?",
                       f"What time is it {_dur(dur)} after {show(t)}?") if later else
                 (f"{name}'s train arrives at {show(t)} after a trip of {_dur(dur)}. When did it leave?",
                  f"{name} finished a bike ride at {show(t)}; it took {_dur(dur)}. When did {name} set off?",
                  f"What time was it {_dur(dur)} before {show(t)}?"))
        lines += _plus(t, dur, 1 if later else -1)
        ans_t = end
    ans = _ampm(ans_t) if twelve else _hm(ans_t)
    if twelve:
        lines.append(_to_12(ans_t % 1440))
    return q + form, lines + [f"So the answer is {ans}."], ans


CATEGORIES = {"calendar": calendar_question, "clock": clock}

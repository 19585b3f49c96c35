"""Schemathesis hooks for the contract run (tests/contract/run.sh).

The OpenAPI document states every rule JSON Schema can state: shapes,
enumerations, lengths, which fields go together. A few rules are about
time itself, which a schema cannot express:

- a time may not lie more than 5 minutes ahead of now;
- an ISO week's, a month's or a quarter's report exists only once it has
  ended;
- a local time (``YYYY-MM-DD HH:MM``) must exist exactly once in the
  force's time zone (not skipped or repeated by a clock change);
- within one request, child access comes no earlier than receipt, and a
  referral no earlier than child access.

These hooks keep generated values on the right side of those rules, so
that the run tests everything else with data the server must accept. Each
rule's refusal is tested by the Rust suite (tests/it/api.rs and the domain's
unit tests), not here. Values the hooks do not recognise as well-formed
times pass through untouched, so negative cases stay negative.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import schemathesis

FORCE_TIME_ZONE = ZoneInfo("Europe/London")
RFC3339 = re.compile(r"^(\s*)(20\d\d)(-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d))(\s*)$")
LOCAL = re.compile(r"^(\s*)(20\d\d)(-\d\d-\d\d) (\d\d)(:\d\d(?::\d\d)?)(\s*)$")
WEEK = re.compile(r"^(\s*)(20\d\d)-([Ww])(\d\d)(\s*)$")
MONTH = re.compile(r"^(\s*)(20\d\d)-(\d\d)(\s*)$")
QUARTER = re.compile(r"^(\s*)(20\d\d)-([Qq])([1-4])(\s*)$")
# Years with an ISO week 53, for a week-53 value moved into the past.
YEARS_WITH_WEEK_53 = (2004, 2009, 2015)


def _past_year(year: int) -> int:
    """A year from 2000 to 2019 with the same leap-ness (so 29 February stays valid)."""
    return 2000 + year % 20


def _instant(text: str) -> dt.datetime | None:
    """The UTC instant `text` names, when it is a well-formed time."""
    if m := RFC3339.match(text):
        value = (m.group(2) + m.group(3)).upper().replace(" ", "T").replace("Z", "+00:00")
        try:
            return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)
        except ValueError:
            return None
    if m := LOCAL.match(text):
        try:
            naive = dt.datetime.fromisoformat(f"{m.group(2)}{m.group(3)} {m.group(4)}{m.group(5)}")
        except ValueError:
            return None
        return naive.replace(tzinfo=FORCE_TIME_ZONE).astimezone(dt.timezone.utc)
    return None


def _exists_once(text: str) -> bool:
    """Whether a local time exists exactly once in the force's time zone."""
    m = LOCAL.match(text)
    if not m:
        return True
    naive = dt.datetime.fromisoformat(f"{m.group(2)}{m.group(3)} {m.group(4)}{m.group(5)}")
    early = naive.replace(tzinfo=FORCE_TIME_ZONE, fold=0)
    late = naive.replace(tzinfo=FORCE_TIME_ZONE, fold=1)
    round_trip = early.astimezone(dt.timezone.utc).astimezone(FORCE_TIME_ZONE).replace(tzinfo=None)
    return early.utcoffset() == late.utcoffset() and round_trip == naive


def _in_the_past(text):
    """`text` moved into the past (and off a clock change) when it is a future time."""
    if not isinstance(text, str):
        return text
    instant = _instant(text)
    if instant is None:
        return text
    if instant > dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1):
        pattern = RFC3339 if RFC3339.match(text) else LOCAL
        m = pattern.match(text)
        text = text[: m.start(2)] + str(_past_year(int(m.group(2)))) + text[m.end(2) :]
    if not _exists_once(text):
        m = LOCAL.match(text)
        text = text[: m.start(4)] + "12" + text[m.end(4) :]
    return text


def _in_order(body: dict, earlier: str, later: str) -> None:
    """Swaps two times in `body` when the later one comes first."""
    first, second = _instant_of(body.get(earlier)), _instant_of(body.get(later))
    if first is not None and second is not None and second < first:
        body[earlier], body[later] = body[later], body[earlier]


def _instant_of(value):
    return _instant(value) if isinstance(value, str) else None


TIME_FIELDS = ("received_at", "child_access_identified_at", "referral_made_at", "at", "reviewed_at")


@schemathesis.hook
def map_body(ctx, body):
    """Times in request bodies: in the past, and in order within one request."""
    if not isinstance(body, dict):
        return body
    for field in TIME_FIELDS:
        if field in body:
            body[field] = _in_the_past(body[field])
    _in_order(body, "received_at", "child_access_identified_at")
    _in_order(body, "child_access_identified_at", "referral_made_at")
    return body


def _ended_month_or_quarter(query: dict) -> None:
    """A month or quarter asked for that has not ended: the same one in a
    past year."""
    for key, pattern, first_month in (
        ("month", MONTH, lambda m: int(m.group(3))),
        ("quarter", QUARTER, lambda m: 3 * int(m.group(4)) - 2),
    ):
        value = query.get(key)
        m = pattern.match(value) if isinstance(value, str) else None
        if not m or not 1 <= first_month(m) <= 12:
            continue
        year, month = int(m.group(2)), first_month(m) + (0 if key == "month" else 2)
        ends = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=FORCE_TIME_ZONE)
        if ends > dt.datetime.now(dt.timezone.utc):
            query[key] = value[: m.start(2)] + str(_past_year(year)) + value[m.end(2) :]


@schemathesis.hook
def map_query(ctx, query):
    """An ISO week, month or quarter asked for: one that has ended."""
    if isinstance(query, dict):
        _ended_month_or_quarter(query)
    if not isinstance(query, dict) or not isinstance(query.get("week"), str):
        return query
    m = WEEK.match(query["week"])
    if not m:
        return query
    year, number = int(m.group(2)), int(m.group(4))
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        return query
    ends = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), FORCE_TIME_ZONE)
    if ends > dt.datetime.now(dt.timezone.utc):
        year = YEARS_WITH_WEEK_53[year % 3] if number == 53 else _past_year(year)
        query["week"] = f"{m.group(1)}{year}-{m.group(3)}{m.group(4)}{m.group(5)}"
    return query

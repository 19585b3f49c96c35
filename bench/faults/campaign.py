#!/usr/bin/env python3
"""A repeatable fault campaign against the release binary of ocset-scheduler.

Each scenario starts the real `serve` (target/release/ocset-scheduler) on
loopback against its own database and a mail server in this process (an
aiosmtpd sink that can go down, answer 451 or 550, and records every
message it accepts), does something nasty, and measures what reached the
sink against what the seeded ledger owes:

  kills-sqlite, kills-postgres
      kill -9 at random moments during delivery (KILLS times, 30 by
      default), restarting each time, then a final drain: lost lines,
      duplicated lines, and resends per kill beside the messages that were
      in flight (claimed, and accepted by the sink but not yet marked sent).
  smtp
      the mail server down then up, then answering 451, then 550 for one
      address: transient failures are retried and delivered without a
      restart; the rejected address's message is dead and counted.
  replicas
      two `serve` processes on one PostgreSQL database, packages arriving
      through both APIs: no line sent twice.
  rolling
      three `serve` replicas on one PostgreSQL database under a steady load
      of packages falling due (imported with instants spread over the run,
      and posted through the replicas' APIs), a rolling restart of all
      three (SIGTERM, exit status 0, restart, /readyz) and a kill -9 of
      one, then a drain: nothing lost, nothing duplicated, resends only for
      what was in flight at the kill; and a daily digest whose local time
      (Europe/London) falls during the restarts arrives once per recipient.
  migrate-together
      three `serve` replicas started at the same instant on a fresh empty
      PostgreSQL database (ROUNDS times): all ready, each migration applied
      once, none failed; then an older binary's view of a newer schema
      (a migration it does not know recorded as applied): the running
      replicas stay ready, a restarting one refuses to start. The same
      start on one SQLite file is reported, not expected to succeed.
  pg-refusing
      PostgreSQL refusing connections (ALLOW_CONNECTIONS false and its
      sessions terminated) while the API is polled: only 503 (with
      Retry-After) among the 5xx, and recovery without a restart.
  sqlite-full
      SQLite on a tmpfs that is filled up: /readyz 503 while writes fail,
      a bounded log, recovery without a restart once there is room, nothing
      lost.

Truth. Every package the campaign seeds owes exactly one escalation line
to each of a known set of recipients (the campaign writes its own
configuration, so it knows the ladder): a `warning` (75% of a 48 h
timescale, to the assigned officer and the LPA's sergeants) or a `breach`
(to the sergeants and the inspector). A line is (recipient, reference,
kind). A message is identified by its recipient and the set of its lines
(its Message-ID is made afresh at each send, so it cannot tell a resend).
  lost        a line owed and never received
  duplicated  a line received in two different messages
  resends     a message received again (same recipient, same lines)

Usage: bench/faults/run.sh [SCENARIO...]   (all by default; see --help)
KILLS, WAVES, ROUNDS and SEED set the counts and the random seed; KEEP=1 keeps
each scenario's folder (configuration, CSV files, the service's JSON logs).
Needs: root (tmpfs mount for sqlite-full), PostgreSQL at
127.0.0.1:5432 with trust authentication (or OCSET_TEST_POSTGRES_URL),
psql, Python 3.11 and aiosmtpd. Loopback only; every scenario is bounded
and cleans up after itself (processes, mounts, databases).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email
import email.policy
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("OCSET_BIN", ROOT / "target/release/ocset-scheduler"))
PG_URL = os.environ.get("OCSET_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

# The campaign's delivery settings: a short lease so that messages a killed
# process held are taken over within the run, and short retries so that an
# outage's retries come within seconds (the shipped defaults are a 300 s
# lease and retries after 30 s, 1, 2, 4... min). Everything else is as shipped.
LEASE_SECONDS = 3
RETRY_BASE_SECONDS = 1
RETRY_MAX_SECONDS = 4
MAX_ATTEMPTS = 8
BATCH = 50
# src/outbox/dispatcher.rs: CONCURRENT_SENDS, the sends under way at once.
CONCURRENT_SENDS = 8

SERGEANTS = "sergeants@campaign.example"
SOUTH_SERGEANTS = "south.sergeants@campaign.example"
INSPECTOR = "inspector@campaign.example"

CONFIG = f"""
# Written by bench/faults/campaign.py for one scenario.
[force]
name = "Fault Campaign"
time_zone = "Europe/London"
lpas = ["North", "South"]

[database]
url = "set by OCSET__DATABASE__URL"
max_connections = 5

[timescales]
very_high = "48h"
high = "7d"
medium = "21d"
standard = "60d"

[[escalation.levels]]
name = "warning"
clock = "enforcement"
at = "75%"
notify = ["assigned_officer", "sergeants"]

[[escalation.levels]]
name = "breach"
clock = "enforcement"
at = "0"
notify = ["sergeants", "inspector"]
repeat_every = "24h"

[recipients.sergeants]
default = ["{SERGEANTS}"]
[recipients.sergeants.by_lpa]
South = ["{SOUTH_SERGEANTS}"]

[recipients.inspector]
default = ["{INSPECTOR}"]

[mail]
transport = "smtp"
from = "OCSET Scheduler <ocset@campaign.example>"
[mail.smtp]
host = "127.0.0.1"
port = 25
tls = "none"
timeout_seconds = 10

[delivery]
max_attempts = {MAX_ATTEMPTS}
retry_base_seconds = {RETRY_BASE_SECONDS}
retry_max_seconds = {RETRY_MAX_SECONDS}
lease_seconds = {LEASE_SECONDS}
batch = {BATCH}

[scheduler]
tick_seconds = 2
pass_limit = 500

[log]
level = "info"
format = "json"
"""


def log(text: str) -> None:
    """A progress line on standard error (figures go to standard output)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    """Polls `predicate` until it is true or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


# ---------------------------------------------------------------------------
# The mail server


Line = tuple[str, str, str]  # (recipient, reference, kind)

KIND_WORDS = [  # heading words -> NoticeKind, as src/outbox/notice.rs words them
    ("safeguarding referral due soon", "safeguarding_due_soon"),
    ("overdue safeguarding referral", "safeguarding_overdue"),
    ("well past", "long_overdue"),
    ("breached", "breached"),
    ("approaching", "due_soon"),
]


def parse_lines(recipient: str, raw: bytes) -> frozenset[Line]:
    """The (recipient, reference, kind) lines of one email, from its plain-text part."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    lines, kind = set(), None
    for row in text.splitlines():
        heading = re.match(r"^\d+ packages? (.*)$", row)
        if heading:
            kind = next(k for words, k in KIND_WORDS if words in heading.group(1))
        reference = re.match(r"^  Reference: (\S+)$", row)
        if reference:
            lines.add((recipient, reference.group(1), kind))
    return frozenset(lines)


# The subject of a digest (src/report: "[MARKING] OCSET daily: ..." or
# "... OCSET weekly performance, ..."): recorded apart, not parsed for lines.
DIGEST_SUBJECT = re.compile(r"\bOCSET (daily|weekly)\b")


@dataclass(frozen=True)
class DigestReceived:
    """One digest message the sink accepted for one recipient."""

    at: float
    recipient: str
    subject: str


@dataclass(frozen=True)
class Received:
    """One message the sink accepted for one recipient."""

    at: float
    recipient: str
    lines: frozenset[Line]


class Sink:
    """An SMTP server on loopback that records what it accepts.

    mode: "accept", or "451" (every recipient refused for now). `reject`:
    addresses answered 550 (permanent). `delay`: seconds each DATA takes
    (0 to 2x, at random), so that sends overlap and a kill can fall mid-send.
    A message is recorded when the server answers 250 to its DATA, whether
    or not the client is still there to hear it, as a real server would.
    """

    def __init__(self, delay: float = 0.0):
        self.port = free_port()
        self.delay = delay
        self.mode = "accept"
        self.reject: set[str] = set()
        self.refused = 0
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._digests: list[DigestReceived] = []
        self._controller: Controller | None = None

    # aiosmtpd handler hooks
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            with self._lock:
                self.refused += 1
            return "550 5.1.1 no such recipient here"
        if self.mode == "451":
            with self._lock:
                self.refused += 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(random.uniform(0, 2 * self.delay))
        now = time.monotonic()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        subject = str(message["subject"] or "")
        with self._lock:
            for recipient in envelope.rcpt_tos:
                if DIGEST_SUBJECT.search(subject):
                    self._digests.append(DigestReceived(now, recipient.lower(), subject))
                    continue
                lines = parse_lines(recipient.lower(), envelope.content)
                self._received.append(Received(now, recipient.lower(), lines))
        return "250 OK"

    def up(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def count(self) -> int:
        with self._lock:
            return len(self._received)

    def digests(self) -> list[DigestReceived]:
        with self._lock:
            return list(self._digests)


# ---------------------------------------------------------------------------
# Databases


class Database:
    """A fresh database for one scenario: a SQLite file, or a PostgreSQL
    database `ocset_faults_<random>` dropped by `drop`."""

    def __init__(self, backend: str, folder: Path):
        self.backend = backend
        if backend == "sqlite":
            self.path = folder / "ocset.db"
            self.url = f"sqlite://{self.path}"
        else:
            self.name = f"ocset_faults_{os.getpid()}_{random.randrange(1 << 30):x}"
            self.admin_url = PG_URL
            self.url = PG_URL.rsplit("/", 1)[0] + "/" + self.name
            self.psql(f"CREATE DATABASE {self.name}", admin=True)

    def psql(self, sql: str, admin: bool = False) -> str:
        url = self.admin_url if admin else self.url
        done = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
            capture_output=True, text=True, timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def rows(self, sql: str) -> list[dict]:
        """The rows of a query (plain SQL both backends accept), as dicts."""
        if self.backend == "sqlite":
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)) as con:
                con.row_factory = sqlite3.Row
                return [dict(r) for r in con.execute(sql)]
        out = self.psql(f"SELECT coalesce(json_agg(t), '[]') FROM ({sql}) t")
        return json.loads(out)

    def scalar(self, sql: str):
        row = self.rows(sql)[0]
        return next(iter(row.values()))

    def drop(self) -> None:
        if self.backend == "postgres":
            self.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)", admin=True)


# ---------------------------------------------------------------------------
# The service


class Serve:
    """One `ocset-scheduler serve` process, its standard error in a file."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.port = int(env["OCSET__HTTP__BIND"].rsplit(":", 1)[1])
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> "Serve":
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN), "--config", self.env["CAMPAIGN_CONFIG"], "serve"],
                env=self.env, stdout=out, stderr=out,
            )
        if wait and not wait_for(lambda: http(self.port, "GET", "/healthz")[0] == 200, 30):
            raise RuntimeError(f"serve did not start; see {self.log_path}")
        return self

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> float:
        """SIGTERM; returns the seconds it took to exit (SIGKILL after 30 s)."""
        if not self.proc or self.proc.poll() is not None:
            return 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.monotonic() - start

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def http(port: int, method: str, path: str, token: str | None = None, body=None,
         timeout: float = 10) -> tuple[int, dict, bytes]:
    """One request: (status, headers, body); status 0 when no answer came."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (OSError, urllib.error.URLError):
        return 0, {}, b""


# ---------------------------------------------------------------------------
# The ledger the campaign seeds, and what it owes


@dataclass
class Ledger:
    """The packages seeded so far and the lines each owes."""

    owed: set[Line] = field(default_factory=set)
    serial: int = 0
    prefix: str = "F"
    # Escalations each package owes: one, or two for a breach due later
    # (its warning is already due, and is recorded and sent first, unless
    # the first pass after it was stored came after the breach too: then
    # the warning is recorded `superseded` and not sent; see `supersede`).
    levels: dict[str, int] = field(default_factory=dict)

    def package(self, kind: str, officer: str, lpa: str, due_in: float = 0.0) -> dict:
        """A very-high package whose `kind` ("warning" or "breach") is due
        `due_in` seconds from now (at once by default), and nothing else for
        hours: a warning falls due 36 h after receipt, the breach at 48 h
        and its repeat 24 h later. A breach due at once owes the breach
        only (a pass records the latest level due); a breach due later owes
        its warning now as well."""
        self.serial += 1
        reference = f"{self.prefix}-{self.serial:05d}"
        now = dt.datetime.now(dt.timezone.utc)
        hours = 36 if kind == "warning" else 48
        # Half an hour into the level (due_in = 0), so the clock cannot fall
        # either side of it during the run.
        received = now - dt.timedelta(hours=hours) + dt.timedelta(seconds=due_in or -1800)
        sergeants = SOUTH_SERGEANTS if lpa == "South" else SERGEANTS
        if kind == "warning" or due_in:
            self.owed |= {(officer, reference, "due_soon"), (sergeants, reference, "due_soon")}
        if kind == "breach":
            self.owed |= {(sergeants, reference, "breached"), (INSPECTOR, reference, "breached")}
        self.levels[reference] = 2 if kind == "breach" and due_in else 1
        return {
            "reference": reference,
            "risk_grade": "very_high",
            "received_at": received.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "lpa": lpa,
            "stage": "awaiting_enforcement",
            "assigned_officer": officer,
        }

    def supersede(self, references: list[str]) -> bool:
        """Drops the warnings the service recorded as superseded by their
        breach (both due at its first pass: the warning is not sent).
        True when each was a breach due later, the only case owing both."""
        for reference in references:
            self.owed -= {line for line in self.owed if line[1] == reference and line[2] == "due_soon"}
        return all(self.levels.get(reference) == 2 for reference in references)

    def batch(self, size: int, officers: list[str], due_in=lambda: 0.0) -> list[dict]:
        """`size` packages: mostly warnings to officers drawn from `officers`, some breaches."""
        return [
            self.package(
                "breach" if random.random() < 0.2 else "warning",
                random.choice(officers),
                random.choice(["North", "South"]),
                due_in(),
            )
            for _ in range(size)
        ]


@dataclass
class Tally:
    """What reached the sink, against what is owed."""

    owed: int
    lines: int
    messages: int
    lost: int
    duplicated: int
    resends: int

    @staticmethod
    def of(ledger: Ledger, received: list[Received], excused: set[Line] = frozenset()) -> "Tally":
        copies: dict[tuple[str, frozenset], int] = {}
        for mail in received:
            key = (mail.recipient, mail.lines)
            copies[key] = copies.get(key, 0) + 1
        messages_with: dict[Line, int] = {}
        for _, lines in copies:
            for line in lines:
                messages_with[line] = messages_with.get(line, 0) + 1
        got = set(messages_with)
        return Tally(
            owed=len(ledger.owed),
            lines=len(got),
            messages=len(copies),
            lost=len(ledger.owed - got - set(excused)),
            duplicated=sum(1 for n in messages_with.values() if n > 1),
            resends=sum(n - 1 for n in copies.values()),
        )


def message_key(destination: str, notice: str) -> tuple[str, frozenset]:
    """An outbox row's identity as the sink sees it: (recipient, lines)."""
    to = json.loads(destination)["to"].lower()
    items = json.loads(notice).get("items", [])
    return to, frozenset((to, item["reference"], item["kind"]) for item in items)


class Scenario:
    """The working parts of one scenario: a temporary folder, a database, a
    sink, the configuration and environment, and every process started, all
    cleaned up by `close` whatever happened."""

    def __init__(self, name: str, backend: str, sink_delay: float = 0.0, folder: Path | None = None,
                 extra_config: str = ""):
        self.name = name
        self.services: list[Serve] = []
        self.lives = 0
        self.dir = Path(tempfile.mkdtemp(prefix=f"ocset-faults-{name}-"))
        self.db: Database | None = None
        self.sink = Sink(sink_delay)
        try:
            self.sink.up()
            self.db = Database(backend, folder or self.dir)
        except BaseException:
            self.close()
            raise
        self.ledger = Ledger(prefix=name.upper().replace("-", "")[:6])
        config = self.dir / "campaign.toml"
        config.write_text(CONFIG + extra_config)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OCSET__")},
            "CAMPAIGN_CONFIG": str(config),
            "OCSET__DATABASE__URL": self.db.url,
            "OCSET__MAIL__SMTP__PORT": str(self.sink.port),
            "OCSET__HTTP__BIND": f"127.0.0.1:{free_port()}",
        }

    def serve(self, port: int | None = None, wait: bool = True) -> Serve:
        env = dict(self.env)
        if port is not None:
            env["OCSET__HTTP__BIND"] = f"127.0.0.1:{port}"
        self.lives += 1
        service = Serve(env, self.dir / f"serve-{self.lives}.log").start(wait)
        self.services.append(service)
        return service

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN), "--config", self.env["CAMPAIGN_CONFIG"], *args],
            env=self.env, capture_output=True, text=True, timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def import_packages(self, packages: list[dict]) -> None:
        path = self.dir / f"import-{self.ledger.serial}.csv"
        columns = list(packages[0])
        path.write_text(
            ",".join(columns) + "\n" + "".join(",".join(p[c] for c in columns) + "\n" for p in packages)
        )
        self.cli("import", str(path))

    def token(self, role: str = "admin") -> str:
        return self.cli("token", "create", "--name", f"faults-{role}-{random.randrange(1 << 20)}",
                        "--role", role).strip().splitlines()[-1]

    def copies(self) -> dict[tuple[str, frozenset], int]:
        """How many times the sink accepted each message (recipient, lines)."""
        counts: dict[tuple[str, frozenset], int] = {}
        for mail in self.sink.received():
            key = (mail.recipient, mail.lines)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def tally(self, excused: set[Line] = frozenset()) -> Tally:
        return Tally.of(self.ledger, self.sink.received(), excused)

    def wait_delivered(self, timeout: float, excused: set[Line] = frozenset()) -> bool:
        """Until every owed line has reached the sink."""
        return wait_for(lambda: self.tally(excused).lost == 0, timeout, 0.2)

    def stored(self, packages: list[dict]) -> int:
        """How many of `packages` are in the database."""
        if not packages:
            return 0
        names = ",".join(f"'{p['reference']}'" for p in packages)
        return int(self.db.scalar(f"SELECT COUNT(*) AS n FROM packages WHERE reference IN ({names})"))

    def outbox_open(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) AS n FROM outbox WHERE status IN ('pending', 'sending')"))

    def log_lines(self) -> list[dict]:
        lines = []
        for path in sorted(self.dir.glob("serve-*.log")):
            for raw in path.read_text(errors="replace").splitlines():
                try:
                    lines.append(json.loads(raw))
                except json.JSONDecodeError:
                    lines.append({"raw": raw})
        return lines

    @staticmethod
    def loop_failures(lines: list[dict]) -> int:
        """The scheduler's and the dispatcher's failure lines among `lines`
        (each logs a failure at most once per kind every 10 s)."""
        return sum(1 for line in lines if line.get("fields", {}).get("message", "").endswith("failed; will retry"))

    def close(self) -> None:
        for service in self.services:
            service.kill9()
        self.sink.down()
        try:
            if self.db is not None:
                self.db.drop()
        finally:
            if os.environ.get("KEEP"):
                log(f"{self.name}: kept {self.dir} (KEEP is set)")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def scenario(name: str, backend: str, **kwargs):
    s = Scenario(name, backend, **kwargs)
    try:
        yield s
    finally:
        s.close()


class Poller(threading.Thread):
    """Calls a round of API endpoints over and over, noting each answer with
    the phase it fell in: (phase, endpoint, status, has Retry-After)."""

    def __init__(self, port: int, token: str, ledger: Ledger, post: bool = True):
        super().__init__(daemon=True)
        self.port, self.token, self.ledger, self.post = port, token, ledger, post
        self.phase = "before"
        self.results: list[tuple[str, str, int, bool]] = []
        self.created: list[dict] = []  # packages the API answered 201 for
        self.refused: list[dict] = []  # packages it did not
        self._done = threading.Event()

    def run(self) -> None:
        endpoints = [
            ("GET /api/v1/status", "GET", "/api/v1/status"),
            ("GET /api/v1/packages", "GET", "/api/v1/packages?limit=5"),
            ("GET /api/v1/breaches", "GET", "/api/v1/breaches?limit=5"),
            ("GET /readyz", "GET", "/readyz"),
            ("GET /healthz", "GET", "/healthz"),
            ("GET /metrics", "GET", "/metrics"),
        ]
        while not self._done.is_set():
            for label, method, path in endpoints:
                status, headers, _ = http(self.port, method, path, self.token, timeout=15)
                self.note(label, status, headers)
            if self.post:
                package = self.ledger.package("warning", "poller@campaign.example", "North")
                status, headers, _ = http(self.port, "POST", "/api/v1/packages", self.token, package, 15)
                self.note("POST /api/v1/packages", status, headers)
                (self.created if status == 201 else self.refused).append(package)
            time.sleep(0.05)

    def note(self, label: str, status: int, headers: dict) -> None:
        retry_after = any(k.lower() == "retry-after" for k in headers)
        self.results.append((self.phase, label, status, retry_after))

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=30)

    def codes(self, *phases: str) -> dict[int, int]:
        """Answers by status code in these phases (0: no answer)."""
        counts: dict[int, int] = {}
        for p, _, status, _ in self.results:
            if p in phases:
                counts[status] = counts.get(status, 0) + 1
        return dict(sorted(counts.items()))

    def table(self, phase: str) -> dict[str, dict[int, int]]:
        """Answers in `phase` by endpoint and status code."""
        table: dict[str, dict[int, int]] = {}
        for p, label, status, _ in self.results:
            if p == phase:
                row = table.setdefault(label, {})
                row[status] = row.get(status, 0) + 1
        return table

    def by_endpoint(self, phase: str, statuses: set[int]) -> dict[str, int]:
        """How many answers in `phase` had one of `statuses`, by endpoint."""
        counts: dict[str, int] = {}
        for p, label, status, _ in self.results:
            if p == phase and status in statuses:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def bad_5xx(self, phase: str) -> list[tuple[str, int]]:
        """5xx other than 503, a 503 without Retry-After, or no answer at all."""
        return [
            (label, status)
            for p, label, status, retry_after in self.results
            if p == phase and (status == 0 or (status >= 500 and (status != 503 or not retry_after)))
        ]


# ---------------------------------------------------------------------------
# Scenarios


def kills(backend: str, count: int) -> dict:
    """kill -9 at random moments during delivery, `count` times, then a final drain.

    Each life: import a batch of 10 to 40 packages (owed to 40 officers and
    the sergeants and inspector: up to about 30 messages), start `serve`, and
    kill -9 it once the sink has accepted a random number of this life's
    messages, plus 0 to 30 ms. After each kill, the rows left `sending`
    (claimed: a batch holds at most one per destination, at most 50) and,
    of those, the ones the sink already accepted (sent but not marked sent:
    each will be sent again when its lease runs out) are counted.
    """
    name = f"kills-{backend}"
    with scenario(name, backend, sink_delay=0.02) as s:
        officers = [f"officer{i:02d}@campaign.example" for i in range(40)]
        per_kill = []
        for life in range(count):
            packages = s.ledger.batch(random.randint(10, 40), officers)
            s.import_packages(packages)
            references = {p["reference"] for p in packages}
            destinations = {line[0] for line in s.ledger.owed if line[1] in references}
            copies_before = s.copies()
            before = s.sink.count()
            target = before + random.randint(1, len(destinations))
            service = s.serve(wait=False)
            wait_for(lambda: s.sink.count() >= target or not service.alive(), 10, 0.002)
            time.sleep(random.uniform(0, 0.03))
            service.kill9()
            # Let the sink finish the DATA commands it was in (it answers
            # 250 after its delay, client or no client).
            time.sleep(2 * s.sink.delay + 0.1)
            # Claimed and not finished; of those, the ones the sink accepted
            # in this life: each is owed exactly one resend.
            sending = s.db.rows("SELECT destination, notice FROM outbox WHERE status = 'sending'")
            copies = s.copies()
            unrecorded = sum(
                1 for row in sending
                if copies.get(key := message_key(row["destination"], row["notice"]), 0) > copies_before.get(key, 0)
            )
            per_kill.append({"delivered": s.sink.count() - before, "sending": len(sending), "unrecorded": unrecorded})
            log(f"{name}: kill {life + 1}/{count}: {per_kill[-1]}")
        # The final life: drains everything, leases taken over included.
        service = s.serve()
        drained = s.wait_delivered(60) and wait_for(lambda: s.outbox_open() == 0, 30, 0.2)
        stop_seconds = service.stop()
        tally = s.tally()
        outbox = s.db.rows("SELECT status, COUNT(*) AS n, MAX(attempts) AS max_attempts FROM outbox GROUP BY status")
        escalations = int(s.db.scalar("SELECT COUNT(*) AS n FROM escalations WHERE status = 'notified'"))
        packages = s.ledger.serial
        unrecorded = [k["unrecorded"] for k in per_kill]
        return {
            "scenario": name,
            "kills": count,
            "packages": packages,
            "escalations recorded (one per package)": escalations,
            "lines owed": tally.owed,
            "messages": tally.messages,
            "lost lines": tally.lost,
            "duplicated lines": tally.duplicated,
            "resends": tally.resends,
            "resends per kill (mean / max)": f"{tally.resends / count:.2f} / {max(unrecorded)}",
            "messages delivered in a life before its kill (mean)": round(sum(k["delivered"] for k in per_kill) / count, 1),
            "in flight at a kill: claimed rows (mean / max)": f"{sum(k['sending'] for k in per_kill) / count:.1f} / {max(k['sending'] for k in per_kill)}",
            "accepted by the sink, not marked sent, at a kill (total / max)": f"{sum(unrecorded)} / {max(unrecorded)}",
            "outbox after drain": {r["status"]: r["n"] for r in outbox},
            "max attempts on any message": max((r["max_attempts"] or 0) for r in outbox),
            "drained": drained,
            "SIGTERM exit seconds": round(stop_seconds, 3),
            "ok": drained and tally.lost == 0 and tally.duplicated == 0
            and tally.resends == sum(unrecorded) and escalations == packages
            and all(r["status"] == "sent" for r in outbox),
        }


def smtp() -> dict:
    """The mail server down then up, then 451 for a while, then 550 for one address.

    Down: 20 packages imported and `serve` started with nothing listening;
    every send fails (connection refused) and is retried (1, 2, 4 s in the
    campaign). Up after 6 s: everything arrives without a restart. 451 for
    6 s on 20 packages created through the API: retried, then delivered.
    550 for one officer: that message is dead at once (not retried), shown
    in /metrics and /api/v1/status; everything else arrives. The API is
    polled throughout: no 5xx.
    """
    with scenario("smtp", "sqlite") as s:
        officers = [f"officer{i:02d}@campaign.example" for i in range(10)]
        s.sink.down()
        s.import_packages(s.ledger.batch(20, officers))
        service = s.serve()
        token = s.token()
        poller = Poller(service.port, token, s.ledger, post=False)
        poller.start()
        outage = 6.0
        time.sleep(outage)
        failed_while_down = int(s.db.scalar("SELECT COUNT(*) AS n FROM outbox WHERE attempts > 0"))
        s.sink.up()
        up_at = time.monotonic()
        recovered = s.wait_delivered(30)
        down_recovery = time.monotonic() - up_at

        # 451: through the API this time, so the running scheduler is woken.
        poller.phase = "451"
        s.sink.mode = "451"
        refused_before = s.sink.refused
        for package in s.ledger.batch(20, officers):
            assert http(service.port, "POST", "/api/v1/packages", token, package)[0] == 201
        time.sleep(6)
        answered_451 = s.sink.refused - refused_before
        s.sink.mode = "accept"
        accept_at = time.monotonic()
        recovered_451 = s.wait_delivered(30)
        recovery_451 = time.monotonic() - accept_at

        # 550 for one officer: their message is dead, the rest arrive.
        poller.phase = "550"
        rejected = "rejected.officer@campaign.example"
        s.sink.reject = {rejected}
        packages = s.ledger.batch(10, officers)
        packages.append(s.ledger.package("warning", rejected, "North"))
        for package in packages:
            assert http(service.port, "POST", "/api/v1/packages", token, package)[0] == 201
        excused = {line for line in s.ledger.owed if line[0] == rejected}
        delivered_550 = s.wait_delivered(30, excused)
        wait_for(lambda: s.outbox_open() == 0, 20, 0.2)
        status = json.loads(http(service.port, "GET", "/api/v1/status", token)[2])["scheduler"]
        metrics = http(service.port, "GET", "/metrics")[2].decode()
        dead_metric = re.search(r'^ocset_notifications\{status="dead"\} (\d+)', metrics, re.M)
        poller.stop()
        service.stop()
        dead_rows = s.db.rows("SELECT destination, attempts, last_error FROM outbox WHERE status = 'dead'")
        tally = s.tally(excused)
        bad = poller.bad_5xx("before") + poller.bad_5xx("451") + poller.bad_5xx("550")
        dead_ok = (len(dead_rows) == 1 and rejected in dead_rows[0]["destination"]
                   and dead_rows[0]["attempts"] == 1)
        return {
            "scenario": "smtp",
            "messages failed while the server was down (retrying, none dead)": failed_while_down,
            f"server down {outage:.0f} s: all delivered after it came up, no restart": recovered,
            "seconds from up to the last delivery": round(down_recovery, 1),
            "451 answers given": answered_451,
            "451 for 6 s: all delivered after, no restart": recovered_451,
            "seconds from accepting to the last delivery": round(recovery_451, 1),
            "550: dead messages (rows; attempts)": [(json.loads(r["destination"])["to"], r["attempts"]) for r in dead_rows],
            "/api/v1/status scheduler.dead": status.get("dead"),
            "/metrics dead": int(dead_metric.group(1)) if dead_metric else None,
            "lines owed (550 excused)": tally.owed - len(excused),
            "lost lines": tally.lost,
            "duplicated lines": tally.duplicated,
            "resends": tally.resends,
            "API answers (code: count)": poller.codes("before", "451", "550"),
            "5xx (or no answer)": len(bad),
            "ok": recovered and recovered_451 and delivered_550 and dead_ok
            and status.get("dead") == 1 and dead_metric is not None and int(dead_metric.group(1)) == 1
            and tally.lost == 0 and tally.duplicated == 0 and tally.resends == 0 and not bad,
        }


def replicas(waves: int) -> dict:
    """Two `serve` processes on one PostgreSQL database.

    `waves` waves of 30 packages, each posted half to one replica's API and
    half to the other's, 0.5 s apart, so both schedulers and both
    dispatchers race for the same due packages and messages.
    """
    with scenario("replicas", "postgres") as s:
        officers = [f"officer{i:02d}@campaign.example" for i in range(40)]
        first = s.serve()
        second = s.serve(port=free_port())
        token = s.token("intake")
        answers: dict[int, int] = {}
        for _ in range(waves):
            for i, package in enumerate(s.ledger.batch(30, officers)):
                status = http((first, second)[i % 2].port, "POST", "/api/v1/packages", token, package)[0]
                answers[status] = answers.get(status, 0) + 1
            time.sleep(0.5)
        delivered = s.wait_delivered(60) and wait_for(lambda: s.outbox_open() == 0, 30, 0.2)
        first.stop()
        second.stop()
        tally = s.tally()
        by_replica = [
            sum(1 for line in service.log_path.read_text().splitlines() if '"message delivered"' in line)
            for service in (first, second)
        ]
        escalations = int(s.db.scalar("SELECT COUNT(*) AS n FROM escalations WHERE status = 'notified'"))
        return {
            "scenario": "replicas",
            "packages (through both APIs)": s.ledger.serial,
            "API answers (code: count)": dict(sorted(answers.items())),
            "escalations recorded (one per package)": escalations,
            "lines owed": tally.owed,
            "messages": tally.messages,
            "messages sent by each replica": by_replica,
            "lost lines": tally.lost,
            "duplicated lines": tally.duplicated,
            "resends": tally.resends,
            "ok": delivered and tally.lost == 0 and tally.duplicated == 0 and tally.resends == 0
            and escalations == s.ledger.serial and min(by_replica) > 0,
        }


class Load(threading.Thread):
    """A steady load through the replicas' APIs: a package every `every`
    seconds, posted to a replica picked at random among those up, its
    level falling due 0 to `due_within` seconds later. Notes each answer;
    a package the API did not answer 201 for is owed only if it was stored
    (a replica stopping may answer nothing yet have stored it)."""

    def __init__(self, s: "Scenario", up: dict[int, "Serve"], token: str, officers: list[str],
                 every: float = 0.3, due_within: float = 15.0):
        super().__init__(daemon=True)
        self.s, self.up, self.token, self.officers = s, up, token, officers
        self.every, self.due_within = every, due_within
        self.answers: dict[int, int] = {}
        self.unanswered: list[dict] = []  # not 201: stored or not, decided at the end
        self.posted = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            ports = list(self.up)
            if ports:
                package = self.s.ledger.package(
                    "breach" if random.random() < 0.2 else "warning", random.choice(self.officers),
                    random.choice(["North", "South"]), random.uniform(0.5, self.due_within))
                status = http(random.choice(ports), "POST", "/api/v1/packages", self.token, package, 15)[0]
                self.posted += 1
                self.answers[status] = self.answers.get(status, 0) + 1
                if status != 201:
                    self.unanswered.append(package)
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=30)

    def settle(self) -> int:
        """Drops from the ledger what was neither answered 201 nor stored;
        returns how many packages that was."""
        stored = {
            row["reference"] for row in self.s.db.rows(
                "SELECT reference FROM packages WHERE reference IN ("
                + ",".join(f"'{p['reference']}'" for p in self.unanswered) + ")")
        } if self.unanswered else set()
        dropped = [p["reference"] for p in self.unanswered if p["reference"] not in stored]
        self.s.ledger.owed -= {line for line in self.s.ledger.owed if line[1] in dropped}
        return len(dropped)


def held_by(s: "Scenario", pid: int) -> list[dict]:
    """The outbox rows a (stopped or killed) process `pid` still holds."""
    return s.db.rows(
        "SELECT destination, notice FROM outbox WHERE status = 'sending' "
        f"AND locked_by LIKE 'dispatcher-{pid}-%'")


def accepted_unmarked(s: "Scenario", rows: list[dict]) -> int:
    """Of `rows` (held, not marked sent), those the sink already accepted:
    each will be sent once more when its lease runs out."""
    copies = s.copies()
    return sum(1 for row in rows if copies.get(message_key(row["destination"], row["notice"]), 0) > 0)


def rolling(span: float) -> dict:
    """Three replicas, a rolling restart and a kill -9 under load; a digest once.

    150 packages are imported whose levels fall due evenly over the first
    `span` seconds, and the load posts one every 0.3 s to a replica that is
    up (due 0.5 to 15 s later) until the kill is over. A daily digest
    (`daily-rolling`, to the sergeants group: two addresses) is set for the
    next whole minute at least 40 s ahead, local time in Europe/London; the
    second replica's SIGTERM comes half a second before it. Each replica in
    turn gets SIGTERM, must exit with status 0, is started again on its port
    and must answer /readyz 200 before the next. Once the digest arrived,
    a replica caught holding messages (claimed rows, `sending`) is killed
    (-9) and started again. Then the load stops and everything drains.
    The sink takes 0 to 0.1 s over each message, so that sends overlap.
    """
    london = ZoneInfo("Europe/London")
    local_now = dt.datetime.now(london)
    digest_local = (local_now + dt.timedelta(seconds=40)).replace(second=0, microsecond=0) \
        + dt.timedelta(minutes=1)
    if digest_local.date() != local_now.date():
        raise RuntimeError("too close to midnight in London for a daily digest today; run it again after 00:02")
    digest_at = time.monotonic() + (digest_local - local_now).total_seconds()
    occurrence = f"daily-rolling/{digest_local.date().isoformat()}"
    extra = (f'\n[[digest]]\nname = "daily-rolling"\nkind = "daily"\nat = "{digest_local:%H:%M}"\n'
             'audience = ["sergeants"]\n')
    with scenario("rolling", "postgres", sink_delay=0.05, extra_config=extra) as s:
        officers = [f"officer{i:02d}@campaign.example" for i in range(40)]
        imported = 150
        s.import_packages([
            s.ledger.package("breach" if i % 5 == 0 else "warning", random.choice(officers),
                             random.choice(["North", "South"]), 2 + i * span / imported)
            for i in range(imported)
        ])
        ports = [free_port() for _ in range(3)]
        replicas_now = [s.serve(port=port) for port in ports]
        for service in replicas_now:
            if not wait_for(lambda: http(service.port, "GET", "/readyz")[0] == 200, 30, 0.1):
                raise RuntimeError(f"replica on {service.port} not ready; see {service.log_path}")
        up = {service.port: service for service in replicas_now}
        token = s.token("intake")
        load = Load(s, up, token, officers)
        load.start()
        time.sleep(5)
        log(f"rolling: digest {occurrence} at {digest_local:%H:%M} London")
        restarts = []
        for i in range(3):
            if i == 1:
                # The second replica gets SIGTERM half a second before the
                # digest falls due: the other two race to queue it, and it
                # checks again as it comes back.
                time.sleep(max(5.0, digest_at - 0.5 - time.monotonic()))
            elif i == 2:
                time.sleep(10)
            old = replicas_now[i]
            del up[old.port]
            time.sleep(0.2)  # the load's request to it, if one was under way, finishes
            pid = old.proc.pid
            began = time.monotonic()
            old.proc.send_signal(signal.SIGTERM)
            try:
                status = old.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                old.kill9()
                status = "killed after 30 s"
            exit_seconds = time.monotonic() - began
            time.sleep(2 * s.sink.delay + 0.1)
            left = held_by(s, pid)
            new = s.serve(port=old.port, wait=False)
            ready = wait_for(lambda: http(new.port, "GET", "/readyz")[0] == 200, 30, 0.05)
            replicas_now[i] = new
            up[new.port] = new
            restarts.append({
                "replica": i + 1, "exit status": status, "exit seconds": round(exit_seconds, 2),
                "held after exit": len(left), "of which accepted, not marked sent": accepted_unmarked(s, left),
                "seconds from SIGTERM to /readyz 200 again": round(time.monotonic() - began, 2) if ready else None,
            })
            log(f"rolling: restart {restarts[-1]}")
        digest_arrived = wait_for(lambda: len(s.sink.digests()) >= 2, max(10.0, digest_at - time.monotonic() + 60), 0.2)
        # kill -9 of a replica caught holding messages (claimed, being
        # sent), or of one at random if none is caught within 30 s.
        pids = {service.proc.pid: i for i, service in enumerate(replicas_now)}
        holders: list[int] = []

        def caught() -> bool:
            holders[:] = [
                pids[pid] for row in s.db.rows("SELECT DISTINCT locked_by FROM outbox WHERE status = 'sending'")
                if (pid := int(row["locked_by"].split("-")[1])) in pids
            ]
            return bool(holders)

        flowing = wait_for(caught, 30, 0.0)
        victim = holders[0] if holders else random.randrange(3)
        old = replicas_now[victim]
        del up[old.port]
        pid = old.proc.pid
        old.kill9()
        time.sleep(2 * s.sink.delay + 0.1)
        in_flight = held_by(s, pid)
        unmarked = accepted_unmarked(s, in_flight)
        log(f"rolling: kill -9 of replica {victim + 1}: {len(in_flight)} held, {unmarked} accepted not marked sent")
        killed_at = time.monotonic()
        new = s.serve(port=old.port, wait=False)
        ready_after_kill = wait_for(lambda: http(new.port, "GET", "/readyz")[0] == 200, 30, 0.05)
        restart_seconds = time.monotonic() - killed_at
        replicas_now[victim] = new
        up[new.port] = new
        time.sleep(10)
        load.stop()
        dropped = load.settle()
        # Every level owed recorded (notified or superseded), then queued.
        stored = [row["reference"] for row in s.db.rows("SELECT reference FROM packages")]
        levels = sum(s.ledger.levels[reference] for reference in stored)
        wait_for(lambda: int(s.db.scalar("SELECT COUNT(*) AS n FROM escalations")) >= levels, 60, 0.2)
        wait_for(lambda: s.outbox_open() == 0, 60, 0.2)
        superseded = [row["reference"] for row in s.db.rows(
            "SELECT p.reference FROM escalations e JOIN packages p ON p.id = e.package_id "
            "WHERE e.status = 'superseded' AND e.level = 'warning'")]
        superseded_ok = s.ledger.supersede(superseded)
        drained = s.wait_delivered(120) and wait_for(lambda: s.outbox_open() == 0, 60, 0.2)
        final_exits = []
        for service in replicas_now:
            service.proc.send_signal(signal.SIGTERM)
            try:
                final_exits.append(service.proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                service.kill9()
                final_exits.append("killed after 30 s")
        tally = s.tally()
        owed_escalations = sum(s.ledger.levels[reference] for reference in stored) - len(superseded)
        escalations = int(s.db.scalar("SELECT COUNT(*) AS n FROM escalations WHERE status = 'notified'"))
        outbox = s.db.rows("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status")
        digests = s.sink.digests()
        per_recipient: dict[str, int] = {}
        for mail in digests:
            per_recipient[mail.recipient] = per_recipient.get(mail.recipient, 0) + 1
        recorded = s.db.rows(f"SELECT recipient FROM digests WHERE occurrence = '{occurrence}' ORDER BY recipient")
        # Per replica life, the messages its digest job queued for the run
        # (a run it found already queued logs 0), or None if it ran none.
        queued_by = []
        for service in s.services:
            runs = [json.loads(line)["fields"]["messages"] for line in service.log_path.read_text().splitlines()
                    if '"digest queued"' in line]
            queued_by.append(sum(runs) if runs else None)
        by_life = [
            sum(1 for line in service.log_path.read_text().splitlines() if '"message delivered"' in line)
            for service in s.services
        ]
        got = {line for mail in s.sink.received() for line in mail.lines}
        lost = sorted(s.ledger.owed - got)[:10]
        lost_detail = [
            (line, [(r["level"], r["status"]) for r in s.db.rows(
                "SELECT e.level, e.status FROM escalations e JOIN packages p ON p.id = e.package_id "
                f"WHERE p.reference = '{line[1]}' ORDER BY e.id")])
            for line in lost
        ]
        expected_resends = unmarked + sum(r["of which accepted, not marked sent"] for r in restarts)
        digest_once = (per_recipient == {SERGEANTS: 1, SOUTH_SERGEANTS: 1}
                       and [r["recipient"] for r in recorded] == sorted([SERGEANTS, SOUTH_SERGEANTS]))
        return {
            "scenario": "rolling",
            "packages imported (due over the first seconds)": f"{imported} ({span:.0f} s)",
            "packages posted through the APIs": load.posted,
            "API answers (code: count)": dict(sorted(load.answers.items())),
            "posted, not answered 201 and not stored (not owed)": dropped,
            "packages stored": len(stored),
            "escalations notified (owed: one a package, two for a breach due later, less superseded)":
                f"{escalations} ({owed_escalations})",
            "warnings superseded by their breach at the first pass (not sent, by design)": len(superseded),
            "restarts (SIGTERM one at a time)": restarts,
            "kill -9: replica, claimed rows it held, of which accepted not marked sent":
                f"{victim + 1}, {len(in_flight)}, {unmarked}",
            "kill -9 fell while the victim held messages": flowing,
            "seconds from kill -9 to /readyz 200 again": round(restart_seconds, 2) if ready_after_kill else None,
            "lines owed": tally.owed,
            "messages": tally.messages,
            "lost lines": tally.lost,
            "lost lines (the first 10, with the escalations recorded for their packages)": lost_detail,
            "duplicated lines": tally.duplicated,
            "resends (expected: accepted not marked sent)": f"{tally.resends} ({expected_resends})",
            "messages delivered by each replica life": by_life,
            "outbox after drain": {r["status"]: r["n"] for r in outbox},
            "final SIGTERM exit statuses": final_exits,
            "digest": f"{occurrence} at {digest_local:%H:%M} Europe/London",
            "digest messages per recipient": per_recipient,
            "digest rows recorded for the occurrence": len(recorded),
            "digest messages queued by each replica life (None: it found the run queued, or ran none)": queued_by,
            "ok": drained and digest_arrived and digest_once and superseded_ok
            and tally.lost == 0 and tally.duplicated == 0
            and tally.resends == expected_resends and escalations == owed_escalations
            and all(r["exit status"] == 0 and r["seconds from SIGTERM to /readyz 200 again"] is not None
                    for r in restarts)
            and ready_after_kill and final_exits == [0, 0, 0]
            and all(r["status"] == "sent" for r in outbox),
        }


def start_together(s: "Scenario", count: int) -> list[Serve]:
    """`count` replicas of `serve` started at once (no waiting between), each
    on its own port."""
    services = []
    for _ in range(count):
        env = dict(s.env, OCSET__HTTP__BIND=f"127.0.0.1:{free_port()}")
        s.lives += 1
        services.append(Serve(env, s.dir / f"serve-{s.lives}.log"))
    for service in services:  # Popen only: a few milliseconds apart
        service.start(wait=False)
        s.services.append(service)
    return services


def settle_start(services: list[Serve], timeout: float) -> list[dict]:
    """Waits until each replica answers /readyz 200 or has exited."""
    began = time.monotonic()
    outcome: dict[int, dict] = {}
    while time.monotonic() - began < timeout and len(outcome) < len(services):
        for i, service in enumerate(services):
            if i in outcome:
                continue
            if not service.alive():
                last = service.log_path.read_text(errors="replace").strip().splitlines()[-1:]
                outcome[i] = {"ready": False, "exit status": service.proc.returncode,
                              "last log line": last[0][:300] if last else ""}
            elif http(service.port, "GET", "/readyz", timeout=2)[0] == 200:
                outcome[i] = {"ready": True, "seconds": round(time.monotonic() - began, 2)}
        time.sleep(0.02)
    return [outcome.get(i, {"ready": False, "exit status": None, "last log line": "not ready in time"})
            for i in range(len(services))]


def migrate_together(rounds: int) -> dict:
    """Three replicas started at once on a fresh database, `rounds` times.

    PostgreSQL: all must become ready, with one `_sqlx_migrations` row per
    file in migrations/postgres (successful), and none may have failed.
    Then, in the first round, a newer release is simulated by recording a
    migration this binary does not know: the running replicas must stay
    ready, and one restarted must refuse to start, naming it (sqlx will not
    run against a schema it does not know); with the row gone it starts.
    SQLite: the same start on one file, reported as it happens.
    """
    files = sorted((ROOT / "migrations/postgres").glob("*.sql"))
    pg_rounds, upgrade = [], {}
    for round_ in range(rounds):
        with scenario("migrate-together", "postgres") as s:
            services = start_together(s, 3)
            outcome = settle_start(services, 60)
            rows = s.db.rows("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            failures = [line for line in s.log_lines() if line.get("level") == "ERROR" or "raw" in line]
            pg_rounds.append({
                "ready": sum(1 for o in outcome if o["ready"]),
                "seconds to ready": [o.get("seconds") for o in outcome],
                "failed": [o for o in outcome if not o["ready"]],
                "_sqlx_migrations rows (successful)": f"{len(rows)} ({sum(1 for r in rows if r['success'])})",
                "versions": [r["version"] for r in rows],
                "error log lines": len(failures),
            })
            log(f"migrate-together: round {round_ + 1}: {pg_rounds[-1]}")
            if round_ == 0 and all(o["ready"] for o in outcome):
                s.db.psql("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) "
                          "VALUES (99, 'from a newer release', true, '\\x00', 0)")
                time.sleep(1)
                still_ready = [http(service.port, "GET", "/readyz")[0] for service in services]
                older = services[0]
                older.stop()
                again = Serve(older.env, older.log_path)
                again.start(wait=False)
                s.services.append(again)
                refused = settle_start([again], 30)[0]
                s.db.psql("DELETE FROM _sqlx_migrations WHERE version = 99")
                after = Serve(older.env, older.log_path).start(wait=False)
                s.services.append(after)
                upgrade = {
                    "/readyz of the running replicas with a newer migration recorded": still_ready,
                    "a replica restarted then": refused,
                    "with that row gone, it starts (ready)": settle_start([after], 30)[0]["ready"],
                }
                log(f"migrate-together: upgrade {upgrade}")
    sqlite_rounds = []
    for round_ in range(max(1, rounds // 2)):
        with scenario("migrate-together-sqlite", "sqlite") as s:
            outcome = settle_start(start_together(s, 3), 60)
            try:
                rows = s.db.rows("SELECT version FROM _sqlx_migrations WHERE success")
            except sqlite3.Error:
                rows = []
            sqlite_rounds.append({"ready": sum(1 for o in outcome if o["ready"]),
                                  "failed": [o for o in outcome if not o["ready"]],
                                  "_sqlx_migrations rows": len(rows)})
            log(f"migrate-together: sqlite round {round_ + 1}: {sqlite_rounds[-1]}")
    ok_rounds = all(
        r["ready"] == 3 and not r["failed"] and r["versions"] == list(range(1, len(files) + 1))
        and r["_sqlx_migrations rows (successful)"] == f"{len(files)} ({len(files)})" and r["error log lines"] == 0
        for r in pg_rounds
    )
    refused = upgrade.get("a replica restarted then", {})
    return {
        "scenario": "migrate-together",
        "migration files (migrations/postgres)": len(files),
        "PostgreSQL rounds (three replicas started at once on a fresh database)": pg_rounds,
        "upgrade: an older binary against a newer schema": upgrade,
        "SQLite rounds (three on one fresh file; reported, not expected)": sqlite_rounds,
        "ok": ok_rounds and len(pg_rounds) == rounds
        and upgrade.get("/readyz of the running replicas with a newer migration recorded") == [200, 200, 200]
        and not refused.get("ready", True) and refused.get("exit status") not in (0, None)
        and upgrade.get("with that row gone, it starts (ready)") is True,
    }


def pg_refusing(outage: float) -> dict:
    """PostgreSQL refusing connections while the API is polled.

    The API (status, lists, breaches, /readyz, /healthz, /metrics, and a
    package created each round) is polled for 4 s, then the database is set
    to refuse connections (ALLOW_CONNECTIONS false) and its sessions are
    terminated for `outage` seconds, then allowed again, without touching
    the service. Every 5xx during the outage must be a 503 with Retry-After;
    after it, the service must answer again by itself, and every package
    the API accepted must have its escalation delivered.
    """
    with scenario("pg-refusing", "postgres") as s:
        service = s.serve()
        token = s.token()
        poller = Poller(service.port, token, s.ledger)
        poller.start()
        time.sleep(4)
        lines_before = len(s.log_lines())
        poller.phase = "outage"
        s.db.psql(f"ALTER DATABASE {s.db.name} ALLOW_CONNECTIONS false", admin=True)
        s.db.psql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{s.db.name}'",
            admin=True,
        )
        time.sleep(outage)
        ready_during = [st for p, label, st, _ in poller.results if p == "outage" and label == "GET /readyz"]
        lines_outage = s.log_lines()[lines_before:]
        s.db.psql(f"ALTER DATABASE {s.db.name} ALLOW_CONNECTIONS true", admin=True)
        poller.phase = "after"
        allowed_at = time.monotonic()
        recovered = wait_for(
            lambda: http(service.port, "GET", "/api/v1/status", token)[0] == 200
            and http(service.port, "GET", "/readyz")[0] == 200, 30, 0.1)
        recovery = time.monotonic() - allowed_at
        time.sleep(4)
        poller.stop()
        # What the API refused is not owed; what it accepted is.
        for package in poller.refused:
            s.ledger.owed -= {line for line in s.ledger.owed if line[1] == package["reference"]}
        delivered = s.wait_delivered(30)
        service.stop()
        tally = s.tally()
        refused_stored = s.stored(poller.refused)
        bad = poller.bad_5xx("before") + poller.bad_5xx("outage") + poller.bad_5xx("after")
        return {
            "scenario": "pg-refusing",
            "outage seconds": outage,
            "answers before (code: count)": poller.codes("before"),
            "answers during the outage": poller.codes("outage"),
            "by endpoint": poller.table("outage"),
            "answers after": poller.codes("after"),
            "/readyz during the outage": sorted(set(ready_during)),
            "log lines during the outage": len(lines_outage),
            "of which the scheduler's and dispatcher's failure lines": s.loop_failures(lines_outage),
            "5xx other than 503 with Retry-After, or no answer": len(bad),
            "examples of those": bad[:5],
            "seconds from re-allowing to /status and /readyz 200, no restart": round(recovery, 1),
            "packages created (201) / refused": f"{len(poller.created)} / {len(poller.refused)}",
            "refused packages stored anyway": refused_stored,
            "lost lines": tally.lost,
            "duplicated lines": tally.duplicated,
            "ok": recovered and delivered and not bad and tally.lost == 0 and tally.duplicated == 0
            and refused_stored == 0 and 503 in set(ready_during),
        }


@contextmanager
def tmpfs(size_mb: int):
    """A tmpfs of `size_mb` MiB mounted on a new folder, unmounted after."""
    folder = Path(tempfile.mkdtemp(prefix="ocset-faults-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def fill(folder: Path) -> Path:
    """Writes a file into `folder` until the file system is full."""
    filler = folder / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError:
            pass
        try:  # the last few KiB
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def sqlite_full(full_for: float) -> dict:
    """SQLite on a full tmpfs.

    The database lives on a 24 MiB tmpfs. 20 packages are delivered, then
    40 more are imported whose warnings fall due over the next 20 s, and the
    tmpfs is filled. The scheduler's writes fail: /readyz must answer 503
    while they do, the log must stay bounded (lines counted), and once the
    filler is deleted after `full_for` seconds the service must recover by
    itself and deliver all 40.
    """
    with tmpfs(24) as mount, scenario("sqlite-full", "sqlite", folder=mount) as s:
        officers = [f"officer{i:02d}@campaign.example" for i in range(20)]
        s.import_packages(s.ledger.batch(20, officers))
        service = s.serve()
        token = s.token()
        first = s.wait_delivered(30)
        s.import_packages([
            s.ledger.package("warning", random.choice(officers), random.choice(["North", "South"]), 3 + i * 0.5)
            for i in range(40)
        ])
        poller = Poller(service.port, token, s.ledger)
        poller.start()
        time.sleep(1)
        lines_before = len(s.log_lines())
        poller.phase = "full"
        filler = fill(mount)
        full_at = time.monotonic()
        not_ready = wait_for(lambda: http(service.port, "GET", "/readyz")[0] == 503, full_for, 0.2)
        not_ready_after = time.monotonic() - full_at
        time.sleep(max(0.0, full_for - (time.monotonic() - full_at)))
        status_while_full = json.loads(http(service.port, "GET", "/api/v1/status", token)[2] or b"{}")
        lines_full = s.log_lines()[lines_before:]
        loop_lines = s.loop_failures(lines_full)
        filler.unlink()
        poller.phase = "after"
        freed_at = time.monotonic()
        ready = wait_for(lambda: http(service.port, "GET", "/readyz")[0] == 200, 60, 0.2)
        ready_after = time.monotonic() - freed_at
        time.sleep(3)
        poller.stop()
        for package in poller.refused:
            s.ledger.owed -= {line for line in s.ledger.owed if line[1] == package["reference"]}
        delivered = s.wait_delivered(60)
        service.stop()
        tally = s.tally()
        refused_stored = s.stored(poller.refused)
        full_answers = poller.codes("full")
        bad = poller.bad_5xx("before") + poller.bad_5xx("after")
        scheduler = status_while_full.get("scheduler", {})
        return {
            "scenario": "sqlite-full",
            "seconds full": full_for,
            "/readyz 503 while full (seconds after filling)": f"{not_ready} ({not_ready_after:.1f})",
            "/api/v1/status while full: passes_failing, last_failure_kind":
                f"{scheduler.get('passes_failing')}, {scheduler.get('last_failure_kind')}",
            "log lines while full": len(lines_full),
            "of which the scheduler's and dispatcher's failure lines": loop_lines,
            "API answers while full (code: count)": full_answers,
            "by endpoint": poller.table("full"),
            "5xx other than 503 while full, by endpoint": poller.by_endpoint("full", {0, 500, 502, 504}),
            "answers after (code: count)": poller.codes("after"),
            "seconds from freeing space to /readyz 200, no restart": round(ready_after, 1) if ready else None,
            "packages created (201) / refused by the API": f"{len(poller.created)} / {len(poller.refused)}",
            "refused packages stored anyway": refused_stored,
            "lines owed": tally.owed,
            "lost lines": tally.lost,
            "duplicated lines": tally.duplicated,
            "resends": tally.resends,
            # One line per loop per failure kind every 10 s, give or take the first.
            "ok": first and not_ready and ready and delivered and tally.lost == 0
            and tally.duplicated == 0 and refused_stored == 0 and not bad and not poller.bad_5xx("full")
            and loop_lines <= 2 * 3 * (full_for / 10 + 1),
        }


# ---------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = ["kills-sqlite", "kills-postgres", "smtp", "replicas", "rolling", "migrate-together",
             "pg-refusing", "sqlite-full"]
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"one or more of {', '.join(names)} (default: all)")
    parser.add_argument("--kills", type=int, default=int(os.environ.get("KILLS", 30)),
                        help="kill -9 per backend (KILLS, default 30)")
    parser.add_argument("--waves", type=int, default=int(os.environ.get("WAVES", 20)),
                        help="waves of 30 packages for the replicas (WAVES, default 20)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 5)),
                        help="fresh databases three replicas start on at once (ROUNDS, default 5)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SEED", time.time_ns() % 100000)))
    args = parser.parse_args()
    random.seed(args.seed)
    # SIGTERM cleans up like Ctrl-C: every scenario's `finally` runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if not BIN.exists():
        print(f"{BIN} is missing: cargo build --release --locked", file=sys.stderr)
        return 2
    runs = {
        "kills-sqlite": lambda: kills("sqlite", args.kills),
        "kills-postgres": lambda: kills("postgres", args.kills),
        "smtp": smtp,
        "replicas": lambda: replicas(args.waves),
        "rolling": lambda: rolling(60.0),
        "migrate-together": lambda: migrate_together(args.rounds),
        "pg-refusing": lambda: pg_refusing(8.0),
        "sqlite-full": lambda: sqlite_full(15.0),
    }
    chosen = args.scenarios or names
    unknown = [name for name in chosen if name not in names]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(names)}")
    print(f"# ocset-scheduler fault campaign, seed {args.seed}, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
          f"{os.cpu_count()} cores", flush=True)
    failed = []
    for name in chosen:
        log(f"{name}: starting")
        start = time.monotonic()
        try:
            figures = runs[name]()
        except Exception as error:  # a scenario that breaks is a failure, and the rest still run
            figures = {"scenario": name, "error": repr(error), "ok": False}
        figures["seconds"] = round(time.monotonic() - start, 1)
        print(json.dumps(figures, indent=2, default=str), flush=True)
        if not figures["ok"]:
            failed.append(name)
    print(f"# {len(chosen) - len(failed)} of {len(chosen)} scenarios met every expectation"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Load: N simultaneous browser-free sessions drive the backend services for D seconds on SQLite and PostgreSQL,
then the ledger is verified and the risk index checked.

    python bench/load.py [--sessions 20] [--seconds 30] [--scale 0.01] [--postgres URL] [--skip-sqlite]

Each session is a thread doing what a visitor or a manager does on the pages, through the same backend calls:
  register  - the event's QR form: register_subject with the event and a choice per purpose (a submission id, as
              the form sends), then the personal link the form hands out (create_personal_link);
  change    - a tap on the personal-link page: resolve the link, read the person's statuses, then withdraw a
              purpose that is given or give one that is not, through the page's own service (change_consent: the
              ledger entry, the risk index and the receipt row in one transaction);
  my page   - opening the personal-link page: resolve the link, statuses, texts and purposes;
  dashboard - the manager's at-risk page: risk.overview and risk.critical_assets.
The sessions share one Database (one engine and its connection pool), as the sessions of one portal server do.
Before the run the database gets a small synthetic library from bench/dashboard.py's `fill` (at --scale 0.01:
1,000 photos, 3,000 detections, 500 people, 5,000 ledger entries, published photos) and a personal link for every
person, so the dashboard has figures to compute and the changes land on people in photos. The receipt's PDF is not
rendered on the request path (the first download or `jobs run` makes it), so none is rendered here either.

The sessions share one connection pool sized as the portal's (PORTAL_DB_POOL_SIZE 10 + PORTAL_DB_MAX_OVERFLOW 20,
30 s wait): with more sessions than connections, a request waits for one (back-pressure) instead of failing.

Printed per operation: count, throughput, p50 and p95 latency, refusals (a change another session's change made
pointless, refused cleanly by the transition rules) and errors (anything else; there should be none). Exit status
1 on any error, a chain that does not verify or a risk index out of step.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text

from bench.dashboard import fill
from bench.databases import add_database_options, each_database
from portal.backend.consent import ledger
from portal.backend.consent.purposes import current_texts, list_purposes
from portal.backend.consent.records import Context, Decision
from portal.backend.consent.services import change_consent
from portal.backend.consent.status import subject_consents
from portal.backend.events.store import create_event
from portal.backend.people.subjects import link_token
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConsentStateError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.backend.risk.figures import critical_assets, overview
from tests.factories import create_personal_link, make_portal, register_subject, resolve_personal_link

SECRET = "bench-load-secret-0123456789abcdef"  # signs the bench's own links only
BASE_URL = "https://portal.example.org"
CODES = ("internal", "website", "social_media", "print", "partners")
# Share of each operation in a session's mix: more page views than changes, a steady stream of registrations.
MIX = (("register", 20), ("change", 25), ("my page", 35), ("dashboard", 20))


@dataclass
class Tally:
    """Latencies (seconds) and outcomes of one operation type, shared by the sessions."""

    times: list[float] = field(default_factory=list)
    refused: int = 0
    errors: list[str] = field(default_factory=list)


class People:
    """The personal links the sessions pick from; registrations add to them."""

    def __init__(self, links: list[tuple[str, str]]) -> None:
        self._links = links
        self._lock = threading.Lock()

    def add(self, subject_id: str, token: str) -> None:
        with self._lock:
            self._links.append((subject_id, token))

    def pick(self, rng: random.Random) -> tuple[str, str]:
        with self._lock:
            return rng.choice(self._links)

    def __len__(self) -> int:
        return len(self._links)


def prepare(db: Database, scale: float) -> tuple[int, People, dict[str, int]]:
    """The library, an event with a QR form for the five purposes, and a personal link for every person."""
    counts = fill(db, scale)
    with db.write() as conn:
        risk_index.rebuild(conn)
        event_id = create_event(conn, name="Load test festival", purpose_codes=CODES, now=utcnow()).id
        ids = list(conn.execute(select(subjects.c.id).order_by(subjects.c.id)).scalars())
        if db.dialect == "postgresql":
            conn.execute(text("ANALYZE"))
    links = []
    for sid in ids:
        url = create_personal_link(db, subject_id=sid, secret=SECRET, base_url=BASE_URL, ttl_days=30)
        links.append((sid, link_token(url)))
    return event_id, People(links), counts


def register(db: Database, rng: random.Random, event_id: int, people: People, n: int) -> bool:
    """A QR-form submission, then the personal link the form shows."""
    locale = rng.choice(("en", "sv"))
    reg = register_subject(
        db,
        name=f"Visitor {n}",
        email=f"visitor{n}@example.org",
        locale=locale,
        event_id=event_id,
        choices={code: rng.random() < 0.7 for code in CODES},
        context=Context(
            channel="qr_form",
            actor="subject",
            event_id=event_id,
            evidence={"act": "checkbox", "form": "event", "ui_locale": locale},
            submission_id=str(uuid.uuid4()),
            locale=locale,
        ),
    )
    url = create_personal_link(db, subject_id=reg.subject.id, secret=SECRET, base_url=BASE_URL, ttl_days=30)
    people.add(reg.subject.id, link_token(url))
    return True


def change(portal: Portal, rng: random.Random, people: People) -> bool:
    """Open the personal link, then tap withdraw on a given purpose or give on another one."""
    _, token = people.pick(rng)
    db = portal.db
    subject = resolve_personal_link(db, token=token, secret=SECRET)
    with db.read() as conn:
        statuses = {s.purpose_code: s for s in subject_consents(conn, subject.id, utcnow()) if s.scope_asset_id is None}
    code = rng.choice(CODES)
    action = "withdrawn" if statuses[code].allowed else "given"
    change_consent(
        portal,
        actor=Actor.subject(subject.id),
        subject_id=subject.id,
        decisions=[Decision(code, action)],
        channel="portal",
        locale=subject.locale,
    )
    return True


def my_page(db: Database, rng: random.Random, people: People) -> bool:
    """What the personal-link page reads before it shows anything."""
    _, token = people.pick(rng)
    subject = resolve_personal_link(db, token=token, secret=SECRET)
    with db.read() as conn:
        statuses = subject_consents(conn, subject.id, utcnow())
        texts = current_texts(conn, subject.locale)
        purposes = list_purposes(conn)
    return bool(statuses and texts and purposes)


def dashboard(db: Database) -> bool:
    """The manager's at-risk page."""
    with db.read() as conn:
        figures, _events = overview(conn)
        critical_assets(conn)
    return bool(figures)


def session(
    portal: Portal,
    seed: int,
    seconds: float,
    start: threading.Barrier,
    event_id: int,
    people: People,
    tallies: dict[str, Tally],
) -> None:
    """One visitor or manager after another for `seconds` after the common start."""
    rng = random.Random(seed)
    db = portal.db
    names = [name for name, _ in MIX]
    weights = [w for _, w in MIX]
    n = 0
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        op = rng.choices(names, weights)[0]
        n += 1
        began = time.perf_counter()
        try:
            if op == "register":
                register(db, rng, event_id, people, seed * 1_000_000 + n)
            elif op == "change":
                change(portal, rng, people)
            elif op == "my page":
                my_page(db, rng, people)
            else:
                dashboard(db)
        except ConsentStateError:
            # Another session changed the same consent between this one's read and its tap: a clean refusal.
            tallies[op].refused += 1
        except Exception as exc:
            tallies[op].errors.append(f"{type(exc).__name__}: {exc}")
        else:
            tallies[op].times.append(time.perf_counter() - began)


def _pct(sorted_times: list[float], q: float) -> float:
    """Nearest-rank percentile in milliseconds."""
    if not sorted_times:
        return float("nan")
    return sorted_times[min(len(sorted_times) - 1, max(0, round(q * len(sorted_times) + 0.5) - 1))] * 1000


def run(db: Database, label: str, sessions: int, seconds: float, scale: float) -> bool:
    """Prepare, run the sessions, print the figures and the checks; True when everything held."""
    began = time.perf_counter()
    event_id, people, counts = prepare(db, scale)
    with db.read() as conn:
        entries_before = conn.execute(text("SELECT count(*) FROM consent_ledger")).scalar_one()
    print(
        f"{label}: {', '.join(f'{v:,} {k}' for k, v in counts.items())}, {len(people):,} personal links "
        f"(prepared in {time.perf_counter() - began:.0f} s); {sessions} sessions for {seconds:.0f} s"
    )
    tallies: dict[str, Tally] = defaultdict(Tally)
    start = threading.Barrier(sessions + 1)
    blobs = tempfile.TemporaryDirectory()
    portal = make_portal(db, Path(blobs.name), secret_key=SECRET)
    threads = [
        threading.Thread(target=session, args=(portal, i + 1, seconds, start, event_id, people, tallies))
        for i in range(sessions)
    ]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    blobs.cleanup()
    print(f"{'operation':<10} {'count':>7} {'ops/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'refused':>8} {'errors':>7}")
    everything: list[float] = []
    errors: list[str] = []
    for name, _ in MIX:
        tally = tallies[name]
        times = sorted(tally.times)
        everything += times
        errors += tally.errors
        print(
            f"{name:<10} {len(times):>7,} {len(times) / elapsed:>8.1f} {_pct(times, 0.5):>8.1f} "
            f"{_pct(times, 0.95):>8.1f} {tally.refused:>8} {len(tally.errors):>7}"
        )
    everything.sort()
    print(
        f"{'all':<10} {len(everything):>7,} {len(everything) / elapsed:>8.1f} {_pct(everything, 0.5):>8.1f} "
        f"{_pct(everything, 0.95):>8.1f} {sum(t.refused for t in tallies.values()):>8} {len(errors):>7}"
    )
    for message in sorted(set(errors))[:5]:
        print(f"  error: {message}")
    report = ledger.verify(db)
    with db.read() as conn:
        problems = risk_index.check(conn)
        written = conn.execute(select(func.count()).select_from(subjects)).scalar_one() - counts["subjects"]
    print(
        f"{label}: ledger verify {'ok' if report.ok else 'FAILED: ' + str(report.problem)} "
        f"({report.checked:,} entries, {report.checked - entries_before:,} written during the run; "
        f"{written:,} people registered); risk index check "
        f"{'clean' if not problems else 'FAILED: ' + '; '.join(problems)}"
    )
    return report.ok and not problems and not errors


def main() -> None:
    """Run on SQLite and, when a URL is given, on PostgreSQL."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20, help="simultaneous sessions (threads)")
    ap.add_argument("--seconds", type=float, default=30, help="how long the sessions run on each database")
    ap.add_argument("--scale", type=float, default=0.01, help="library size, as bench/dashboard.py's --scale")
    add_database_options(ap)
    args = ap.parse_args()
    ok = True
    for label, db in each_database(args):
        ok = run(db, label, args.sessions, args.seconds, args.scale) and ok
        print()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""The digest loop: find due schedules, claim each, build its digest, hand it to a Publisher.

One pass (`Scheduler.run_due`) does, for every due schedule this process can publish to:

1. claim it in the database (one atomic UPDATE; another process gets nothing; on
   PostgreSQL several processes each take a different one, FOR UPDATE SKIP LOCKED);
2. refresh its threads that have a source through `Services.refresh`: a forum URL, or a
   chat (a Matrix room, a Discord thread) through the running adapter's reader, so a
   digest of a chat sees its new messages (a failing source becomes a note in the digest,
   never an error for the others);
3. build the digest off the event loop: its summary through `services.analyses` (a worker
   process for big threads, a worker thread for small ones, cached per thread revision),
   the counting in a worker thread, reading only the posts after the mark;
4. record "about to publish" for the slot, publish, then store the new marks, the next run
   time, the released claim and the record of the post in ONE transaction.

Nothing new and no "quiet line" wanted: nothing is posted, the slot is still consumed.
After downtime the first due slot fires once and the next run is planned after *now*, so
missed slots collapse into one digest that says how many it stands for.

Delivery guarantee. A crash between publishing and the final commit leaves the slot
claimed; when the lease expires it is claimed again and published again with the same
idempotency key, `digest-<schedule id>-<slot>`. A Publisher that sets
`accepts_idempotency_key = True` receives that key and can make the retry a no-op (Matrix:
the transaction id of PUT /send; Discord: `nonce` with `enforce_nonce`). Any other
Publisher (the CLI's stdout one) can show the digest twice in that one case: at most one
duplicate, and the retry says so in a note. So does a retry later than the platform keeps
its keys (`idempotency_window`: Discord checks a nonce for a few minutes only).

Errors in one schedule are logged and stored on it (with a back-off before the next try);
the loop goes on. A `TargetGone` from the Publisher (403/404) disables the schedule and
tells an admin when the Publisher offers `notify_admin`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bot.core.digest import (
    Digest,
    DigestSummary,
    ThreadDigest,
    answered_edges,
    digest_answer,
    live_posts_after,
    old_posts_named,
    shown_numbers,
    thread_digest,
)
from bot.core.models import QuoteEdge, StoredPost, StoredThread
from bot.core.numbering import standing
from bot.core.render import Answer
from bot.core.schedule import next_run, slots_between
from bot.errors import NotFound, ThreadwiseError
from storage.digests import (
    DEFAULT_LEASE,
    Claim,
    ClaimLost,
    DigestRepository,
    Schedule,
    ScheduledThread,
)

if TYPE_CHECKING:
    from bot.usecases.services import Services

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[Any]]
RunStatus = Literal["sent", "empty", "failed", "target_gone", "claim_lost"]

RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
MISSED_COUNT_LIMIT = 100
_REFRESHABLE = ("http://", "https://", "matrix:")
"""Sources a digest re-reads first: forum URLs, Discord jump links, Matrix rooms."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class TargetGone(Exception):
    """The target channel or room is gone or closed to the bot (HTTP 403 or 404).

    Raise it from `Publisher.publish`; the scheduler then disables the schedule after this
    one failure (no retries that would pile up 403s) and tells an admin where possible.
    """

    def __init__(self, target: str, reason: str = "") -> None:
        super().__init__(f"{target}: {reason}" if reason else target)
        self.target = target
        self.reason = reason


class Publisher(Protocol):
    """Posts a digest to a target of one platform; Discord, Matrix and the CLI have one each.

    `publish(target, answer)` sends `answer` (render it for the platform: embeds, HTML,
    text; mentions disabled) to `target`, a channel id, room id or "local", and returns
    the platform's message id (None if it has none). Raise `TargetGone` on 403/404; any
    other exception counts as a temporary failure and the slot is retried later.

    Optional extras, found with getattr so a plain Publisher needs neither:

    * `accepts_idempotency_key = True`: publish is then called as
      `publish(target, answer, idempotency_key=KEY)`; the same KEY for a retry of the
      same slot means "send at most once" (see the module docstring).
    * `async def notify_admin(scope: str, text: str) -> None`: told when a schedule was
      disabled because its target is gone.
    """

    async def publish(self, target: str, answer: Answer) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one due schedule did in a pass."""

    schedule_id: int
    scope: str
    target: str
    slot: datetime
    status: RunStatus
    digest: Digest | None = None
    message_id: str | None = None
    attempt: int = 1
    missed: int = 1
    """Scheduled slots this run stands for (more than 1 after downtime)."""
    next_run_at: datetime | None = None
    error: str | None = None


def platform_of(scope: str) -> str:
    """ "local", "discord" or "matrix": which Publisher serves a scope."""
    return scope.split(":", 1)[0]


# --- building a digest ---------------------------------------------------------------------


async def build_digest(
    services: Services,
    scope: str,
    threads: Sequence[ScheduledThread],
    *,
    refresh: bool = True,
) -> tuple[Digest, dict[int, int]]:
    """The digest of `threads` since their marks, and thread id → next mark.

    Threads with a source (a forum URL, a chat) are refreshed first; a failure is a note in
    the digest. Only the posts after each mark are read (plus the few old posts its replies
    answer): the digest is about them, and a 10,000-post thread read whole costs the loop
    ~0.4 s.
    """
    parts: list[ThreadDigest] = []
    marks: dict[int, int] = {}
    algorithm = services.settings.summary.algorithm
    for item in threads:
        notes: list[str] = []
        if refresh and item.source_url and item.source_url.startswith(_REFRESHABLE):
            try:
                await services.refresh(scope, item.name)
            except ThreadwiseError as exc:
                notes.append(f"Could not refresh from its source: {exc}")
            except Exception as exc:
                log.warning("refreshing %s/%s failed", scope, item.name, exc_info=True)
                notes.append(f"Could not refresh from its source ({type(exc).__name__}).")
        try:
            thread, posts, edges = await _read_after(services, scope, item.name, item.mark)
            edges = standing(posts, edges)[1]  # no replies from or to deleted posts
            summary = await _digest_summary(services, thread, posts, edges, item.mark, algorithm)
        except NotFound:
            continue  # forgotten meanwhile; the schedule lost that thread with it
        part = await asyncio.to_thread(
            thread_digest,
            thread,
            posts,
            edges,
            item.mark,
            algorithm=algorithm,
            notes=notes,
            summary=summary,
        )
        marks[item.thread_id] = part.last_post  # a place in the thread, whatever is shown
        if thread.forum_numbers:
            numbering = await services.numbering(thread)
            part = shown_numbers(part, numbering.show, numbering.shown_at)
        parts.append(part)
    return Digest(threads=tuple(parts)), marks


async def _read_after(
    services: Services, scope: str, name: str, mark: int
) -> tuple[StoredThread, list[StoredPost], list[QuoteEdge]]:
    """The thread, its posts after `mark` with the old posts the digest names, and who
    answered whom (quotes and replies): everything `thread_digest` needs, each post read
    once."""
    thread = await services.thread(scope, name)
    since = max(0, mark)
    posts = await services.threads.posts(scope, thread.name, since + 1)
    edges = answered_edges(
        await services.threads.edges(scope, thread.name),
        await services.threads.replies(scope, thread.name),
    )
    old: list[StoredPost] = []
    for number in old_posts_named(edges, since):
        found = await services.threads.post(scope, thread.name, number)
        if found is not None:
            old.append(found)
    return thread, [*old, *posts], edges


async def _digest_summary(
    services: Services,
    thread: StoredThread,
    posts: list[StoredPost],
    edges: list[QuoteEdge],
    mark: int,
    algorithm: str,
) -> DigestSummary:
    """The summary part of a digest through `services.analyses`: in the process pool for a
    big thread, cached per revision; nothing to do (and nothing cached) when nothing is new."""
    if not live_posts_after(posts, mark):
        return DigestSummary()

    async def loaded() -> tuple[list[StoredPost], list[QuoteEdge]]:
        return posts, edges  # already read: a small thread's summary reads nothing more

    return await services.analyses.digest(thread, mark, loaded, algorithm=algorithm)


async def preview(
    services: Services, scope: str, schedule_id: int, *, refresh: bool = True
) -> tuple[Schedule, Digest]:
    """`/digest now`: what the schedule would post now; nothing is stored or moved."""
    schedule = await DigestRepository(services.db).get(scope, schedule_id)
    if schedule is None:
        raise NotFound(f"no digest #{schedule_id} here")
    digest, _ = await build_digest(services, scope, schedule.threads, refresh=refresh)
    return schedule, digest


# --- the loop ------------------------------------------------------------------------------


class Scheduler:
    """Runs due digests for the platforms it has a Publisher for.

    `publishers` maps a platform ("local", "discord", "matrix") to its Publisher; schedules
    of other platforms are left to the process that has theirs. `clock` and `sleep` are
    injectable so tests can move time.
    """

    def __init__(
        self,
        services: Services,
        publishers: Mapping[str, Publisher],
        *,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
        lease: timedelta = DEFAULT_LEASE,
        poll_seconds: float = 60.0,
        repository: DigestRepository | None = None,
    ) -> None:
        self.services = services
        # Kept by reference: chat adapters register their Publisher once they are connected.
        self.publishers = publishers
        self.repo = repository or DigestRepository(services.db, clock=clock)
        self._clock = clock
        self._sleep = sleep
        self._lease = lease
        self._poll = poll_seconds

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Pass after pass until `stop` is set or the task is cancelled."""
        while stop is None or not stop.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("a digest pass failed; trying again later")
            await self._sleep(await self._delay())

    async def _delay(self) -> float:
        """Seconds until the earliest schedule may be due, between 1 s and the poll interval."""
        try:
            nxt = await self.repo.next_due_at(list(self.publishers))
        except Exception:
            log.exception("cannot read the next digest time")
            return self._poll
        if nxt is None:
            return self._poll
        wait = (nxt - self._clock()).total_seconds()
        return min(self._poll, max(1.0, wait))

    async def run_due(self, now: datetime | None = None) -> list[RunReport]:
        """Run every schedule due at `now` once (the CLI's `digest run-due` calls this).

        Claims the earliest due schedule, runs it, and claims the next, until none is left:
        processes running this together each take different schedules (storage's
        `claim_next`), so every due digest is sent once, by whichever process got it.
        """
        now = now or self._clock()
        await self.repo.plan_missing(now)
        reports: list[RunReport] = []
        handled: set[int] = set()
        platforms = list(self.publishers)
        while claim := await self.repo.claim_next(now, platforms, self._lease):
            if claim.schedule.id in handled:  # still due after its run: never loop on it
                await self.repo.release(claim)
                break
            handled.add(claim.schedule.id)
            try:
                report = await self._run_claimed(claim, now)
            except Exception:
                log.exception("digest #%s failed", claim.schedule.id)
                continue
            reports.append(report)
        return reports

    async def run_one(self, schedule_id: int, now: datetime) -> RunReport | None:
        """Claim and run one schedule; None when it is not due or another worker has it."""
        claim = await self.repo.claim(schedule_id, now, self._lease)
        if claim is None:
            return None
        return await self._run_claimed(claim, now)

    async def _run_claimed(self, claim: Claim, now: datetime) -> RunReport:
        schedule_id = claim.schedule.id
        state = {"publishing": False}
        try:
            return await self._deliver(claim, now, state)
        except asyncio.CancelledError:
            # Before publishing, give the slot back. Once publish has started the message may
            # be out, so let the lease expire: the retry then carries the same idempotency key.
            if not state["publishing"]:
                await self.repo.release(claim)
            raise
        except ClaimLost:
            log.warning("digest #%s: the claim expired before publishing", schedule_id)
            return self._report(claim, "claim_lost")
        except Exception as exc:
            log.exception("digest #%s failed", schedule_id)
            error = str(exc) if isinstance(exc, ThreadwiseError) else type(exc).__name__
            retry = now + _backoff(claim.schedule.failures)
            await self.repo.fail(claim, error, retry)
            return self._report(claim, "failed", error=error, next_run_at=retry)

    async def _deliver(self, claim: Claim, now: datetime, state: dict[str, bool]) -> RunReport:
        schedule = claim.schedule
        publisher = self.publishers[platform_of(schedule.scope)]
        digest, marks = await build_digest(self.services, schedule.scope, schedule.threads)
        missed = slots_between(claim.slot, now, schedule.cadence, MISSED_COUNT_LIMIT)
        if missed > 1:
            more = "+" if missed >= MISSED_COUNT_LIMIT else ""
            digest = digest.with_notes(
                f"threadwise was offline: this digest stands for {missed}{more} scheduled ones."
            )
        upcoming = next_run(max(now, claim.slot), schedule.cadence)
        covered = {t.name: c for t in digest.threads if (c := t.covered) is not None}
        if not digest.has_news and not schedule.quiet_line:
            await self.repo.complete(
                claim, marks=marks, next_run_at=upcoming, status="empty", covered=covered
            )
            return self._report(claim, "empty", digest=digest, missed=missed, next_run_at=upcoming)

        delivery = await self.repo.begin_delivery(claim, digest.new_posts, covered)
        keyed = bool(getattr(publisher, "accepts_idempotency_key", False))
        if delivery.attempt > 1 and not _dedup_covers(publisher, delivery, now):
            digest = digest.with_notes(
                "Sent again: an earlier delivery of this digest was interrupted, so it may "
                "appear twice."
            )
        answer = digest_answer(digest)
        state["publishing"] = True
        try:
            if keyed:
                message_id = await publisher.publish(  # type: ignore[call-arg]
                    schedule.target, answer, idempotency_key=claim.key
                )
            else:
                message_id = await publisher.publish(schedule.target, answer)
        except TargetGone as gone:
            reason = f"the target is gone or forbidden ({gone})"
            await self.repo.disable(claim, reason)
            await self._tell_admin(publisher, schedule, reason)
            return self._report(claim, "target_gone", digest=digest, error=reason)
        stored = await self.repo.complete(
            claim,
            marks=marks,
            next_run_at=upcoming,
            status="sent",
            message_id=message_id,
            new_posts=digest.new_posts,
            covered=covered,
        )
        if not stored:
            log.warning("digest #%s was published but its claim was lost", schedule.id)
        return self._report(
            claim,
            "sent" if stored else "claim_lost",
            digest=digest,
            message_id=message_id,
            attempt=delivery.attempt,
            missed=missed,
            next_run_at=upcoming,
        )

    async def _tell_admin(self, publisher: Publisher, schedule: Schedule, reason: str) -> None:
        notify = getattr(publisher, "notify_admin", None)
        if notify is None:
            return
        names = ", ".join(t.name for t in schedule.threads)
        text = (
            f"The digest #{schedule.id} of {names} to {schedule.target} was turned off: "
            f"{reason}. Fix the permissions or pick another target, then resume it."
        )
        try:
            await notify(schedule.scope, text)
        except Exception:
            log.warning("could not tell an admin about digest #%s", schedule.id, exc_info=True)

    @staticmethod
    def _report(claim: Claim, status: RunStatus, **kw: Any) -> RunReport:
        s = claim.schedule
        return RunReport(
            schedule_id=s.id, scope=s.scope, target=s.target, slot=claim.slot, status=status, **kw
        )


def _dedup_covers(publisher: Any, delivery: Any, now: datetime) -> bool:
    """Whether the platform still recognises the first try's idempotency key: Discord checks
    a nonce only for a few minutes, Synapse keeps transaction ids for about half an hour. A
    retry after that (a crash, then a late restart) may show the digest twice: say so."""
    if not getattr(publisher, "accepts_idempotency_key", False):
        return False
    window = getattr(publisher, "idempotency_window", None)
    if window is None or delivery.first_started is None:
        return True
    return now - delivery.first_started <= window


def _backoff(failures: int) -> timedelta:
    """1, 2, 4 … minutes after each failure in a row, at most an hour."""
    return min(RETRY_MAX, RETRY_FIRST * (2 ** min(failures, 10)))

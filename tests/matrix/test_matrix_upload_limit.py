"""`!tw thread ingest` as a reply to a file: the upload limit holds whatever the event claims.

The size in an m.file event's `info` is whatever the sender wrote, so the bot must not trust
it: it stops reading a download once more than [storage] max_upload_bytes have arrived. Two
kinds of test:

* against a homeserver stand-in on 127.0.0.1 that can lie (no Content-Length, a body far
  larger than the event says), with the bot's own event path (MatrixBot → router → Handlers),
  so the test can see how much of the file was ever sent;
* end to end against the session's real Synapse and the bot process started by conftest.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from nio import UploadResponse

from bot.matrix_app.ratelimit import RetryPolicy
from bot.settings import Settings
from tests.matrix.conftest import Accounts
from tests.matrix.homeserver import BotProcess, Homeserver
from tests.matrix.standin import ALICE, ROOMS, FakeHomeserver, Room, running_bot, serving
from tests.matrix.test_matrix_e2e import body, command, db_rows, person, room_with_bot

MiB = 1024 * 1024
LIMIT = 1 * MiB
"""[storage] max_upload_bytes for the stand-in tests."""
HUGE = 64 * MiB
"""More than a loopback connection can buffer: a body this size is only ever sent in full
when the bot reads it all."""
CHUNK = b"0123456789abcdef" * 4096  # 64 KiB

THREAD = json.dumps(
    {
        "title": "Bike shed paint",
        "posts": [
            {"author": "Noor", "text": "The shed by the school gate needs paint before winter."},
            {"author": "Wim", "text": "Green matches the fence, and the hardware shop has it."},
            {"author": "Noor", "text": "Green it is; I will bring brushes on Saturday morning."},
        ],
    }
).encode()


# --- a homeserver stand-in that can lie about sizes -------------------------------------------


@dataclass
class Media:
    """What the stand-in serves for one media id."""

    data: bytes = b""
    repeat_to: int | None = None
    """Serve CHUNK over and over up to this many bytes instead of `data`."""
    content_length: bool = False
    """Send an (honest) Content-Length; otherwise the body is chunked, its size unsaid."""
    status: int = 200
    rate_limited: int = 0
    """Answer this many requests with 429 first."""
    hang_up_after: int | None = None
    """Drop the connection once this many body bytes are out."""
    requests: int = 0
    sent: int = 0
    """Body bytes written so far."""
    finished: bool = False
    """The whole body was written: nobody stopped reading it."""

    @property
    def size(self) -> int:
        return self.repeat_to if self.repeat_to is not None else len(self.data)


@dataclass
class StandIn(FakeHomeserver):
    """The digest tests' stand-in, plus m.file events and the media download endpoint."""

    media: dict[str, Media] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Event id → the content of an m.file event."""

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.get(f"{ROOMS}/event/{{event}}", self.event),
            web.get("/_matrix/client/v1/media/download/{server}/{media}", self.download),
        ]

    def file(self, event_id: str, media_id: str, media: Media, **info: Any) -> None:
        """An m.file event pointing at `media`; `info` is what the sender declares."""
        self.media[media_id] = media
        url = f"mxc://example.org/{media_id}"
        content: dict[str, Any] = {"msgtype": "m.file", "body": "thread.json", "url": url}
        if info:
            content["info"] = info
        self.files[event_id] = content

    async def event(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event"]
        content = self.files.get(event_id)
        if content is None:
            return web.json_response({"errcode": "M_NOT_FOUND", "error": "no event"}, status=404)
        return web.json_response(
            {
                "type": "m.room.message",
                "sender": ALICE,
                "event_id": event_id,
                "origin_server_ts": 1,
                "room_id": request.match_info["room"],
                "content": content,
            }
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        assert request.headers.get("Authorization") == "Bearer test-token"
        assert request.match_info["server"] == "example.org"
        media = self.media[request.match_info["media"]]
        media.requests += 1
        if media.rate_limited:
            media.rate_limited -= 1
            refusal = {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests"}
            return web.json_response(refusal, status=429, headers={"Retry-After": "0"})
        if media.status != 200:
            missing = {"errcode": "M_NOT_FOUND", "error": "Not found"}
            return web.json_response(missing, status=media.status)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if media.content_length:
            response.content_length = media.size
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            while media.sent < media.size:
                piece = (
                    CHUNK[: media.size - media.sent]
                    if media.repeat_to is not None
                    else media.data[media.sent : media.sent + len(CHUNK)]
                )
                await response.write(piece)
                media.sent += len(piece)
                if media.hang_up_after is not None and media.sent >= media.hang_up_after:
                    assert request.transport is not None
                    request.transport.close()
                    return response
            await response.write_eof()
            media.finished = True
        except (ConnectionError, asyncio.CancelledError):
            pass  # the reader hung up: exactly what a bounded download does
        return response


async def ingest_reply(room: Room, file_event: str, name: str = "shed") -> str:
    """Alice answers `file_event` with `!tw thread ingest`; returns what the bot said."""
    reply = {"m.relates_to": {"m.in_reply_to": {"event_id": file_event}}}
    return await room.say(f"!tw thread ingest --name {name}", **reply)


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    server = StandIn()
    storage = dataclasses.replace(Settings().storage, max_upload_bytes=LIMIT)
    policy = RetryPolicy(max_retries=2, default_wait=0.0)
    async with (
        serving(server) as url,
        running_bot(
            tmp_path / "t.db", server, url, Settings(storage=storage), policy=policy
        ) as room,
    ):
        yield room


def served(room: Room) -> StandIn:
    assert isinstance(room.fake, StandIn)
    return room.fake


TOO_BIG_UNSAID = "the file is more than 1.0 MB; the limit is 1.0 MB ([storage] max_upload_bytes)"


@pytest.mark.parametrize(
    "info",
    [{"size": 120, "mimetype": "application/json"}, {}],
    ids=["declared small", "size not declared"],
)
async def test_a_file_larger_than_it_claims_is_cut_off_and_refused(
    room: Room, info: dict[str, Any]
) -> None:
    media = Media(repeat_to=HUGE)  # chunked: nothing says how long it is
    served(room).file("$big", "big", media, **info)
    answer = await ingest_reply(room, "$big")
    assert TOO_BIG_UNSAID in answer
    assert media.requests == 1
    assert not media.finished and media.sent < HUGE // 2, media.sent  # it stopped reading
    assert await room.threads() == []


async def test_an_honest_content_length_over_the_limit_is_refused_before_reading(
    room: Room,
) -> None:
    media = Media(repeat_to=HUGE, content_length=True)
    served(room).file("$big", "big", media, size=300)
    answer = await ingest_reply(room, "$big")
    assert "the file is 64.0 MB; the limit is 1.0 MB ([storage] max_upload_bytes)" in answer
    assert not media.finished and media.sent < HUGE // 2
    assert await room.threads() == []


async def test_a_declared_size_over_the_limit_is_refused_without_a_download(room: Room) -> None:
    media = Media(data=THREAD)
    served(room).file("$claims", "claims", media, size=2 * MiB)
    answer = await ingest_reply(room, "$claims")
    assert "the file is 2.0 MB; the limit is 1.0 MB ([storage] max_upload_bytes)" in answer
    assert media.requests == 0
    assert await room.threads() == []


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
async def test_a_file_within_the_limit_is_stored(room: Room, content_length: bool) -> None:
    media = Media(data=THREAD, content_length=content_length)
    served(room).file("$shed", "shed", media)  # no declared size: fine when it is small
    answer = await ingest_reply(room, "$shed")
    assert "Stored" in answer and "3 posts" in answer, answer
    assert media.finished
    assert await room.threads() == ["shed"]


async def test_exactly_the_limit_is_still_accepted(room: Room) -> None:
    thread = json.loads(THREAD)
    thread["posts"][0]["text"] += " " * (LIMIT - len(THREAD))  # each space is one more byte
    raw = json.dumps(thread).encode()
    assert len(raw) == LIMIT
    served(room).file("$full", "full", Media(data=raw), size=LIMIT)
    answer = await ingest_reply(room, "$full", name="full")
    assert "Stored" in answer, answer
    assert await room.threads() == ["full"]


async def test_a_rate_limited_download_is_retried_and_failures_are_named(
    room: Room,
) -> None:
    slow = Media(data=THREAD, rate_limited=1)
    served(room).file("$slow", "slow", slow)
    assert "Stored" in await ingest_reply(room, "$slow")
    assert slow.requests == 2

    served(room).file("$gone", "gone", Media(status=404))
    answer = await ingest_reply(room, "$gone", name="gone")
    assert "could not download the file: Not found" in answer

    served(room).file("$cut", "cut", Media(repeat_to=LIMIT // 2, hang_up_after=len(CHUNK)))
    answer = await ingest_reply(room, "$cut", name="cut")
    assert "the file download broke off" in answer, answer
    assert await room.threads() == ["shed"]


# --- end to end, against the session's Synapse ------------------------------------------------


async def test_e2e_a_file_bigger_than_declared_is_refused_and_nothing_is_stored(
    synapse: Homeserver, accounts: Accounts, bot: BotProcess
) -> None:
    limit = Settings().storage.max_upload_bytes  # the bot runs with the default
    data = os.urandom(limit + 64 * 1024)
    async with person(synapse, accounts.alice) as alice:
        room_id = await room_with_bot(alice, accounts)
        scope = f"matrix:{room_id}"
        up, _ = await alice.client.upload(
            io.BytesIO(data), content_type="text/plain", filename="big.txt", filesize=len(data)
        )
        assert isinstance(up, UploadResponse), up
        for label, info in (("small", {"mimetype": "text/plain", "size": 512}), ("none", None)):
            extra = {"url": up.content_uri, **({"info": info} if info else {})}
            file_event = await alice.send(room_id, "big.txt", msgtype="m.file", **extra)
            reply = {"m.relates_to": {"m.in_reply_to": {"event_id": file_event}}}
            refused = body(await command(alice, room_id, "!tw thread ingest --name big", **reply))
            assert "the limit is 10.0 MB ([storage] max_upload_bytes)" in refused, (label, refused)
            assert "the file is 10.1 MB" in refused, (label, refused)
        assert db_rows(bot.db, "SELECT name FROM threads WHERE scope = ?", scope) == []

        small = await alice.upload_file(room_id, THREAD, "shed.json", "application/json")
        reply = {"m.relates_to": {"m.in_reply_to": {"event_id": small}}}
        stored = body(await command(alice, room_id, "!tw thread ingest --name shed", **reply))
        assert "Stored" in stored, stored
        assert db_rows(bot.db, "SELECT name FROM threads WHERE scope = ?", scope) == [("shed",)]

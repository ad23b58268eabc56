"""Work that is cheap for small inputs and slow for big ones, kept off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

OFF_LOOP_SIZE = 256 * 1024
"""Inputs larger than this (bytes or characters) are handled in a worker thread: decoding or
parsing a few MB takes a tenth of a second the event loop should spend answering."""


async def off_loop_if_big(size: int, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, in a worker thread when `size` makes it slow; inline when
    small, where the thread hop would cost more than the work."""
    if size > OFF_LOOP_SIZE:
        return await asyncio.to_thread(func, *args, **kwargs)
    return func(*args, **kwargs)

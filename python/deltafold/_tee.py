"""Forward a stream's bytes untouched and fold them on the side: :func:`tee` and :func:`atee`.

A gateway's first duty is the byte path: whatever happens to the fold (a malformed chunk, a
limit, an in-band error, an input that is not a stream at all), every chunk reaches the client
unchanged and in order. So the fold here never raises into the loop that forwards: what went
wrong is kept on ``.error`` and ``.problems``, and the summary says how far the fold got.

``on_done(summary)`` is the one place to log or bill a response, and it is called exactly once
however the stream ends: at the end of input, when the consumer stops early (``break``,
``close()``, garbage collection of the generator), when the upstream iterator raises, or when
the task is cancelled. The summary of a stream that did not reach its end marker has
``status: "incomplete"``.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from deltafold._core import StreamParser
from deltafold.errors import DeltafoldError, Problem

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from deltafold._options import Options

__all__ = ["AsyncTee", "SideFold", "Tee", "atee", "tee"]

_log = logging.getLogger("deltafold")

#: A forwarded chunk: returned exactly as it came; bytes-like or str (folded as UTF-8).
Chunk = TypeVar("Chunk", bytes, bytearray, memoryview, str)

OnDone = Callable[[dict[str, Any]], object]


class SideFold:
    """The fold beside a byte path: :meth:`feed` never raises, :meth:`close` runs once.

    Used by :func:`tee`, :func:`atee` and ``python -m deltafold.gateway``. By default bad chunks
    are skipped (``on_error="skip"``) so that a stream with one malformed chunk still yields its
    usage; any other error the parser raises (a limit, an in-band API error, an input that is
    not an event stream) stops the fold, not the forwarding, and is kept on :attr:`error`.
    """

    __slots__ = ("_done", "_on_done", "_parser", "_result", "_summary", "bytes", "error")

    def __init__(
        self, on_done: OnDone | None = None, *, parser_class: Any = StreamParser, **options: Any
    ) -> None:
        options.setdefault("on_error", "skip")
        # Built before any byte flows, so a bad option raises to the caller at once.
        # ``parser_class``: the twin's StreamParser (deltafold.reference) runs under the same tee.
        self._parser: StreamParser = parser_class(**options)
        self._on_done = on_done
        self._done = False
        self._result: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        #: Bytes seen so far (UTF-8 bytes for str chunks).
        self.bytes = 0
        #: The error that stopped the fold (or that ``finish`` raised), else ``None``.
        self.error: Exception | None = None

    def feed(self, chunk: bytes | bytearray | memoryview | str) -> None:
        """Fold one chunk; never raises."""
        data: bytes
        if isinstance(chunk, bytes):
            data = chunk
        elif isinstance(chunk, str):
            data = chunk.encode()
        else:
            data = bytes(chunk)
        self.bytes += len(data)
        if self.error is not None or self._done:
            return
        try:
            self._parser.feed(data)
        except Exception as error:  # the fold must never break the byte path
            self.error = error

    def close(self, *, ended: bool) -> dict[str, Any]:
        """End the fold once: ``ended`` says the input really ended (rather than was cut off).

        Computes the result and the summary, calls ``on_done(summary)`` the first time, and
        returns the summary. A callback that raises is logged (logger ``"deltafold"``), never
        raised: by then every byte was forwarded, and the consumer must still see a clean end.
        """
        if self._done:
            return self.summary()
        self._done = True
        if ended and self.error is None:
            try:
                self._result = self._parser.finish()
            except Exception as error:
                self.error = error
        summary = self.summary()
        if self._on_done is not None:
            try:
                self._on_done(summary)
            except Exception:
                _log.exception("deltafold: the on_done callback raised")
        return summary

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (``on_done`` was called)."""
        return self._done

    @property
    def result(self) -> dict[str, Any]:
        """The folded object: the whole result once the stream ended cleanly, otherwise the
        state folded so far (the error's ``.partial``, or a snapshot)."""
        if self._result is not None:
            return self._result
        if isinstance(self.error, DeltafoldError) and self.error.partial is not None:
            return self.error.partial
        try:
            return self._parser.snapshot()
        except Exception:
            return {}

    @property
    def problems(self) -> list[Problem]:
        """Bad chunks that were skipped (or repaired), in order."""
        return list(self._parser.problems)

    @property
    def format(self) -> str | None:
        """The stream's format, once decided."""
        return self._parser.format

    @property
    def parser(self) -> StreamParser:
        """The underlying parser (read it, do not feed it)."""
        return self._parser

    def summary(self) -> dict[str, Any]:
        """The summary (docs/formats.md, "The summary"); final once :meth:`close` ran."""
        if self._summary is not None:
            return self._summary
        summary = self._parser.summary()
        if self._done:
            self._summary = summary
        return summary


class _TeeBase:
    """What :class:`Tee` and :class:`AsyncTee` share: the side fold's read-only view."""

    def __init__(
        self, on_done: OnDone | None, options: dict[str, Any], parser_class: Any = StreamParser
    ) -> None:
        self._fold = SideFold(on_done, parser_class=parser_class, **options)
        self._started = False

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a tee can be iterated only once")
        self._started = True

    @property
    def result(self) -> dict[str, Any]:
        """The folded object (the whole result, or the state folded so far)."""
        return self._fold.result

    @property
    def error(self) -> Exception | None:
        """The error that stopped the fold, if any; forwarding went on regardless."""
        return self._fold.error

    @property
    def problems(self) -> list[Problem]:
        """Bad chunks that were skipped (or repaired)."""
        return self._fold.problems

    @property
    def format(self) -> str | None:
        """The stream's format, once decided."""
        return self._fold.format

    @property
    def bytes(self) -> int:
        """Bytes forwarded so far."""
        return self._fold.bytes

    @property
    def done(self) -> bool:
        """Whether the tee has ended (``on_done`` was called)."""
        return self._fold.closed

    def summary(self) -> dict[str, Any]:
        """The summary of what was folded (``status`` ``"incomplete"`` if it stopped early)."""
        return self._fold.summary()


class Tee(_TeeBase, Generic[Chunk]):
    """Iterate it to forward the chunks; read ``.summary()``, ``.result`` beside or after.

    The generator that iteration creates is not kept by the tee, so a ``for`` loop left with
    ``break`` closes it (and so calls ``on_done``) as soon as the loop lets go of it; call
    :meth:`close` (or use ``with``) to end the tee explicitly.
    """

    def __init__(
        self,
        chunks: Iterable[Chunk],
        on_done: OnDone | None,
        options: dict[str, Any],
        parser_class: Any = StreamParser,
    ) -> None:
        super().__init__(on_done, options, parser_class)
        self._chunks: Iterable[Chunk] = chunks
        self._generator: weakref.ref[Generator[Chunk, None, None]] | None = None

    def __iter__(self) -> Generator[Chunk, None, None]:
        self._start()
        generator = self._forward()
        self._generator = weakref.ref(generator)
        return generator

    def _forward(self) -> Generator[Chunk, None, None]:
        fold = self._fold
        source = iter(self._chunks)
        ended = False
        try:
            for chunk in source:
                fold.feed(chunk)
                yield chunk
            ended = True
        finally:
            fold.close(ended=ended)
            if not ended:
                # Stop the upstream too (an httpx iterator releases its connection).
                close = getattr(source, "close", None)
                if close is not None:
                    close()

    def close(self) -> None:
        """Stop early: closes the iteration (and the upstream iterator); calls ``on_done``."""
        generator = self._generator() if self._generator is not None else None
        if generator is not None:
            generator.close()
        self._fold.close(ended=False)

    def __enter__(self) -> Tee[Chunk]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncTee(_TeeBase, Generic[Chunk]):
    """Async twin of :class:`Tee`: ``async for chunk in tee``; ``await tee.aclose()`` to stop.

    Cancellation while the tee waits for the upstream ends it at once (``on_done`` is called
    before anything else is awaited, so a cancel scope that cancels every later await cannot
    lose the summary); a consumer that stops between chunks ends it when the generator is
    closed or collected.
    """

    def __init__(
        self,
        chunks: AsyncIterable[Chunk],
        on_done: OnDone | None,
        options: dict[str, Any],
        parser_class: Any = StreamParser,
    ) -> None:
        super().__init__(on_done, options, parser_class)
        self._chunks: AsyncIterable[Chunk] = chunks
        self._generator: weakref.ref[AsyncGenerator[Chunk, None]] | None = None

    def __aiter__(self) -> AsyncGenerator[Chunk, None]:
        self._start()
        generator = self._forward()
        self._generator = weakref.ref(generator)
        return generator

    async def _forward(self) -> AsyncGenerator[Chunk, None]:
        fold = self._fold
        source = aiter(self._chunks)
        ended = False
        try:
            async for chunk in source:
                fold.feed(chunk)
                yield chunk
            ended = True
        finally:
            fold.close(ended=ended)
            if not ended:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()

    async def aclose(self) -> None:
        """Stop early: closes the iteration (and the upstream iterator); calls ``on_done``."""
        generator = self._generator() if self._generator is not None else None
        self._fold.close(ended=False)
        if generator is not None:
            await generator.aclose()

    async def __aenter__(self) -> AsyncTee[Chunk]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def tee(
    chunks: Iterable[Chunk],
    *,
    on_done: OnDone | None = None,
    **options: Unpack[Options],
) -> Tee[Chunk]:
    """Yield every chunk of ``chunks`` unchanged while folding it on the side.

    ``options`` are :class:`StreamParser`'s (``format``, limits, ...); ``on_error`` defaults to
    ``"skip"`` here. A parse problem never raises into the loop: it is kept on ``.problems``
    and ``.error``. ``on_done(summary)`` is called exactly once, however the stream ends::

        forwarded = deltafold.tee(response.iter_bytes(), on_done=log_row)
        for chunk in forwarded:
            client.send(chunk)
        forwarded.summary()["usage"]
    """
    return Tee(chunks, on_done, dict(options))


def atee(
    chunks: AsyncIterable[Chunk],
    *,
    on_done: OnDone | None = None,
    **options: Unpack[Options],
) -> AsyncTee[Chunk]:
    """Async twin of :func:`tee` (e.g. over httpx's ``aiter_bytes()``)."""
    return AsyncTee(chunks, on_done, dict(options))

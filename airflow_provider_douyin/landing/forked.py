"""Land a sync's rows in a forked child process, so the reading process keeps its CPU for reading.

A Python process runs one thread of Python at a time. At QPS 50 the reader's process spent about 40%
of that time landing rows (validating, serialising, binding and executing the upserts), which capped
the read at some 65% of the rate limit. :class:`ForkedSink` moves the whole sink into a child forked
when the sink is entered: the reader encodes each batch of rows (msgpack, ~1 ms per 100 orders) and
sends it through a pipe, then a commit at the end of each flush; the child decodes them and hands them
to the real sink, one transaction per flush as before.

Exactness is the real sink's, unchanged:

* a flush is one transaction in the child; :meth:`ForkedSink.finish` returns only after the child
  committed every flush sent and finished the sink, so a watermark recorded after it is true;
* the first error in the child (a bad row, a database error) is raised in the reader's process at its
  next write or at finish, with the child's exception type and message; the child rolls back what it
  had not committed and writes nothing after it;
* if the reader's process fails or dies, the child reads end-of-file, rolls back, and exits; if the
  child dies, the next write or finish fails with its exit status.

The pipe holds a few batches, so a slow database slows the read instead of growing memory.

The child must not talk to Airflow's task supervisor (that channel belongs to the task's process), so
the database hook's Connection is resolved before the fork (:func:`pin_connection`).
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import traceback
import warnings
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, suppress
from multiprocessing.connection import Connection, Pipe
from typing import Any

import msgspec

from airflow_provider_douyin.client.errors import DouyinError
from airflow_provider_douyin.streams.garbage import fewer_collections
from airflow_provider_douyin.streams.sync import StreamSink

_WRITE_MSGPACK, _WRITE_PICKLE, _COMMIT, _FINISH = b"M", b"P", b"C", b"F"
_READY, _DONE, _FAILED = b"R", b"D", b"X"
_TRACEBACK_CHARS = 16_000

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class LandingProcessError(DouyinError):
    """The landing child failed in a way its own exception cannot tell (it died, or its error did
    not survive the pipe)."""

    def _describe(self) -> str:
        return self.msg


def can_fork() -> bool:
    """Whether this platform can land in a forked child (POSIX); elsewhere sinks land in-process."""
    return hasattr(os, "fork")


def pin_connection(hook: Any) -> Any:
    """Resolve ``hook``'s Airflow Connection now and make the hook reuse it instead of looking it up.

    Hooks look their Connection up when they connect; inside a task that lookup talks to Airflow's
    task supervisor, which a forked child must not do. Returns ``hook``.
    """
    connection = hook.get_connection(hook.get_conn_id())
    hook.get_connection = lambda *_args, **_kwargs: connection  # the instance's lookups only
    if hasattr(type(hook), "connection"):  # common-sql caches it on this property
        with suppress(AttributeError):  # read-only elsewhere: such hooks use the lookup patched above
            hook.connection = connection
    return hook


def _encode_rows(rows: Mapping[str, list[dict[str, Any]]]) -> bytes:
    """msgpack keeps every JSON-decoded value exact and is ~2x faster than pickle; whatever it cannot
    hold (integers beyond 64 bits, lone surrogates) goes as pickle."""
    try:
        return _WRITE_MSGPACK + _encode(rows)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return _WRITE_PICKLE + pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _failure(exc: BaseException) -> bytes:
    # Kept well under the pipe's buffer: the reader may be blocked sending while this is written.
    text = "".join(traceback.format_exception(exc))[-_TRACEBACK_CHARS:]
    try:
        payload = pickle.dumps((exc, text))
        pickle.loads(payload)  # an exception that pickles but cannot be rebuilt would be lost
    except Exception:
        payload = pickle.dumps((LandingProcessError(f"{type(exc).__name__}: {exc}"), text))
    return _FAILED + payload


def _serve(channel: Connection, open_sink: Callable[[], AbstractContextManager[StreamSink]]) -> None:
    """The child's loop: enter the sink, apply rows and commits until finish or end-of-file, report
    the outcome."""
    gc.freeze()  # what the parent built stays put: collections walk only the flushes' objects
    with fewer_collections(), open_sink() as sink:
        channel.send_bytes(_READY)
        while True:
            try:
                message = channel.recv_bytes()
            except EOFError:
                # The reader's process failed or died: leave the block so the sink rolls back.
                raise LandingProcessError("the reading process went away before finishing") from None
            kind, body = message[:1], memoryview(message)[1:]
            if kind == _FINISH:
                stats = sink.finish()
                channel.send_bytes(_DONE + pickle.dumps(stats))
                return
            if kind == _COMMIT:
                sink.commit()
                continue
            sink.write(_decode(body) if kind == _WRITE_MSGPACK else pickle.loads(body))


class ForkedSink:
    """A :class:`~airflow_provider_douyin.streams.sync.StreamSink` whose sink lives in a forked child.

    :param open_sink: builds the real sink, a context manager, in the child; it runs after the fork,
        so its connection is the child's own. Hooks it uses must be pinned (:func:`pin_connection`).
    :param tables: the tables the real sink lands (known before the child starts).
    """

    def __init__(
        self, open_sink: Callable[[], AbstractContextManager[StreamSink]], tables: Collection[str]
    ) -> None:
        self._open_sink = open_sink
        self._tables = tuple(tables)
        self._channel: Connection | None = None
        self._pid: int | None = None

    @property
    def tables(self) -> Collection[str]:
        return self._tables

    @property
    def pid(self) -> int | None:
        """The landing child's process id while the sink is open."""
        return self._pid

    def __enter__(self) -> ForkedSink:
        ours, theirs = Pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a threaded process may deadlock a child that takes a
            # lock another thread held. This child takes only its own sink's locks and logging's,
            # which logging re-creates after a fork.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            status = 0
            try:
                ours.close()
                _serve(theirs, self._open_sink)
            except BaseException as exc:
                status = 1
                with suppress(OSError):  # the reader's process is gone: nobody is left to tell
                    theirs.send_bytes(_failure(exc))
            finally:
                os._exit(status)
        theirs.close()
        self._channel, self._pid = ours, pid
        self._expect(_READY)
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the pipe and reap the child; an unfinished child rolls back what it did not commit."""
        self._close()

    def write(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        self._send(_encode_rows(rows))

    def commit(self) -> None:
        self._send(_COMMIT)

    def _send(self, message: bytes) -> None:
        channel = self._live_channel()
        if channel.poll():  # the child stopped on an earlier message: say why now
            self._expect(_DONE)
        try:
            channel.send_bytes(message)
        except OSError:
            self._expect(_DONE)

    def finish(self) -> Mapping[str, Mapping[str, Any]]:
        channel = self._live_channel()
        with suppress(OSError):  # the child stopped early: its reason is waiting in the pipe
            channel.send_bytes(_FINISH)
        return pickle.loads(self._expect(_DONE))

    def _live_channel(self) -> Connection:
        if self._channel is None:
            raise RuntimeError("the forked sink is not open")
        return self._channel

    def _expect(self, kind: bytes) -> bytes:
        """The body of the child's next message, which must be ``kind``; its failure is raised here."""
        try:
            message = self._live_channel().recv_bytes()
        except (EOFError, OSError):
            message = b""
        if message[:1] == kind:
            return message[1:]
        ended = self._close()
        if message[:1] == _FAILED:
            exc, child_traceback = pickle.loads(message[1:])
            raise exc from LandingProcessError(f"in the landing process:\n{child_traceback}")
        raise LandingProcessError(f"the landing process ended without a word ({ended})")

    def _close(self) -> str:
        """Close the pipe and reap the child (idempotent); returns how the child ended."""
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
        pid, self._pid = self._pid, None
        if pid is None:
            return "reaped before"
        _, status = os.waitpid(pid, 0)
        return _describe_status(status)


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"

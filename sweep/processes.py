"""Work shared out over forked processes, each item streamed back to this process as it is done.

A large live sweep is CPU-bound in Python long before Azure's limits (bench/sweep.py): TLS, HTTP parsing,
JSON and the checks, on one core because of the GIL. Processes use every core. They are forked (Linux),
after discovery and before any thread of the sweep starts, so a child inherits the credential (and its
token cache), the settings and its share of the work without pickling any of it, and makes its own
clients: no socket or lock of this process is ever used by two.

A child sends each item as `(key, item)`, pickled (a read-only mapping travels as a plain one), and its
log records, which this process hands to its own logging: they reach the same handlers (the progress bar
stays on its line) whichever process wrote them. A child that dies or raises ends its share only: the
caller hears which share ended how, and reports what that share did not send.
"""

from __future__ import annotations

import copyreg
import io
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")
Emit = Callable[[str, Any], None]

ITEM, LOG, DONE, FAILED = "item", "log", "done", "failed"


def run_in_processes(
    shares: Sequence[Sequence[T]],
    work: Callable[[Sequence[T], Emit], None],
    on_item: Callable[[str, Any], None],
) -> dict[int, str]:
    """Runs `work(share, emit)` in one forked process per share; every `emit(key, item)` reaches
    `on_item(key, item)` here, in arrival order. Returns why each share that did not finish ended (by its
    index in `shares`): the exception `work` raised, or the child's exit status."""
    context = multiprocessing.get_context("fork")
    readers: dict[Connection, int] = {}
    children = []
    for index, share in enumerate(shares):
        reader, writer = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(work, share, writer), name=f"aks-reach-share-{index}")
        child.start()
        writer.close()  # the child holds the only writer: its end of life is this reader's EOF
        readers[reader] = index
        children.append(child)
    ended: dict[int, str] = {}
    finished: set[int] = set()
    while readers:
        for reader in wait(list(readers)):
            index = readers[reader]
            try:
                kind, key, payload = pickle.loads(reader.recv_bytes())
            except (EOFError, OSError):
                del readers[reader]
                reader.close()
                continue
            except pickle.UnpicklingError as exc:
                ended[index] = f"unreadable message from the process ({exc})"
                continue
            if kind == ITEM:
                on_item(key, payload)
            elif kind == LOG:
                logging.getLogger(payload.name).handle(payload)
            elif kind == DONE:
                finished.add(index)
            else:
                ended[index] = payload
    for index, child in enumerate(children):
        child.join()
        if index not in finished and index not in ended:
            ended[index] = f"the process ended with exit status {child.exitcode} before its share was done"
    return ended


def _child(work: Callable[[Sequence[T], Emit], None], share: Sequence[T], writer: Connection) -> None:
    lock = threading.Lock()  # the share's threads log while its main thread emits items

    def send(kind: str, key: str, payload: Any) -> None:
        data = _dumps((kind, key, payload))
        with lock:
            writer.send_bytes(data)

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)  # the parent's handlers, copied by fork: records go to the parent instead
    root.addHandler(_Forward(send))
    try:
        work(share, lambda key, item: send(ITEM, key, item))
    except BaseException as exc:  # whatever ends the share is the parent's to report, with the clusters it left
        send(FAILED, "", f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None
    send(DONE, "", None)
    writer.close()  # multiprocessing then ends the child with os._exit: the parent's atexit handlers stay its own


class _Forward(logging.Handler):
    def __init__(self, send: Callable[[str, str, Any], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + logging.Formatter().formatException(record.exc_info)
            forwarded = logging.makeLogRecord(
                {**record.__dict__, "msg": message, "args": None, "exc_info": None, "exc_text": None}
            )
            self._send(LOG, "", forwarded)
        except Exception:
            self.handleError(record)


def _dumps(value: Any) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _plain_mapping}
    pickler.dump(value)
    return buffer.getvalue()


def _plain_mapping(mapping: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    """A read-only mapping (the model's `frozen_map`) is sent as a copy and read-only again on arrival."""
    return _read_only, (dict(mapping),)


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)

"""Work shared out over this process and forked ones, each item streamed back to this process as it is done.

A large live sweep is CPU-bound in Python long before Azure's limits (bench/sweep.py): TLS, HTTP parsing,
JSON and the checks, on one core because of the GIL. Processes use every core. They are forked (Linux),
after discovery and before any thread of the sweep starts, so a child inherits the credential (and its
token cache), the settings and its share of the work without pickling any of it, and makes its own
clients: no socket or lock of this process is ever used by two.

A child sends each item as `(key, item)`, pickled (`sweep.cli.packed.dumps`), and its
log records, which this process hands to its own logging: they reach the same handlers (the progress bar
stays on its line) whichever process wrote them. A child that dies or raises ends its share only: the
caller hears which share ended how, and reports what that share did not send.
"""

from __future__ import annotations

import gc
import logging
import logging.handlers
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from sweep.cli.packed import dumps

T = TypeVar("T")
Emit = Callable[[str, Any], None]

ITEM, LOG, DONE, FAILED = "item", "log", "done", "failed"


def run_in_processes(
    shares: Sequence[list[T]],
    work: Callable[[Sequence[T], Emit], None],
    on_item: Callable[[str, Any], None],
) -> dict[int, str]:
    """Runs `work(share, emit)` for every share at once: the first in this process (on a thread), each other
    in a forked process. Every `emit(key, item)` reaches `on_item(key, item)` here, one call at a time.
    Returns why each share that did not finish ended (by its index in `shares`): the exception `work`
    raised, or the child's exit status. This process working too saves a process's memory: the sweep is
    its share processes plus this one, all busy. A forked share is emptied here once its process has it (a
    copy made by the fork): the caller's memory of it is released."""
    context = multiprocessing.get_context("fork")
    # The children share this process's memory until either side writes a page; the collector writes to
    # every object it visits, so the objects that exist now are kept out of its reach (the gc docs' advice
    # for forking servers): a child then copies only the pages its own work touches.
    gc.freeze()
    readers: dict[Connection, int] = {}
    children: dict[int, Any] = {}
    for index, share in enumerate(shares[1:], start=1):  # forked before this process starts any thread
        reader, writer = context.Pipe(duplex=False)
        child = context.Process(target=_child, args=(work, share, writer), name=f"aks-reach-share-{index}")
        child.start()
        share.clear()
        writer.close()  # the child holds the only writer: its end of life is this reader's EOF
        readers[reader] = index
        children[index] = child
    ended: dict[int, str] = {}
    finished: set[int] = set()
    one_at_a_time = threading.Lock()

    def deliver(key: str, item: Any) -> None:
        with one_at_a_time:
            on_item(key, item)

    def local() -> None:
        try:
            work(shares[0], deliver)
            finished.add(0)
        except Exception as exc:  # as a child's failure: this share's clusters are reported, not the sweep lost
            ended[0] = f"{type(exc).__name__}: {exc}"

    here = threading.Thread(target=local, name="aks-reach-share-0")
    here.start()
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
                deliver(key, payload)
            elif kind == LOG:
                logging.getLogger(payload.name).handle(payload)
            elif kind == DONE:
                finished.add(index)
            else:
                ended[index] = payload
    here.join()
    gc.unfreeze()
    for index, child in children.items():
        child.join()
        if index not in finished and index not in ended:
            ended[index] = f"the process ended with exit status {child.exitcode} before its share was done"
    return ended


def _child(work: Callable[[Sequence[T], Emit], None], share: Sequence[T], writer: Connection) -> None:
    lock = threading.Lock()  # the share's threads log while its main thread emits items

    def send(kind: str, key: str, payload: Any) -> None:
        data = dumps((kind, key, payload))
        with lock:
            writer.send_bytes(data)

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)  # the parent's handlers, copied by fork: records go to the parent instead
    root.addHandler(logging.handlers.QueueHandler(_LogChannel(send)))  # type: ignore[arg-type]  # put_nowait is all it uses
    try:
        work(share, lambda key, item: send(ITEM, key, item))
    except BaseException as exc:  # whatever ends the share is the parent's to report, with the clusters it left
        send(FAILED, "", f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None
    send(DONE, "", None)
    writer.close()  # multiprocessing then ends the child with os._exit: the parent's atexit handlers stay its own


class _LogChannel:
    """The pipe to the parent as the standard QueueHandler's queue: the handler merges each record's message,
    arguments and traceback into one picklable record, and this sends it as a LOG message."""

    def __init__(self, send: Callable[[str, str, Any], None]) -> None:
        self._send = send

    def put_nowait(self, record: logging.LogRecord) -> None:
        self._send(LOG, "", record)

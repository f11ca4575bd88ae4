"""What the Functions host does around our functions, for tests: the app's indexed functions, draining a
queue as the host hands messages over, and a stand-in for the host's queue trigger with its retries and
poison queue."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient
from azure.storage.queue import QueueMessage as StoredMessage

import function_app
from tests.azurite import receive_batch

DECLARED = function_app.app.get_functions()  # the host's indexing: once per app (it rejects a second pass)
FUNCTIONS: dict[str, Callable[..., Any]] = {f.get_function_name(): f.get_user_function() for f in DECLARED}
log = logging.getLogger(__name__)


def as_trigger_message(message: StoredMessage) -> QueueMessage:
    """The azure.functions object the host builds from a received message (body decoded from base64)."""
    return QueueMessage(
        id=message.id,
        body=message.content.encode(),
        dequeue_count=message.dequeue_count,
        pop_receipt=message.pop_receipt,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
    )


def drain(queue: QueueClient, max_batches: int = 100) -> list[QueueMessage]:
    """Every message of the queue, received and deleted, 32 at a time (bounded)."""
    messages = []
    for _ in range(max_batches):
        batch = receive_batch(queue, 32, visibility_timeout=60)
        if not batch:
            break
        for message in batch:
            messages.append(as_trigger_message(message))
            queue.delete_message(message)
    return messages


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


@dataclass
class HostRun:
    succeeded: int = 0
    failed: int = 0  # deliveries that raised
    poisoned: list[str] = field(default_factory=list)  # bodies moved to the poison queue


class QueueHost:
    """The queue trigger as the Functions host runs it (azure-webjobs-sdk QueueProcessor): receive a batch
    (dequeue count +1 each), run the function once per message with the QueueMessage built from it; delete
    the message when it returns; when it raises, move it to `<queue>-poison` (a new message, then delete the
    original) if its dequeue count reached maxDequeueCount, else release it to be received again. The host
    releases for host.json's visibilityTimeout; this stand-in releases at once, to keep tests short."""

    def __init__(
        self,
        queue: QueueClient,
        function: Callable[[QueueMessage], None],
        max_dequeue_count: int,
        poison: QueueClient | None = None,
        batch_size: int = 4,
    ) -> None:
        self.queue, self.function, self.poison = queue, function, poison
        self.max_dequeue_count, self.batch_size = max_dequeue_count, batch_size

    def run(self, max_batches: int = 100) -> HostRun:
        """Until the queue is empty (bounded)."""
        run = HostRun()
        with ThreadPoolExecutor(max_workers=self.batch_size) as pool:
            for _ in range(max_batches):
                batch = receive_batch(self.queue, self.batch_size, visibility_timeout=60)
                if not batch:
                    return run
                list(pool.map(lambda message: self._deliver(message, run), batch))
        raise AssertionError(f"{self.queue.queue_name} still had messages after {max_batches} batches")

    def _deliver(self, message: StoredMessage, run: HostRun) -> None:
        try:
            self.function(as_trigger_message(message))
        except Exception as error:
            log.info("delivery %d of %s failed: %s", message.dequeue_count, message.id, error)
            run.failed += 1
            if message.dequeue_count >= self.max_dequeue_count and self.poison is not None:
                self.poison.create_queue()  # as the host does; an existing queue is no error
                self.poison.send_message(message.content)
                self.queue.delete_message(message)
                run.poisoned.append(message.content)
            else:
                self.queue.update_message(message, visibility_timeout=0)
            return
        self.queue.delete_message(message)
        run.succeeded += 1

"""Headless Chromium driven over the DevTools protocol: the HTML report's tests, bench and screenshot.

Debian's `chromium` package (`apt-get install -y chromium`), started with a throw-away profile and
every background service off, so that any network request seen comes from the page. The protocol is
spoken over a WebSocket (websocket-client); every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
START_SECONDS = 30.0


class ChromiumUnavailable(RuntimeError):
    """No Chromium to run; the message says how to install it."""


def chromium_binary() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise ChromiumUnavailable("chromium is not installed: apt-get install -y chromium (or set CHROMIUM)")
    return found


class Page:
    """One tab: send protocol commands, keep the events that arrive meanwhile."""

    def __init__(self, socket: websocket.WebSocket) -> None:
        self._socket = socket
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        command_id = self._next_id
        self._socket.send(json.dumps({"id": command_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline)
            if message.get("id") == command_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
        raise TimeoutError(f"{method}: no answer within {timeout:g} s")

    def wait_for_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if event["method"] == method:
                    return event
            seen = len(self.events)
            self._receive(deadline)
        raise TimeoutError(f"no {method} within {timeout:g} s")

    def _receive(self, deadline: float) -> dict[str, Any]:
        self._socket.settimeout(max(0.05, deadline - time.monotonic()))
        message = json.loads(self._socket.recv())
        if "method" in message:
            self.events.append(message)
        return message

    def load(self, path: Path, timeout: float = 120.0) -> float:
        """Opens a file from disk; the seconds until its load event."""
        started = time.monotonic()
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for_event("Page.loadEventFired", timeout)
        return time.monotonic() - started

    def evaluate(self, expression: str, timeout: float = 60.0) -> Any:
        result = self.send("Runtime.evaluate", timeout, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def requests(self) -> list[str]:
        """URLs of every request the page attempted (the document itself included)."""
        return [
            event["params"]["request"]["url"] for event in self.events if event["method"] == "Network.requestWillBeSent"
        ]

    def blocked(self) -> dict[str, str]:
        """URL -> why the browser refused the request before it left (e.g. "csp")."""
        urls = {
            event["params"]["requestId"]: event["params"]["request"]["url"]
            for event in self.events
            if event["method"] == "Network.requestWillBeSent"
        }
        return {
            urls.get(event["params"]["requestId"], "?"): event["params"]["blockedReason"]
            for event in self.events
            if event["method"] == "Network.loadingFailed" and event["params"].get("blockedReason")
        }

    def console_errors(self) -> list[str]:
        """Console errors and CSP violations the page reported."""
        found = [
            event["params"]["entry"]["text"]
            for event in self.events
            if event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error"
        ]
        found += [
            " ".join(str(arg.get("value", "")) for arg in event["params"]["args"])
            for event in self.events
            if event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] == "error"
        ]
        found += [
            event["params"]["exceptionDetails"].get("text", "exception")
            for event in self.events
            if event["method"] == "Runtime.exceptionThrown"
        ]
        return found

    def screenshot(self, path: Path, width: int, height: int, dark: bool = False) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        scheme = "dark" if dark else "light"
        self.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
        path.write_bytes(base64.b64decode(shot["data"]))


@contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[Page]:
    """A fresh headless Chromium with one page, network and log events on; stopped on exit."""
    binary = chromium_binary()
    with tempfile.TemporaryDirectory(prefix="aks-reach-chromium-") as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = _debugging_port(Path(profile), process)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                targets = json.load(answer)
            target = next(t for t in targets if t.get("type") == "page")
            socket = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
            try:
                page = Page(socket)
                for domain in ("Page", "Network", "Log", "Runtime"):
                    page.send(f"{domain}.enable")
                yield page
            finally:
                socket.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _debugging_port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """Chromium writes the port it chose to <profile>/DevToolsActivePort."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ChromiumUnavailable(f"chromium exited with status {process.returncode} at start")
        if marker.is_file():
            first = marker.read_text().splitlines()[:1]
            if first and first[0].isdigit():
                return int(first[0])
        time.sleep(0.05)
    raise ChromiumUnavailable(f"chromium did not open its debugging port within {START_SECONDS:g} s")

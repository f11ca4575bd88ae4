"""Running the Function app locally (docs/function-app-local.md): Azurite as pinned runs on the Node.js
here, what it leaves in the folder it starts in is git-ignored, and the sample settings point at it."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from sweep.app.storage import queue_client
from sweep.core.settings import Settings
from tests.azurite import AZURITE_BIN, LISTENING
from tests.infra.templates import REPO

SAMPLE = REPO / "local.settings.sample.json"


def test_the_pinned_azurite_declares_the_node_version_installed_here() -> None:
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["azurite"]
    installed = json.loads((REPO / "node_modules" / "azurite" / "package.json").read_text())
    assert installed["version"] == pinned
    minimum = int(re.fullmatch(r">=(\d+)(\.\d+\.\d+)?", installed["engines"]["node"]).group(1))
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    assert int(node.lstrip("v").split(".")[0]) >= minimum, (node, installed["engines"])


def files_azurite_leaves(folder: Path, *args: str) -> list[str]:
    command = [str(AZURITE_BIN), "--disableTelemetry", "--skipApiVersionCheck", *args]
    for service in ("blob", "queue", "table"):
        command += [f"--{service}Host", "127.0.0.1", f"--{service}Port", "0"]
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listening = 0
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    for line in process.stdout:  # bounded: Azurite prints three listening lines, or exits
        listening += bool(LISTENING.search(line))
        if listening == 3 or time.monotonic() > deadline:
            break
    process.terminate()
    process.wait(10)
    assert listening == 3, "Azurite did not start"
    return sorted(path.name for path in folder.iterdir())


def test_what_azurite_leaves_in_the_repository_root_is_git_ignored(tmp_path: Path) -> None:
    left = files_azurite_leaves(tmp_path)
    assert len(left) >= 6, left  # its databases, blob and queue extents, its config
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO,
        input="\n".join(left) + "\n",
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert sorted(ignored) == left
    located = tmp_path / "located"
    located.mkdir()
    assert files_azurite_leaves(located, "--location", ".azurite") == [".azurite"]


def test_the_sample_settings_point_at_azurites_default_queue_endpoint() -> None:
    values = json.loads(SAMPLE.read_text())["Values"]
    settings = Settings.from_env(values)
    queue = queue_client(settings, None, settings.queue)
    assert queue.url == "http://127.0.0.1:10001/devstoreaccount1/aks-reach-clusters"  # Azurite's default queue port

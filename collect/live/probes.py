"""The symptom itself, from where the checker runs: DNS, TCP connect and a TLS handshake offering ALPN
h2/http/1.1 to the API server, each timed, with short errors ("dns: ...", "timeout", "refused")."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any
from urllib.parse import urlparse


def probe_apiserver(server_url: str, ca_pem: bytes | None, timeout: float) -> dict[str, Any]:
    """probes.json's "apiserver" object for an https:// URL (the kubeconfig server, or https://<fqdn>:443)."""
    url = urlparse(server_url)
    host, port = url.hostname or "", url.port or 443
    result: dict[str, Any] = {
        "target": host,
        "addresses": [],
        "tcpMs": None,
        "tlsMs": None,
        "alpn": None,
        "error": None,
    }
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        result["error"] = f"dns: {exc.strerror or exc}"
        return result
    result["addresses"] = sorted({str(info[4][0]) for info in infos})
    context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else ssl.create_default_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    started = time.perf_counter()
    try:
        with socket.create_connection((result["addresses"][0], port), timeout=timeout) as connection:
            result["tcpMs"] = round((time.perf_counter() - started) * 1000, 1)
            started = time.perf_counter()
            with context.wrap_socket(connection, server_hostname=host) as tls:
                result["tlsMs"] = round((time.perf_counter() - started) * 1000, 1)
                result["alpn"] = tls.selected_alpn_protocol()
    except TimeoutError:
        result["error"] = "timeout"
    except ConnectionRefusedError:
        result["error"] = "refused"
    except ssl.SSLError as exc:
        result["error"] = f"tls: {exc.reason or exc}"
    except OSError as exc:
        result["error"] = exc.strerror or type(exc).__name__
    return result

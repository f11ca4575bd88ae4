"""The sweep's HTTP session reads the proxy settings of the environment once per origin: what it merges is
what requests merges for every request, proxies, NO_PROXY and the CA bundle variables included."""

from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collect.live.clients import EnvironmentOnceSession

URLS = [
    "https://management.azure.com/subscriptions/x?api-version=1",
    "https://api.loganalytics.io/v1/workspaces/w/query",
    "https://aks-web-prod-dns-1a2b3c.hcp.westeurope.azmk8s.io:443/api/v1/nodes",
    "https://10.0.0.4/healthz",
    "http://169.254.169.254/metadata/identity/oauth2/token",
]
ENVIRONMENTS = [
    {},
    {"HTTPS_PROXY": "http://proxy.contoso.example:3128"},
    {"HTTPS_PROXY": "http://proxy.contoso.example:3128", "NO_PROXY": ".azmk8s.io,169.254.169.254,10.0.0.0/8"},
    {"https_proxy": "http://p:1", "http_proxy": "http://p:2", "no_proxy": "*"},
    {"REQUESTS_CA_BUNDLE": "/etc/ssl/corp.pem"},
]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example sets its environment
@given(
    environment=st.sampled_from(ENVIRONMENTS),
    urls=st.lists(st.sampled_from(URLS), min_size=1, max_size=8),
    request_proxies=st.sampled_from(
        [None, {}, {"https": "http://explicit:8080"}, {"no_proxy": "management.azure.com"}]
    ),
    verify=st.sampled_from([True, None, False, "/tmp/ca.pem"]),
)
def test_the_merge_is_requests_own_for_every_request(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], urls: list[str], request_proxies, verify
) -> None:
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    once, plain = EnvironmentOnceSession(), requests.Session()
    for url in urls:  # the same origin again is answered from what was kept
        copy = dict(request_proxies) if request_proxies is not None else None
        expected = plain.merge_environment_settings(url, copy, None, verify, None)
        copy = dict(request_proxies) if request_proxies is not None else None
        assert once.merge_environment_settings(url, copy, None, verify, None) == expected


@pytest.mark.parametrize("entry", [True, False], ids=["netrc entry", "no netrc entry"])
def test_netrc_is_applied_as_requests_applies_it_and_read_once_per_origin(monkeypatch, tmp_path, entry) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine management.azure.com login ops password s3cret\n" if entry else "")
    monkeypatch.setenv("NETRC", str(netrc))
    lookups = []
    real = requests.utils.get_netrc_auth
    monkeypatch.setattr(requests.utils, "get_netrc_auth", lambda url, *a: lookups.append(url) or real(url, *a))
    once, plain = EnvironmentOnceSession(), requests.Session()
    for _ in range(3):
        for url in URLS[:2]:
            ours = once.prepare_request(requests.Request("GET", url))
            theirs = plain.prepare_request(requests.Request("GET", url))
            assert ours.headers.get("Authorization") == theirs.headers.get("Authorization")
    assert (once.prepare_request(requests.Request("GET", URLS[0])).headers.get("Authorization") is not None) is entry
    assert lookups == URLS[:2]  # once per origin, however many requests (requests itself: every request)
    explicit = once.prepare_request(requests.Request("GET", URLS[0], auth=("u", "p")))
    assert (
        explicit.headers["Authorization"]
        == plain.prepare_request(requests.Request("GET", URLS[0], auth=("u", "p"))).headers["Authorization"]
    )

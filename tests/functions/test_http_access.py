"""Who may use the HTTP check and on which clusters, through the decorated function with real
azure.functions requests: every refusal comes before the app makes any request to Azure or Kubernetes
(the emulator counts them all) and leaves the change index alone."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from typing import Any

import azure.functions as func
import pytest

import function_app
from sweep.app.http_access import HttpAccess, trigger_auth_level
from sweep.app.runtime import Runtime, management_group_subscriptions
from sweep.core.settings import Settings
from sweep.rechecks.plug_in import Rechecks
from tests.emulator.server import AzureEmulator
from tests.functions import test_function_app
from tests.functions.test_function_app import RUNBOOK, http, principal_headers
from tools import make_example_estate as estate

pytestmark = pytest.mark.azurite
ROLE = "AksApiReach.Check"
OTHER_SUB = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
OTHER_CALLER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
HEALTHY = estate.healthy().cluster["id"]  # aks-payments-prod, in estate.SUB
STOREFRONT = estate.ranges_missing_client().cluster["id"]
emulator = test_function_app.emulator  # the three sample clusters


def with_access(runtime: Runtime, **environ: str) -> Runtime:
    """The runtime with the HTTP check's rules built from these settings (and App Service authentication on
    unless they say otherwise), as the app builds them at start."""
    settings = Settings.from_env({"WEBSITE_AUTH_ENABLED": "True", **environ})
    changed = dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, **_fields(settings)))
    changed.http_access = HttpAccess.from_settings(
        changed.settings, management_group_subscriptions(runtime.clients, changed.settings)
    )
    function_app.services.use(changed)
    return changed


def _fields(settings: Settings) -> dict[str, Any]:
    names = ("http_auth", "http_role", "http_callers", "easy_auth_enabled", "subscriptions", "management_group")
    return {name: getattr(settings, name) for name in names}


def error_of(response: func.HttpResponse) -> str:
    return json.loads(response.get_body())["error"]


def azure_requests(emulator: AzureEmulator) -> int:
    return sum(emulator.requests.values())


def test_entra_id_is_the_default_and_the_function_key_only_where_the_setting_says_so() -> None:
    assert Settings.from_env({}).http_auth == "entra"
    assert trigger_auth_level({}) == func.AuthLevel.ANONYMOUS  # App Service authenticates; the app checks the role
    assert trigger_auth_level({"AKS_REACH_HTTP_AUTH": "function-key"}) == func.AuthLevel.FUNCTION
    assert trigger_auth_level({"AKS_REACH_HTTP_AUTH": "entr"}) == func.AuthLevel.FUNCTION  # and the app won't start
    with pytest.raises(ValueError, match=r"^AKS_REACH_HTTP_AUTH='entr' is not entra or function-key$"):
        HttpAccess.from_settings(Settings.from_env({"AKS_REACH_HTTP_AUTH": "entr"}))


def test_callers_without_a_token_or_without_the_app_role_are_refused_before_any_azure_call(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    anonymous = http("GET", {"clusterId": HEALTHY}, headers={})
    assert anonymous.status_code == 401 and "no authenticated caller" in error_of(anonymous)
    no_role = http("GET", {"clusterId": HEALTHY}, headers=principal_headers(OTHER_CALLER, roles=["Reader"]))
    assert no_role.status_code == 403
    assert error_of(no_role) == f"object id {OTHER_CALLER} does not hold the app role {ROLE} (AKS_REACH_HTTP_ROLE)"
    garbled = http("GET", {"clusterId": HEALTHY}, headers={"X-MS-CLIENT-PRINCIPAL": "not base64!"})
    assert garbled.status_code == 401 and "not base64 JSON" in error_of(garbled)
    assert azure_requests(emulator) == 0


def test_principal_headers_are_not_trusted_while_app_service_authentication_is_off(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    """Without App Service authentication nothing strips X-MS-CLIENT-PRINCIPAL: anyone could write one."""
    with_access(runtime, WEBSITE_AUTH_ENABLED="false")
    forged = http("GET", {"clusterId": HEALTHY})  # a well-formed principal with the role
    assert forged.status_code == 500 and "App Service authentication, which is off" in error_of(forged)
    assert azure_requests(emulator) == 0


def test_a_cluster_outside_the_sweeps_subscriptions_is_403_with_no_request_and_no_change_index_entry(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    with_access(runtime, AKS_REACH_SUBSCRIPTIONS=OTHER_SUB)
    response = http("GET", {"clusterId": HEALTHY})
    assert response.status_code == 403
    assert error_of(response) == "the cluster's subscription is not in the sweep's scope (AKS_REACH_SUBSCRIPTIONS)"
    assert azure_requests(emulator) == 0
    network_ids = [resource["id"] for resource in estate.healthy().network or []]
    assert network_ids and not any(
        runtime.plug_in(Rechecks).references.clusters_for(rid.lower()) for rid in network_ids
    )


def test_the_management_group_scope_is_read_once_and_holds_only_its_subscriptions(
    runtime: Runtime, emulator: AzureEmulator
) -> None:
    emulator.management_groups = {"mg-platform": [estate.SUB], "mg-sandbox": [OTHER_SUB]}
    with_access(runtime, AKS_REACH_MANAGEMENT_GROUP="mg-sandbox")
    refused = http("GET", {"clusterId": HEALTHY})
    assert refused.status_code == 403 and "management group (AKS_REACH_MANAGEMENT_GROUP)" in error_of(refused)
    assert set(emulator.requests) == {"POST /providers/Microsoft.ResourceGraph/resources"}  # the group, nothing else
    with_access(runtime, AKS_REACH_MANAGEMENT_GROUP="mg-platform")
    assert http("GET", {"clusterId": HEALTHY}).status_code == 200
    assert http("GET", {"clusterId": STOREFRONT}).status_code == 200
    assert emulator.count(r"ResourceGraph") == 2  # one read per access rules, kept for the next requests


def test_the_allow_list_lets_each_caller_check_only_its_clusters_and_the_log_names_the_caller(
    runtime: Runtime, emulator: AzureEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sweep.app.http_check")
    with_access(runtime, AKS_REACH_HTTP_CALLERS=json.dumps({RUNBOOK: [HEALTHY.upper()], OTHER_CALLER: [estate.SUB]}))
    assert http("GET", {"clusterId": HEALTHY}).status_code == 200
    assert f"HTTP check of {HEALTHY} by object id {RUNBOOK}" in caplog.text
    refused = http("GET", {"clusterId": STOREFRONT})
    assert refused.status_code == 403
    assert error_of(refused) == f"AKS_REACH_HTTP_CALLERS does not let object id {RUNBOOK} check this cluster"
    other = principal_headers(OTHER_CALLER, roles=[ROLE])
    assert http("GET", {"clusterId": STOREFRONT}, headers=other).status_code == 200  # its whole subscription
    stranger = http(
        "GET", {"clusterId": HEALTHY}, headers=principal_headers("11111111-2222-4333-8444-555555555555", [ROLE])
    )
    assert stranger.status_code == 403 and "is not listed in AKS_REACH_HTTP_CALLERS" in error_of(stranger)


def test_a_malformed_allow_list_names_the_setting() -> None:
    for raw, error in [
        ("[]", "is not a JSON object"),
        ('{"runbook": []}', "'runbook' is not an object id"),
        (json.dumps({RUNBOOK: ["rg-aks"]}), "'rg-aks' is neither a subscription id nor a cluster id"),
    ]:
        with pytest.raises(ValueError, match=f"^AKS_REACH_HTTP_CALLERS.*{error}"):
            HttpAccess.from_settings(Settings.from_env({"AKS_REACH_HTTP_CALLERS": raw}))


def test_with_the_function_key_the_scope_still_applies(runtime: Runtime, emulator: AzureEmulator) -> None:
    with_access(runtime, AKS_REACH_HTTP_AUTH="function-key", WEBSITE_AUTH_ENABLED="false")
    assert http("GET", {"clusterId": HEALTHY, "code": "key"}, headers={}).status_code == 200
    with_access(
        runtime, AKS_REACH_HTTP_AUTH="function-key", WEBSITE_AUTH_ENABLED="false", AKS_REACH_SUBSCRIPTIONS=OTHER_SUB
    )
    assert http("GET", {"clusterId": HEALTHY}, headers={}).status_code == 403
    with_access(runtime, AKS_REACH_HTTP_AUTH="function-key", AKS_REACH_HTTP_CALLERS=json.dumps({RUNBOOK: [estate.SUB]}))
    keyed = http("GET", {"clusterId": HEALTHY}, headers={})
    assert (
        keyed.status_code == 403 and error_of(keyed) == "a function-key holder is not listed in AKS_REACH_HTTP_CALLERS"
    )


def test_a_500_carries_an_incident_id_and_the_log_the_reason(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    from sweep.core.mutes import ExemptionSource, MuteListError

    def broken() -> list[Any]:
        raise MuteListError("AKS_REACH_MUTE_LIST_BLOB (https://secret.blob/x): entry 3 (team-x): ...")

    function_app.services.use(dataclasses.replace(runtime, exemptions=ExemptionSource(broken)))
    response = http("GET", {"clusterId": HEALTHY})
    document = json.loads(response.get_body())
    assert response.status_code == 500 and set(document) == {"error", "incident"}
    assert document["error"] == (
        f"the app's mute list cannot be used; the app's log holds the details under incident {document['incident']}"
    )
    assert "MuteListError" not in response.get_body().decode() and "secret.blob" not in response.get_body().decode()
    assert f"(incident {document['incident']})" in caplog.text and "secret.blob" in caplog.text


def test_a_principal_header_is_read_as_app_service_writes_it() -> None:
    access = HttpAccess.from_settings(Settings.from_env({"WEBSITE_AUTH_ENABLED": "true"}))
    headers = principal_headers(RUNBOOK.upper(), roles=["Other", ROLE])
    del headers["X-MS-CLIENT-PRINCIPAL-ID"]  # the object id claim says it too
    caller = access.caller(headers)
    assert caller.object_id == RUNBOOK and caller.roles == {"Other", ROLE}
    document = {"auth_typ": "github", "claims": []}
    with pytest.raises(Exception, match="not an Entra ID principal"):
        access.caller({"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode()})

"""Azure clients, built at the edge: endpoint per cloud, credentials, TLS trust.

Credentials: DR_AUDIT_ACCESS_TOKEN when set (a bearer token used as is), else DefaultAzureCredential
(az login, managed identity, workload identity federation, environment service principal). TLS trust
follows REQUESTS_CA_BUNDLE (requests reads it), or an explicit CA bundle (the emulator's).
"""

from __future__ import annotations

import os
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

from auditor.errors import InputError

CLOUDS = {
    "public": "https://management.azure.com",
    "china": "https://management.chinacloudapi.cn",
    "usgov": "https://management.usgovcloudapi.net",
}
TOKEN_VARIABLE = "DR_AUDIT_ACCESS_TOKEN"


# Far in the future, so the pipeline never asks for a refresh it could not get; an expired real token
# is answered by ARM with 401, which the caller reports.
_FAR_FUTURE = 4_102_444_800  # 2100-01-01T00:00:00Z


class StaticTokenCredential:
    """An azure.core TokenCredential (and SupportsTokenInfo) that always returns the same token."""

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("the access token is empty; set a bearer token or use another credential.")
        self._token = token.strip()

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, _FAR_FUTURE)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, _FAR_FUTURE)

    def close(self) -> None:
        pass

    def __enter__(self) -> StaticTokenCredential:
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def __repr__(self) -> str:  # never show the token in logs or tracebacks
        return "StaticTokenCredential(<token hidden>)"


def arm_endpoint(cloud: str, override: str | None) -> str:
    if override:
        endpoint = override.strip().rstrip("/")
        if not endpoint.startswith("https://"):
            raise InputError(f"--arm-endpoint {override!r} must be an https:// URL.")
        return endpoint
    try:
        return CLOUDS[cloud]
    except KeyError:
        raise InputError(f"--cloud {cloud!r} is not one of {', '.join(CLOUDS)}.") from None


def credential() -> Any:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        return StaticTokenCredential(token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def resource_graph_client(endpoint: str, credential: Any, ca_bundle: str | None = None, **kwargs: Any) -> Any:
    """Retries are off in the SDK: the crawler retries itself (the SDK would retry a POST on 429 only
    with Retry-After) and paces from the quota headers."""
    from azure.mgmt.resourcegraph import ResourceGraphClient

    options: dict[str, Any] = {"retry_total": 0, "credential_scopes": [f"{_scope_base(endpoint)}/.default"]}
    if ca_bundle:
        options["connection_verify"] = ca_bundle
    options.update(kwargs)
    return ResourceGraphClient(credential, base_url=endpoint, **options)


def _scope_base(endpoint: str) -> str:
    for base in CLOUDS.values():
        if endpoint == base:
            return base
    return endpoint

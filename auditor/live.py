"""Live inventory: crawl a scope of Azure (or the built-in emulator) into a snapshot file."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator

from auditor.errors import InputError
from auditor.inventory.azure import StaticTokenCredential, arm_endpoint, credential, resource_graph_client
from auditor.inventory.crawler import Crawler, CrawlResult, CrawlSettings, Scope
from auditor.inventory.progress import Progress


def make_scope(subscriptions: list[str] | None, management_groups: list[str] | None, tenant: bool) -> Scope:
    subscriptions = [s.strip() for s in subscriptions or [] if s.strip()]
    management_groups = [m.strip() for m in management_groups or [] if m.strip()]
    if not (subscriptions or management_groups or tenant):
        raise InputError("give a scope: --subscription ID, --management-group ID or --tenant.")
    if tenant and (subscriptions or management_groups):
        raise InputError("--tenant covers every readable subscription; do not combine it with --subscription or "
                         "--management-group.")
    return Scope(tuple(subscriptions), tuple(management_groups), tenant)


def crawl_azure(scope: Scope, output: Path, *, cloud: str = "public", endpoint: str | None = None,
                deep: bool = False, settings: CrawlSettings | None = None, quiet: bool = False) -> CrawlResult:
    base_url = arm_endpoint(cloud, endpoint)
    identity = credential()
    client = resource_graph_client(base_url, identity)
    return _crawl(client, scope, output, settings, quiet, _deep_reader(base_url, identity) if deep else None)


def _deep_reader(base_url: str, identity, ca_bundle: str | None = None):
    """--deep: per-subscription compute and Recovery Services clients, built once each."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.recoveryservices import RecoveryServicesClient

    from auditor.inventory.enrich import enrich

    options = {"base_url": base_url, "credential_scopes": [f"{base_url}/.default"]}
    if ca_bundle:
        options["connection_verify"] = ca_bundle
    compute: dict[str, ComputeManagementClient] = {}
    vaults: dict[str, RecoveryServicesClient] = {}

    def compute_client(subscription: str):
        return compute.setdefault(subscription, ComputeManagementClient(identity, subscription, **options))

    def vaults_client(subscription: str):
        return vaults.setdefault(subscription, RecoveryServicesClient(identity, subscription, **options))

    return lambda needs: enrich(needs, compute_client, vaults_client)


def _crawl(client, scope: Scope, output: Path, settings: CrawlSettings | None, quiet: bool, deep=None) -> CrawlResult:
    progress = Progress(quiet=quiet)
    try:
        return Crawler(client, settings, progress).crawl(scope, output, deep=deep)
    except OSError as exc:
        raise InputError(f"snapshot file {output} cannot be written: {exc.strerror}.") from None
    finally:
        progress.done()


@contextlib.contextmanager
def demo_crawl(estate_file: Path, *, quiet: bool = True, deep: bool = False) -> Iterator[CrawlResult]:
    """Serve the bundled demo estate from the built-in emulator over HTTPS on 127.0.0.1 and crawl it
    through the same path as a live run (real SDK client, paging, pacing); yields the crawl result
    whose snapshot lives in a temporary directory until the block ends."""
    from auditor.emulator.estate import Estate
    from auditor.emulator.faults import EmulatorSettings
    from auditor.emulator.server import serve

    estate = Estate.from_snapshot_file(estate_file)
    # The demo estate is small: pages of 50 rows show paging at work without slowing the demo.
    with serve(estate, EmulatorSettings()) as server, tempfile.TemporaryDirectory(prefix="dr-audit-demo-") as work:
        identity = StaticTokenCredential("demo")
        client = resource_graph_client(server.url, identity, ca_bundle=str(server.ca_bundle))
        settings = CrawlSettings(page_size=50)
        scope = Scope(subscriptions=tuple(estate.subscription_ids))
        deep_reader = _deep_reader(server.url, identity, str(server.ca_bundle)) if deep else None
        yield _crawl(client, scope, Path(work) / "snapshot.jsonl.gz", settings, quiet, deep_reader)

"""A local Azure Resource Manager for tests, the demo and benchmarks: Resource Graph (the KQL subset the
crawler sends, paging, quota and throttling), the compute instance view and the Recovery Services vault
GET, with injected faults; over HTTPS (server.serve) or in process (transport.EmulatorTransport)."""

from auditor.emulator.app import EmulatorApp, EmulatorStats
from auditor.emulator.estate import Estate, Subscription
from auditor.emulator.faults import EmulatorSettings, Fault, FaultPlan
from auditor.emulator.server import RunningEmulator, serve
from auditor.emulator.transport import EmulatorTransport

__all__ = [
           "EmulatorApp",
           "EmulatorSettings",
           "EmulatorStats",
           "EmulatorTransport",
           "Estate",
           "Fault",
           "FaultPlan",
           "RunningEmulator",
           "Subscription",
           "serve",
]

"""dr-audit: audit Azure IaaS estates for backup and disaster-recovery gaps."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("azure-dr-auditor")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+checkout"

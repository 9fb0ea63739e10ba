"""Where the packaged data lives: rules/ and templates/ ship inside the wheel under auditor/_data,
and sit at the repository top level in a checkout or editable install."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the packaged {name}/ directory is missing from {_PACKAGE}; reinstall dr-audit")


def rules_dir() -> Path:
    return _data_dir("rules")


def templates_dir() -> Path:
    return _data_dir("templates")


def demo_estate() -> Path:
    return _PACKAGE / "demo" / "estate.json"

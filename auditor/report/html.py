"""The self-contained HTML report: findings.json data rendered through templates/report.html.j2."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any, Mapping

import jinja2

TEMPLATE_NAME = "report.html.j2"
DEFAULT_TOP_N = 50


def _environment(templates_dir: pathlib.Path) -> jinja2.Environment:
    # Resource names, tags and messages are user input: autoescape every template this
    # environment loads, whatever its extension.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(
    report: Mapping[str, Any],
    rules: Mapping[str, Mapping[str, Any]] | None,
    templates_dir: pathlib.Path,
    *,
    top_n: int = DEFAULT_TOP_N,
) -> str:
    """Render the report as one HTML document (inline CSS, no network requests).

    `report` is the findings.json dict (findings may carry rank_score and rank_reason);
    `rules` maps rule id to its catalog metadata; `top_n` findings are listed in full.
    """
    template = _environment(pathlib.Path(templates_dir)).get_template(TEMPLATE_NAME)
    return template.render(report=dict(report or {}), rules=dict(rules or {}), top_n=int(top_n))


def write_html(
    report: Mapping[str, Any],
    rules: Mapping[str, Mapping[str, Any]] | None,
    templates_dir: pathlib.Path,
    path: pathlib.Path,
    *,
    top_n: int = DEFAULT_TOP_N,
) -> pathlib.Path:
    """Render and write the report atomically: readers never see a half-written file."""
    path = pathlib.Path(path)
    html = render_html(report, rules, templates_dir, top_n=top_n)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path

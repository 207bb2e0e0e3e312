"""The run report: one HTML page with every notebook's headline metrics and figures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>LSC Lab report: {{ run }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: .2rem; } .meta { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .9rem; }
td, th { border: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } .ok { color: #1a7f37; } .failed { color: #cf222e; } .skipped, .pending, .running, .interrupted { color: #9a6700; }
section { border-top: 2px solid #eee; margin-top: 1.6rem; padding-top: .6rem; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: .8rem; }
.figs figure { margin: 0; } .figs img { width: 100%; border: 1px solid #eee; }
figcaption { font-size: .8rem; color: #666; } details pre { max-height: 18rem; overflow: auto; font-size: .8rem; }
</style></head><body>
<h1>LSC Lab report: {{ run }}</h1>
<p class="meta">Run <span class="{{ status }}">{{ status }}</span> · dataset {{ data_dir }} · commit {{ commit }} · started {{ started }} · finished {{ finished }}</p>
<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>executed notebook</th></tr>
{% for nb in notebooks %}<tr><td><a href="#{{ nb.name }}">{{ nb.name }}</a></td>
<td class="{{ nb.status }}">{{ nb.status }}</td><td>{{ nb.seconds }}</td>
<td>{% if nb.html %}<a href="{{ nb.html }}">{{ nb.html }}</a>{% endif %}</td></tr>{% endfor %}
</table>
{% for nb in notebooks %}<section id="{{ nb.name }}"><h2>{{ nb.name }}</h2>
{% if nb.error %}<p class="failed">{{ nb.error }}</p>{% endif %}
{% if nb.scalars %}<table><tr><th>metric</th><th>value</th></tr>
{% for k, v in nb.scalars %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
{% for k, rows in nb.tables %}<p><b>{{ k }}</b></p><table><tr>{% for c in rows[0] %}<th>{{ c }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for c in rows[0] %}<td>{{ r.get(c) }}</td>{% endfor %}</tr>{% endfor %}</table>{% endfor %}
{% for k, v in nb.structured %}<details><summary>{{ k }}</summary><pre>{{ v }}</pre></details>{% endfor %}
<div class="figs">{% for f in nb.figures %}<figure><img src="{{ f }}" alt="{{ f }}"><figcaption>{{ f }}</figcaption></figure>{% endfor %}</div>
</section>{% endfor %}
</body></html>
"""


MAX_TABLE_ROWS = 40
FINISHED = ("ok", "failed")
"""Notebook statuses whose folder belongs to this run; a pending, running or interrupted notebook's
folder may still hold an earlier run's outputs, so the report links none of them."""


def _is_small_table(value: Any) -> bool:
    """A list of flat records short enough to show as an HTML table."""
    return (
        isinstance(value, list)
        and 0 < len(value) <= MAX_TABLE_ROWS
        and all(isinstance(r, dict) and not any(isinstance(x, dict | list) for x in r.values()) for r in value)
    )


def _notebook_entry(run_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    folder = run_dir / entry["name"]
    finished = entry.get("status") in FINISHED
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if finished and metrics_path.is_file() else {}
    status = metrics.get("status", entry.get("status", "ok")) if entry.get("status") == "ok" else entry["status"]
    scalars = [(k, v) for k, v in metrics.items() if not isinstance(v, dict | list)]
    tables = [(k, v) for k, v in metrics.items() if _is_small_table(v)]
    structured = [
        (k, json.dumps(v, indent=1, ensure_ascii=False))
        for k, v in metrics.items()
        if isinstance(v, dict | list) and not _is_small_table(v)
    ]
    html = folder / f"{entry['name']}.html"
    figures = sorted(p.relative_to(run_dir).as_posix() for p in (folder / "figures").glob("*.png")) if finished else []
    return {
        "name": entry["name"],
        "status": status,
        "seconds": entry.get("seconds"),
        "error": entry.get("error"),
        "html": html.relative_to(run_dir).as_posix() if finished and html.is_file() else None,
        "scalars": scalars,
        "tables": tables,
        "structured": structured,
        "figures": figures,
    }


def write_report(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``report.html`` in the run folder from the manifest and each notebook's outputs."""
    run_dir = Path(run_dir)
    env = Environment(autoescape=select_autoescape(default=True))
    page = env.from_string(TEMPLATE).render(
        run=manifest.get("run"),
        status=manifest.get("status", "ok"),
        data_dir=manifest.get("inputs", {}).get("data_dir"),
        commit=(manifest.get("git") or {}).get("commit"),
        started=manifest.get("started"),
        finished=manifest.get("finished"),
        notebooks=[_notebook_entry(run_dir, e) for e in manifest.get("notebooks", [])],
    )
    target = run_dir / "report.html"
    partial = target.with_name(".report.html.partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, target)  # a reader never sees half a report
    return target

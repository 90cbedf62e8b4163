"""How `dataops status` shows a report: a Rich table on the console, or one
self-contained HTML page (inline CSS and SVG charts: no CDN, opens offline)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from dataops.status import Report, Run, ScheduleStatus

STATUS_STYLE = {"success": "green", "running": "cyan", "failed": "red", "abandoned": "red"}
STATUS_COLOUR = {"success": "#2e7d32", "running": "#0277bd", "failed": "#c62828"}
STATUS_COLOUR["abandoned"] = "#6a1b9a"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `16h00m`, `2d00h`."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    if days:
        return f"{days}d{hrs:02d}h"
    if hours:
        return f"{hours}h{mins:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def totals(run: Run | None) -> str:
    """Records sent → rows loaded over the run's streams ("?" when not recorded)."""
    if run is None:
        return "—"
    if run.streams is None:
        return "? (not recorded)"
    sent = sum(s.records_sent for s in run.streams.values())
    loaded = sum(s.rows_loaded for s in run.streams.values())
    return f"{sent:,} → {loaded:,}"


def freshness(schedule: ScheduleStatus) -> str:
    slo = duration(schedule.slo_seconds)
    return f"stale (SLO {slo})" if schedule.stale else f"fresh (SLO {slo})"


# --- console -----------------------------------------------------------------------


def print_report(report: Report, console: Console, runs: int) -> None:
    table = Table(
        title=f"Schedules of {report.environment} as of {when(report.at)} ({report.database})"
    )
    table.add_column("schedule", no_wrap=True)
    for column in ("last run", "when", "took", "sent → loaded", "freshness", "next"):
        table.add_column(column)
    for schedule in report.schedules:
        last = schedule.last_run
        status = last.status if last else "never run"
        style = STATUS_STYLE.get(status, "yellow")
        table.add_row(
            schedule.name,
            f"[{style}]{status}[/{style}]",
            when(last.started_at if last else None),
            duration(last.seconds if last else None),
            totals(last) + (" [red]mismatch[/red]" if last and last.mismatched else ""),
            f"[{'red' if schedule.stale else 'green'}]{freshness(schedule)}[/]",
            when(schedule.next_due),
        )
    console.print(table)
    for schedule in report.schedules:
        last = schedule.last_run
        if last and last.error:
            console.print(f"[red]{schedule.name}[/red] last error: ", end="")
            console.print(last.error, markup=False, highlight=False)
        if last and last.mismatched:
            streams = escape_markup(", ".join(last.mismatched))
            console.print(f"[red]{schedule.name}[/red]: sent ≠ loaded in {streams}")
        changed = schedule.last_schema_change
        if changed:
            console.print(
                f"[yellow]{schedule.name}[/yellow]: schema changed in the run of "
                f"{when(changed.started_at)} ({changed.status}, policy "
                f"{changed.schema_policy or '?'}):"
            )
            for line in schema_lines(changed):
                console.print("  " + line, markup=False, highlight=False)
        if last and last.streams:
            console.print(streams_table(schedule.name, last))
        if runs > 1 and schedule.runs:
            console.print(history_table(schedule, runs))


def schema_lines(run: Run) -> list[str]:
    """One line per stream whose schema changed in `run`: `stream: what changed`."""
    return [f"{stream}: {'; '.join(changes)}" for stream, changes in run.schema_changes.items()]


def streams_table(name: str, run: Run) -> Table:
    table = Table(title=f"{name}: last run per stream")
    table.add_column("stream")
    for column in ("sent", "loaded", "took"):
        table.add_column(column, justify="right")
    table.add_column("bookmark after")
    for stream, counts in sorted((run.streams or {}).items()):
        loaded = f"{counts.rows_loaded:,}"
        table.add_row(
            escape_markup(stream),
            f"{counts.records_sent:,}",
            f"[red]{loaded} mismatch[/red]" if counts.mismatch else loaded,
            duration(counts.sync_seconds),
            escape_markup(str(counts.bookmark)) if counts.bookmark is not None else "—",
        )
    return table


def history_table(schedule: ScheduleStatus, runs: int) -> Table:
    table = Table(title=f"{schedule.name}: last {min(runs, len(schedule.runs))} runs")
    for column in ("started", "status", "took", "sent → loaded", "schema"):
        table.add_column(column)
    table.add_column("error (in full above, or with --json)", no_wrap=True, overflow="ellipsis")
    for run in schedule.runs[:runs]:
        style = STATUS_STYLE.get(run.status, "yellow")
        table.add_row(
            when(run.started_at),
            f"[{style}]{run.status}[/{style}]",
            duration(run.seconds),
            totals(run),
            "[yellow]changed[/yellow]" if run.schema_changes else "",
            escape_markup(run.error or ""),
        )
    return table


# --- HTML --------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;background:#fff}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;font-size:.9rem}
th{background:#f0f0f0}.num{text-align:right}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;color:#fff;font-size:.8rem}
.fresh{color:#2e7d32}.stale{color:#c62828;font-weight:bold}.bad{color:#c62828}
.charts{display:flex;gap:2rem;flex-wrap:wrap}figure{margin:0}figcaption{font-size:.8rem;color:#555}
.error{font-family:monospace;font-size:.8rem;color:#c62828;max-width:60rem}
.drift{background:#fff8e1;border-left:4px solid #f9a825;padding:.4rem .8rem}
"""


def badge(status: str) -> str:
    colour = STATUS_COLOUR.get(status, "#757575")
    return f'<span class="badge" style="background:{colour}">{escape(status)}</span>'


def html_page(report: Report, runs: int) -> str:
    """The whole report as one HTML document."""
    overall = "healthy" if report.healthy else "needs attention"
    rows = "".join(summary_row(s) for s in report.schedules)
    sections = "".join(schedule_section(s, runs) for s in report.schedules)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>data-ops-meltano status — {escape(report.environment)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Schedules of <span id='environment'>{escape(report.environment)}</span></h1>"
        f"<p id='overall' data-healthy='{str(report.healthy).lower()}'>"
        f"{escape(overall)} — as of {escape(when(report.at))}, from "
        f"{escape(report.database)}</p>"
        "<table id='schedules'><thead><tr><th>schedule</th><th>last run</th><th>when</th>"
        "<th>took</th><th>sent → loaded</th><th>freshness</th><th>next due</th>"
        f"<th>last error</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{sections}</body></html>"
    )


def summary_row(schedule: ScheduleStatus) -> str:
    last = schedule.last_run
    status = last.status if last else "never run"
    mismatch = " <span class='bad'>mismatch</span>" if last and last.mismatched else ""
    fresh = "stale" if schedule.stale else "fresh"
    return (
        f"<tr data-schedule='{escape(schedule.name)}' data-status='{escape(status)}' "
        f"data-stale='{str(schedule.stale).lower()}'>"
        f"<td><a href='#{escape(schedule.name)}'>{escape(schedule.name)}</a></td>"
        f"<td>{badge(status)}</td><td>{when(last.started_at if last else None)}</td>"
        f"<td class='num'>{duration(last.seconds if last else None)}</td>"
        f"<td class='num'>{escape(totals(last))}{mismatch}</td>"
        f"<td class='{fresh}'>{escape(freshness(schedule))}</td>"
        f"<td>{when(schedule.next_due)}</td>"
        f"<td class='error'>{escape(last.error or '') if last else ''}</td></tr>"
    )


def schedule_section(schedule: ScheduleStatus, runs: int) -> str:
    shown = list(reversed(schedule.runs[:runs]))  # oldest first, as charts read
    last = schedule.last_run
    streams = ""
    if last and last.streams:
        streams = "".join(
            f"<tr data-stream='{escape(name)}'><td>{escape(name)}</td>"
            f"<td class='num'>{counts.records_sent:,}</td>"
            f"<td class='num'>{counts.rows_loaded:,}</td>"
            f"<td class='num'>{duration(counts.sync_seconds)}</td>"
            f"<td>{escape(str(counts.bookmark) if counts.bookmark is not None else '—')}</td>"
            f"<td>{'<span class=bad>mismatch</span>' if counts.mismatch else ''}</td></tr>"
            for name, counts in sorted(last.streams.items())
        )
        streams = (
            "<table class='streams'><thead><tr><th>stream</th><th>records sent</th>"
            "<th>rows loaded</th><th>took</th><th>bookmark after</th><th></th></tr>"
            f"</thead><tbody>{streams}</tbody></table>"
        )
    elif last:
        streams = "<p>Counts of the last run were not recorded.</p>"
    changed = schedule.last_schema_change
    drift = (
        f"<div class='drift' data-run='{escape(changed.run_id)}'><p>Schema changed in the run "
        f"of {when(changed.started_at)} ({escape(changed.status)}, policy "
        f"{escape(changed.schema_policy or '?')}):</p><ul>"
        + "".join(f"<li>{escape(line)}</li>" for line in schema_lines(changed))
        + "</ul></div>"
        if changed
        else ""
    )
    loaded = [
        (run, float(sum(s.rows_loaded for s in (run.streams or {}).values()))) for run in shown
    ]
    took = [(run, run.seconds or 0.0) for run in shown]
    charts = (
        "<div class='charts'>"
        f"{bar_chart('rows loaded per run', loaded, schedule.name + '-rows')}"
        f"{bar_chart('duration per run (s)', took, schedule.name + '-seconds')}</div>"
        if shown
        else "<p>No run yet.</p>"
    )
    return (
        f"<section id='{escape(schedule.name)}'><h2>{escape(schedule.name)}</h2>"
        f"<p>{escape(schedule.extractor)} → {escape(schedule.loader)}, "
        f"interval <code>{escape(schedule.interval)}</code>, last success "
        f"{when(schedule.last_success_at)}, {escape(freshness(schedule))}</p>"
        f"{drift}{streams}{charts}</section>"
    )


def bar_chart(title: str, points: list[tuple[Run, float]], chart_id: str) -> str:
    """Bars oldest to newest, coloured by the run's status, the value on hover."""
    width, height, pad = 360, 140, 24
    top = max((value for _, value in points), default=0.0) or 1.0
    step = (width - 2 * pad) / max(len(points), 1)
    bars = []
    for i, (run, value) in enumerate(points):
        bar_height = (height - 2 * pad) * value / top
        x = pad + i * step + step * 0.15
        y = height - pad - bar_height
        colour = STATUS_COLOUR.get(run.status, "#757575")
        bars.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{step * 0.7:.1f}' height='{bar_height:.1f}' "
            f"fill='{colour}'><title>{escape(when(run.started_at))}: {value:,.0f} "
            f"({escape(run.status)})</title></rect>"
        )
    return (
        f"<figure><svg id='{escape(chart_id)}' width='{width}' height='{height}' "
        f"role='img' aria-label='{escape(title)}' xmlns='http://www.w3.org/2000/svg'>"
        f"<line x1='{pad}' y1='{height - pad}' x2='{width - pad}' y2='{height - pad}' "
        f"stroke='#999'/><text x='{pad}' y='{pad - 8}' font-size='10'>max {top:,.0f}</text>"
        f"{''.join(bars)}</svg><figcaption>{escape(title)}</figcaption></figure>"
    )

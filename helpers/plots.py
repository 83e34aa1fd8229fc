"""Cost and state plots (matplotlib). Each takes a DataFrame from helpers.cost/inventory/whatif, returns the
Axes, says in its title where the numbers come from, and draws "no data" rather than failing when empty."""

from __future__ import annotations

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullLocator

STATUS_COLORS = {
    "PROVISIONING": "#bdbdbd", "PENDING": "#9ecae1", "ACTIVATING": "#6baed6", "RUNNING": "#31a354",
    "DEACTIVATING": "#fdae6b", "STOPPING": "#fd8d3c", "DEPROVISIONING": "#e6550d", "STOPPED": "#636363",
}


def _axes(ax: Axes | None, size: tuple[float, float] = (9, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _empty(ax: Axes, title: str, why: str = "no data") -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def cost_by_cluster_and_service(costs: pd.DataFrame, ax: Axes | None = None,
                                value: str = "cost_usd", title: str | None = None) -> Axes:
    """Horizontal bars of ``value`` per cluster, stacked by service (from ``helpers.cost.cost_by``): ``cost_usd``
    (so far) or ``usd_per_hour_now`` (the rate of the tasks not stopped)."""
    ax = _axes(ax)
    title = title or "Estimated cost by cluster and service (USD, from task state)"
    data = costs.dropna(subset=[value])
    if data.empty or data[value].sum() == 0:
        return _empty(ax, title)
    table = data.pivot_table(index="cluster", columns="service", values=value, aggfunc="sum", observed=True,
                             fill_value=0)
    table.plot.barh(stacked=True, ax=ax, width=0.6)
    ax.set_xlabel("USD per hour" if "hour" in value else "USD")
    ax.set_ylabel("")
    ax.set_title(title)
    ax.legend(title="service", fontsize="small", loc="lower right")
    return ax


def _lanes(starts: list[float], ends: list[float]) -> list[int]:
    """A lane per task (sorted by start) so that tasks in one lane never overlap: as few lanes as can be."""
    free_at: list[float] = []
    lanes = []
    for start, end in zip(starts, ends, strict=True):
        lane = next((k for k, until in enumerate(free_at) if until <= start), len(free_at))
        if lane == len(free_at):
            free_at.append(end)
        free_at[lane] = end
        lanes.append(lane)
    return lanes


def _timeline_group(data: pd.DataFrame) -> pd.Series:
    """What a row of the timeline is: ``cluster / service``, or ``cluster / family (one-off)`` for a task
    no service started."""
    service = data["service"] if "service" in data else pd.Series(pd.NA, index=data.index)
    what = service.astype("string").fillna(data["family"].astype("string") + " (one-off)")
    return data["cluster"].astype(str) + " / " + what.astype(str)


def task_timeline(priced: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Gantt chart of every task from billing start to billing end (now, if running), colored by status.

    Tasks are grouped by service (one-off tasks by family): a group's tasks share lanes where they do not
    overlap, so the chart stays readable with many tasks and the figure grows with the lanes it needs.
    """
    title = "Task timeline by service, billed window, colored by last status (from task state)"
    data = priced.dropna(subset=["billing_start", "billing_end"]).sort_values("billing_start", kind="stable")
    if data.empty:
        return _empty(_axes(ax), title, "no task has timestamps")
    starts = mdates.date2num(data["billing_start"].dt.tz_convert("UTC").dt.tz_localize(None))
    ends = mdates.date2num(data["billing_end"].dt.tz_convert("UTC").dt.tz_localize(None))
    groups = _timeline_group(data).to_numpy()
    rows, ticks, labels, offset = [0] * len(data), [], [], 0
    for name in dict.fromkeys(groups):  # groups in the order of their first task
        members = [k for k, g in enumerate(groups) if g == name]
        lanes = _lanes([starts[k] for k in members], [ends[k] for k in members])
        for k, lane in zip(members, lanes, strict=True):
            rows[k] = offset + lane
        height = max(lanes) + 1
        ticks.append(offset + (height - 1) / 2)
        labels.append(f"{name} ({len(members)} task{'s' if len(members) != 1 else ''})")
        offset += height + 1  # a blank lane between groups
    ax = _axes(ax, (10, max(3.0, 0.28 * offset + 1.5)))
    colors = [STATUS_COLORS.get(str(s), "#969696") for s in data["last_status"]]
    ax.barh(rows, ends - starts, left=starts, color=colors, height=0.7)
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_ylim(offset - 0.5, -1)  # the first group on top
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.set_xlabel("UTC")
    shown = set(data["last_status"].astype(str))
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for s, c in STATUS_COLORS.items() if s in shown]
    ax.legend(handles, [s for s in STATUS_COLORS if s in shown], fontsize="small", loc="upper left",
              bbox_to_anchor=(1.01, 1))
    ax.set_title(title)
    return ax


def cost_rate_over_time(timeline: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The running cost rate (USD per hour) as a step line (from ``helpers.cost.cost_rate_timeline``)."""
    ax = _axes(ax)
    title = "Running cost rate over time (USD per hour, estimate from task state)"
    if timeline.empty:
        return _empty(ax, title, "no task has timestamps")
    times = timeline["time"].dt.tz_convert("UTC").dt.tz_localize(None)
    ax.step(times, timeline["usd_per_hour"], where="post")
    ax.fill_between(times, timeline["usd_per_hour"], step="post", alpha=0.25)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.set_xlabel("UTC")
    ax.set_ylabel("USD per hour")
    ax.set_title(title)
    return ax


def ecr_storage_by_repository(storage: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Bars of stored GB per repository, labelled with USD per month (from ``helpers.cost.ecr_storage``)."""
    ax = _axes(ax)
    title = "ECR storage by repository (unique layer bytes; estimate at $0.10 per GB-month)"
    data = storage[storage["repository"] != "(registry total)"]
    if data.empty:
        return _empty(ax, title, "no images")
    bars = ax.barh(data["repository"].astype(str), data["stored_gb"])
    ax.bar_label(bars, labels=[f"${v:.4f}/month" for v in data["usd_per_month"]], fontsize="small", padding=3)
    ax.set_xlabel("GB stored (2^30 bytes)")
    ax.set_title(title)
    ax.margins(x=0.3)
    return ax


def what_if_savings(scenarios: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Grouped bars per service: USD per month as is, on ARM, on Spot, both, and right-sized (``whatif.what_if``)."""
    ax = _axes(ax, (10, 4))
    title = "What if? USD per month per service (estimate; right size from an assumed peak)"
    columns = ["as_is", "arm", "spot", "arm_spot", "rightsized"]
    if scenarios.empty:
        return _empty(ax, title, "no services")
    scenarios.set_index("service")[columns].plot.bar(ax=ax, rot=0, width=0.8)
    ax.set_ylabel("USD per month")
    ax.set_xlabel("")
    ax.legend(["as is", "ARM", "Spot", "ARM + Spot", "right size"], fontsize="small")
    ax.set_title(title)
    notes = scenarios.loc[scenarios.get("note", pd.Series("", index=scenarios.index)).fillna("") != ""]
    if not notes.empty:  # a missing bar says why (Windows: no ARM, no Spot)
        text = "; ".join(f"{s}: {n}" for s, n in zip(notes["service"], notes["note"], strict=True))
        ax.annotate(text, xy=(0, -0.12), xycoords="axes fraction", fontsize="small", va="top", wrap=True)
    return ax


def sizes_against_cheaper(cpu: int, memory: int, cheaper: pd.DataFrame, right: tuple[int, int] | None = None,
                          ax: Axes | None = None) -> Axes:
    """Every cheaper valid size (colored by saving) around the requested one, and the right size if given."""
    ax = _axes(ax, (7, 4.5))
    title = f"Requested {cpu} CPU / {memory} MiB against cheaper valid Fargate sizes"
    if cheaper.empty:
        return _empty(ax, title, "no cheaper valid size")
    points = ax.scatter(cheaper["cpu"], cheaper["memory"], c=cheaper["saving_pct"], cmap="viridis", s=25)
    plt.colorbar(points, ax=ax, label="saving per hour (%)")
    ax.scatter([cpu], [memory], marker="*", s=250, color="crimson", label="requested")
    if right:
        ax.scatter([right[0]], [right[1]], marker="D", s=120, facecolors="none", edgecolors="black",
                   linewidths=1.5, label="right size", zorder=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({int(c) for c in cheaper["cpu"]} | {int(cpu)}))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))  # 256, 512: not 2^8, 2^9
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))
    ax.set_xlabel("CPU units")
    ax.set_ylabel("memory (MiB)")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2)
    ax.set_title(title)
    return ax

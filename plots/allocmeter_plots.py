#!/usr/bin/python3
"""Charts from an allocmeter summary.json: heat maps, per-workload time and RSS bars, scaling, latency
and RSS-over-time, in PNG and SVG sized for a 16:9 slide, listed in charts.json for `allocmeter report`.
Every number drawn is read from the summary, which the C++ side computes once; this script only draws.
Run with /usr/bin/python3 (Debian's python3-matplotlib); see `--help`."""

import argparse
import json
import math
import multiprocessing
import os
import re
import sys
from collections import Counter

SUMMARY_SCHEMA = "allocmeter-summary/1"
CHARTS_SCHEMA = "allocmeter-charts/1"
EXIT_INPUT = 2            # the summary file is missing, unreadable or has nothing to plot
EXIT_NO_MATPLOTLIB = 3    # this interpreter cannot draw
FORMATS = ("png", "svg")
SLIDE_INCHES = (13.33, 7.5)   # a 16:9 slide; constrained layout keeps every chart exactly this size
PNG_DPI = 150                 # 2000 x 1125 pixels: sharp on a projector, small enough to embed
PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max"))
THREAD_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf")
LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
LINE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*",      # 20 markers: with 19 allocators
                "h", "d", "p", "H", "8", "1", "2", "3", "4", "+")     # no two share colour and marker
# A second or third pass through the ten colours changes the dash; plain "--" is left to live bytes.
LINE_STYLES = ("-", "-.", ":")
MIB = 1024.0 * 1024.0
REWRITE = "write it again with `allocmeter plot RESULTS -o DIR`, which puts a fresh summary.json in DIR"


class InputError(Exception):
    """The summary file cannot be plotted; the message names it and says what to do (exit 2)."""


# ---------------------------------------------------------------------------------------------------
# Reading a summary file


def summary_path_of(given):
    """The summary.json that `given` names: the file itself, or summary.json inside a folder."""
    if os.path.isdir(given):
        inside = os.path.join(given, "summary.json")
        if not os.path.isfile(inside):
            raise InputError(f"{given}: a folder without summary.json; give a run folder that `allocmeter run` "
                             f"finished (results/latest) or the summary.json itself, or {REWRITE}")
        return inside
    if not os.path.isfile(given):
        raise InputError(f"{given}: no such file; give the summary.json that `allocmeter run` wrote "
                         f"(results/latest/summary.json) or its folder")
    return given


# The fields the charts cannot do without, per level: (field, the JSON types it may have).
SUMMARY_FIELDS = (("results", str), ("baseline", str), ("reps", int), ("allocators", list),
                  ("workloads", list), ("groups", list))
ALLOCATOR_FIELDS = (("name", str), ("label", str))
GROUP_FIELDS = (("workload", str), ("threads", int), ("rows", list))
ROW_FIELDS = (("allocator", str), ("status", str))


def _check_fields(path, where, item, fields):
    """InputError naming the first of `fields` that `item` (at `where` in the file) lacks."""
    if not isinstance(item, dict):
        raise InputError(f"{path}: {where} is not an object; {REWRITE}")
    for field, kind in fields:
        value = item.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):   # JSON's true is no count
            raise InputError(f"{path}: {where} has no usable '{field}'; {REWRITE}")


def _check_shape(path, data):
    """The skeleton the charts walk; the metric objects inside rows may each be null (not drawn)."""
    _check_fields(path, "the top level", data, SUMMARY_FIELDS)
    for i, allocator in enumerate(data["allocators"]):
        _check_fields(path, f"allocators[{i}]", allocator, ALLOCATOR_FIELDS)
    for i, group in enumerate(data["groups"]):
        _check_fields(path, f"groups[{i}]", group, GROUP_FIELDS)
        for j, row in enumerate(group["rows"]):
            _check_fields(path, f"groups[{i}].rows[{j}]", row, ROW_FIELDS)


def load_summary(given):
    """(path of summary.json, parsed summary) for a file or folder; InputError when unusable."""
    path = summary_path_of(given)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON ({e}); give the summary.json that `allocmeter run` wrote, "
                         f"or {REWRITE}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot be read ({e}); check the path and its permissions") from None
    if isinstance(data, dict) and "cells" in data:
        raise InputError(f"{path}: a results file, not a summary; give the summary.json beside it, "
                         f"or {REWRITE}")
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SUMMARY_SCHEMA:
        raise InputError(f"{path}: not an allocmeter summary (schema {json.dumps(schema)}, this script reads "
                         f"{SUMMARY_SCHEMA}); give the summary.json that `allocmeter run` wrote, or {REWRITE}")
    _check_shape(path, data)
    statuses = Counter(row["status"] for group in data["groups"] for row in group["rows"])
    if statuses["ok"] == 0:
        seen = ", ".join(f"{n} {s}" for s, n in statuses.most_common()) or "no rows"
        raise InputError(f"{path}: no ok rows to plot ({seen}); look at each cell's 'reason' in the results "
                         f"file, fix it and rerun `allocmeter run`")
    return path, data


def workload_short_name(workload):
    """What a workload is called on a chart: trace workloads by the trace file's stem, spec
    workloads by the spec file's, after "spec:"."""
    if workload.startswith("spec:"):
        stem = os.path.basename(workload[len("spec:"):])
        return "spec:" + (stem[:-len(".json")] if stem.endswith(".json") else stem)
    if workload.startswith("trace:"):
        stem = os.path.basename(workload[len("trace:"):])
        return stem[:-len(".trace")] if stem.endswith(".trace") else os.path.splitext(stem)[0] or stem
    return workload


class RunModel:
    """One run's summary as the charts walk it: allocators in run order with their labels, the
    workloads and their thread counts, and each (workload, threads) group's row per allocator."""

    def __init__(self, path, data):
        self.path = path
        # The results file the summary was made from; a relative name is beside the summary.
        self.results = os.path.join(os.path.dirname(os.path.abspath(path)), data["results"])
        self.baseline = data["baseline"]
        self.measure = data.get("measure", "time")   # absent from summaries written before run --measure
        self.reps = data["reps"]
        self.latency_every = data.get("latency_every")   # absent from summaries written before it was added
        self.allocators = [a["name"] for a in data["allocators"]]
        self.labels = {a["name"]: a["label"] for a in data["allocators"]}
        self.rows = {(g["workload"], g["threads"]): {r["allocator"]: r for r in g["rows"]} for g in data["groups"]}
        # Thread counts ascending, for the axes, whatever order --threads gave them in.
        self.threads_of = {w: sorted({t for (w2, t) in self.rows if w2 == w}) for w in data["workloads"]}
        self.workloads = [w for w in data["workloads"] if self.threads_of[w]]
        self.file_names = _file_names(self.workloads)

    def reps_text(self):
        """How many reps each median is of: the summary's count, or a range such as "6 to 30" where
        the ok rows' counts differ (a --reps auto run stops each group on its own; a failed rep
        drops one)."""
        counts = {r["time"]["n"] for rows in self.rows.values() for r in rows.values() if isinstance(r.get("time"), dict)}
        return f"{min(counts)} to {max(counts)}" if len(counts) > 1 else str(self.reps)

    def columns(self):
        """(workload, threads) pairs in run order: the heat maps' columns."""
        return [(w, t) for w in self.workloads for t in self.threads_of[w]]

    def field(self, allocator, workload, threads, name):
        """One field of a row (time, rss, throughput, latency_alloc, ...); None when absent or null."""
        row = self.rows.get((workload, threads), {}).get(allocator)
        return row.get(name) if row is not None else None

    def status(self, allocator, workload, threads):
        """The row's status: 'ok' when any rep was ok, else its reps' commonest; 'not run' when no row."""
        return self.field(allocator, workload, threads, "status") or "not run"

    def per_op(self, allocator, workload, threads, name):
        """A run --measure callgrind figure per operation (the row's callgrind.per_op[name]); None when absent."""
        c = self.field(allocator, workload, threads, "callgrind")
        return c.get("per_op", {}).get(name) if isinstance(c, dict) else None

    def relative(self, allocator, workload, threads, metric):
        """(ratio, ratio_ci_low, ratio_ci_high, ci_level) of a metric; None without a baseline result.
        A callgrind count has no interval: it is the same on every run."""
        if metric.per_op is not None:
            mine = self.per_op(allocator, workload, threads, metric.per_op)
            base = self.per_op(self.baseline, workload, threads, metric.per_op)
            if mine is None or not base:
                return None
            return mine / base, None, None, None
        m = self.field(allocator, workload, threads, metric.key)
        if not isinstance(m, dict) or m.get("ratio") is None:
            return None
        return m["ratio"], m["ratio_ci_low"], m["ratio_ci_high"], m["ci_level"]

    def baseline_note(self):
        """A sentence for captions when the baseline is not `system`, else nothing."""
        if self.baseline == "system":
            return ""
        return f" System was not run, so {self.baseline}, the first allocator run, is the baseline."

    def baseline_phrase(self):
        """How titles name the baseline; says so when `system` was not run."""
        if self.baseline == "system":
            return "system"
        return f"{self.baseline}, as system was not run"


def _unique(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _file_names(workloads):
    """A file-name-safe, unique name per workload: 'frame', 'sqlite-index' (a second 'x' is 'x-2')."""
    names, used = {}, Counter()
    for w in workloads:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", workload_short_name(w)).strip("._") or "workload"
        used[base] += 1
        names[w] = base if used[base] == 1 else f"{base}-{used[base]}"
    return names


# ---------------------------------------------------------------------------------------------------
# Metrics and wording shared by the charts (data, so the heat maps and bars say the same thing)


class Metric:
    """A row's figure compared against the baseline (its summary field `key`), with its charts' words.
    `per_op`: a run --measure callgrind figure (the row's callgrind.per_op[per_op]), drawn as itself
    rather than as a ratio, coloured by its ratio to the baseline's."""

    def __init__(self, key, title, lower, higher, per_op=None):
        self.key, self.title, self.lower, self.higher, self.per_op = key, title, lower, higher, per_op


TIME = Metric("time", "median ns/op", "faster", "slower")
PEAK_RSS = Metric("rss", "median peak RSS", "less memory", "more memory")
ALLOCATOR_INSTRUCTIONS = Metric("allocator-instructions", "instructions inside the allocator per op", "fewer", "more",
                                "allocator_instructions_per_op")
INSTRUCTIONS = Metric("instructions", "instructions per op", "fewer", "more", "instructions_per_op")

# What each heat map says in its title and caption: (what, the unit of a cell).
_HEATMAP_WORDS = {
    "time": ("Time per operation", "ns/op"),
    "rss": ("Peak RSS", "peak resident set (VmHWM, start-up footprint included)"),
    "allocator-instructions": ("Instructions inside the allocator",
                               "instructions per operation inside the allocator's calls (callgrind)"),
    "instructions": ("Instructions", "instructions per operation in the timed region, allocator and harness (callgrind)"),
}


def _count_text(v):
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _ratio_text(r):
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def _level_text(levels):
    """'93.75%' or '93.75-96.88%' for the CI coverage of the plotted groups."""
    levels = {round(100 * x, 2) for x in levels if x is not None}
    if not levels:
        return "the"
    low, high = min(levels), max(levels)
    return f"{low:g}%" if low == high else f"{low:g}-{high:g}%"


def _threads_text(t):
    return f"{t} thread" if t == 1 else f"{t} threads"


def _line_style(model, allocator):
    """Colour, marker and dash of an allocator's line, the same on every chart of a run."""
    i = model.allocators.index(allocator)
    n = len(LINE_COLOURS)
    return {"color": LINE_COLOURS[i % n], "marker": LINE_MARKERS[i % len(LINE_MARKERS)],
            "linestyle": LINE_STYLES[(i // n) % len(LINE_STYLES)], "fillstyle": "full"}


# ---------------------------------------------------------------------------------------------------
# Drawing


class Chart:
    """One chart to write: its name, kind, title and caption for charts.json, and the figure."""

    def __init__(self, name, kind, title, caption, figure):
        self.name, self.kind, self.title, self.caption, self.figure = name, kind, title, caption, figure


def _setup_matplotlib():
    """Import matplotlib for off-screen drawing, with slide-sized fonts; ImportError when absent."""
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams.update({
        "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "figure.titlesize": 15,
        "legend.fontsize": 10, "xtick.labelsize": 10, "ytick.labelsize": 10,
        "svg.fonttype": "none",          # text stays text in the SVG: searchable, crisp, small
        "svg.hashsalt": "allocmeter",    # the same results give byte-identical SVGs
        "axes.grid": False, "figure.facecolor": "white",
    })
    return matplotlib


def _figure(rows=1, cols=1, legend="none", sharey="none", sharex=False):
    """A slide-sized figure with a rows x cols grid of axes, plus an empty axes to hold the legend:
    a column on the right (legend="right", for long allocator lists) or a strip on top ("top").
    sharey: "row" shares the y axis along each row, "all" across every panel.
    Legends live in their own axes because constrained layout then keeps them clear of the plots."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=SLIDE_INCHES, layout="constrained")
    legend_inches = 3.1
    widths = [1] * cols + ([cols * legend_inches / (SLIDE_INCHES[0] - legend_inches)] if legend == "right" else [])
    heights = ([0.04 * rows] if legend == "top" else []) + [1] * rows
    grid = fig.add_gridspec(len(heights), len(widths), width_ratios=widths, height_ratios=heights)
    first = 1 if legend == "top" else 0
    axes = [[None] * cols for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            share = {}
            if sharey == "row" and c > 0:
                share["sharey"] = axes[r][0]
            elif sharey == "all" and (r, c) != (0, 0):
                share["sharey"] = axes[0][0]
            if sharex and r > 0:
                share["sharex"] = axes[0][c]
            axes[r][c] = fig.add_subplot(grid[first + r, c], **share)
    legend_ax = fig.add_subplot(grid[:, cols]) if legend == "right" else \
        fig.add_subplot(grid[0, :]) if legend == "top" else None
    if legend_ax is not None:
        legend_ax.axis("off")
    return fig, axes, legend_ax


def _allocator_legend(model, legend_ax, drawn, extra=()):
    """The shared legend: one entry per allocator drawn (in run order, with versions), then extras."""
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], markersize=6, linewidth=1.8, **_line_style(model, a))
               for a in model.allocators if a in drawn]
    labels = [model.labels[a] for a in model.allocators if a in drawn]
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    size = 10 if len(labels) <= 14 else 9
    legend_ax.legend(handles, labels, loc="center left", frameon=False, fontsize=size,
                     title="allocator", title_fontsize=size + 1, borderaxespad=0)


def heatmap_chart(model, metric):
    """Allocators x (workload, threads), coloured by the median relative to the baseline's median."""
    import numpy as np
    import matplotlib
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FixedLocator, NullLocator
    columns = model.columns()
    ratios = np.full((len(model.allocators), len(columns)), np.nan)
    for i, a in enumerate(model.allocators):
        for j, (w, t) in enumerate(columns):
            rel = model.relative(a, w, t, metric)
            if rel is not None and rel[0] > 0:
                ratios[i, j] = rel[0]
    if not np.isfinite(ratios).any():
        return None
    # The colour scale is symmetric on a log axis around 1.0x, at least 0.5x-2x so that noise near 1.0
    # stays pale, at most 1/16x-16x so that one outlier does not wash out every other cell.
    finite = ratios[np.isfinite(ratios)]
    spread = float(np.exp(np.max(np.abs(np.log(finite)))))
    limit = 2.0 ** min(4, max(1, math.ceil(math.log2(spread) - 1e-9)))
    norm = LogNorm(vmin=1 / limit, vmax=limit)
    cmap = matplotlib.colormaps["RdBu_r"].copy()
    cmap.set_bad("#d9d9d9")

    fig, axes, _ = _figure()
    ax = axes[0][0]
    image = ax.imshow(np.ma.masked_invalid(ratios), cmap=cmap, norm=norm, aspect="auto",
                      interpolation="nearest")
    rows, cols = ratios.shape
    font = 11 if rows <= 8 and cols <= 8 else 9 if rows <= 14 else 8
    for i, a in enumerate(model.allocators):
        for j, (w, t) in enumerate(columns):
            r = ratios[i, j]
            if np.isfinite(r):
                red, green, blue, _ = cmap(norm(min(max(r, 1 / limit), limit)))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                text = _ratio_text(r) if metric.per_op is None else _count_text(model.per_op(a, w, t, metric.per_op))
                ax.text(j, i, text, ha="center", va="center", fontsize=font,
                        color="white" if dark else "black")
            else:
                status = model.status(a, w, t)
                text = "no baseline" if status == "ok" else status
                ax.text(j, i, text, ha="center", va="center", fontsize=font - 1, color="#404040",
                        style="italic")
    ax.set_xticks(range(cols))
    ax.set_xticklabels([f"{workload_short_name(w)}\n{t} thr" for w, t in columns])
    ax.set_yticks(range(rows))
    ax.set_yticklabels([model.labels[a] for a in model.allocators])
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02,
                       extend="both" if spread > limit else "neither")
    ticks = [2.0 ** e for e in range(-int(math.log2(limit)), int(math.log2(limit)) + 1)]
    bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
    bar.ax.yaxis.set_minor_locator(NullLocator())
    bar.ax.set_yticklabels([f"{x:g}x" for x in ticks])
    base = model.baseline_phrase()
    bar.set_label(f"{metric.title} / {model.baseline}'s (log scale)\n"
                  f"blue: {metric.lower}, red: {metric.higher}")
    what, unit = _HEATMAP_WORDS[metric.key]
    if metric.per_op is None:
        title = f"{what} relative to {base} (median of {model.reps_text()} reps)"
        shown = (f"Each cell is an allocator's median {unit} over its ok reps on one workload and thread count, "
                 f"divided by {model.baseline}'s median in the same column")
    else:
        title = f"{what} per operation, coloured against {base}"
        shown = (f"Each cell shows an allocator's {unit} on one workload and thread count (counts: the same on "
                 f"every run), coloured by its ratio to {model.baseline}'s in the same column")
    fig.suptitle(title)
    serialised = ""
    if metric.per_op is not None and any(t > 1 for _, t in columns):
        serialised = (" Valgrind runs a cell's threads one at a time, so the columns of more than one thread "
                      "count the instructions the threads executed, without contention.")
    caption = (f"{shown}, on a log colour scale centred at 1.0x: blue is {metric.lower}, red {metric.higher}. "
               f"Grey cells had no ok reps and name their status (skipped, failed or timeout)."
               + serialised + model.baseline_note())
    return Chart(f"heatmap-{metric.key}", "heatmap", title, caption, fig)


def _relative_panel(model, ax, workload, metric, threads):
    """Horizontal bars from 1.0x to each group's median ratio, CI as error bars; returns CI levels."""
    levels, extent, labels = [], [1.0], []
    height = 0.8 / len(threads)
    font = 9 if len(model.allocators) * len(threads) <= 24 else 7
    for i, a in enumerate(model.allocators):
        missing = []   # (threads, bar position, why) for each bar left out
        for k, t in enumerate(threads):
            y = i - 0.4 + height * (k + 0.5)
            rel = model.relative(a, workload, t, metric)
            if rel is None or rel[0] <= 0:
                status = model.status(a, workload, t)
                missing.append((t, y, f"no {model.baseline} result" if status == "ok" else status))
                continue
            ratio, low, high, level = rel
            levels.append(level)
            extent += [low, high]
            ax.barh(y, ratio - 1.0, left=1.0, height=height * 0.9, color=THREAD_COLOURS[k % len(THREAD_COLOURS)],
                    xerr=[[ratio - low], [high - ratio]],
                    error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "#333333"})
            # The label sits past the error bar's far end, on the side the bar points to.
            labels.append((high * 1.03, y, "left") if ratio >= 1 else (low / 1.03, y, "right"))
            labels[-1] += (_ratio_text(ratio),)
        # A group with no bar keeps its label and says why: once for the whole group when every
        # thread count is missing, else in the empty slot of each missing bar.
        whole = len(missing) == len(threads) and len({why for _, _, why in missing}) == 1
        notes = [(i, f"({missing[0][2]})")] if whole else \
            [(y, f"({_threads_text(t)}: {why})") for t, y, why in missing]
        for y, text in notes:
            ax.text(0.01, y, text, transform=ax.get_yaxis_transform(), ha="left", va="center",
                    fontsize=9 if whole else font, color="#555555", style="italic")
    for x, y, align, text in labels:
        ax.text(x, y, text, ha=align, va="center", fontsize=font, color="#222222")
    return levels, extent


def nice_log_ticks(low, high, most=8):
    """Round tick values for a log axis from low to high: the finest of 1-1.5-2-3-5-7, 1-2-5, ...
    that gives at most `most` ticks, so every tick is labelled in plain numbers (no 6x10^1)."""
    if not (low > 0 and high > low):
        return [low] if low and low > 0 else [1.0]
    for mantissas in ((1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8), (1, 1.5, 2, 3, 5, 7), (1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** d for d in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
                 for m in mantissas]
        ticks = [t for t in ticks if low <= t <= high]
        if len(ticks) <= most:
            return ticks
    step = math.ceil(len(ticks) / most)    # decades only, but many of them: every step-th decade
    return ticks[::step]


def _apply_log_ticks(axis, low, high, label_of, most=8):
    """Fixed, plainly labelled major ticks and no minor ones on one log axis (x or y)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    axis.set_major_locator(FixedLocator(nice_log_ticks(low, high, most)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: label_of(v)))
    axis.set_minor_locator(NullLocator())


def _number_text(v):
    """A tick value as a person writes it: 0.5, 2, 150, 1.5k."""
    return f"{v / 1000:g}k" if v >= 10000 else f"{v:g}"


def _ns_text(v):
    """Nanoseconds as a tick label: 50 ns, 1 µs, 20 µs, 3 ms."""
    for scale, unit in ((1e6, "ms"), (1e3, "µs")):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} ns"


def _set_log_ratio_axis(ax, extent, label):
    low, high = min(extent), max(extent)
    # Room beyond the error bars for each bar's ratio label: about a tenth of the axis on each side.
    pad = max(1.3, (high / low) ** 0.14)
    low, high = low / pad, high * pad
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    _apply_log_ticks(ax.xaxis, low, high, lambda v: f"{v:g}x")
    ax.axvline(1.0, color="black", linewidth=1.2)
    ax.grid(axis="x", which="major", color="#e0e0e0", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(label)


def time_chart(model, workload):
    """Two panels for one workload: ns/op and peak RSS of each allocator relative to the baseline."""
    from matplotlib.patches import Patch
    threads = model.threads_of[workload]
    fig, axes, legend_ax = _figure(1, 2, legend="top", sharey="row")
    levels = []
    for ax, metric, label in ((axes[0][0], TIME, f"ns/op relative to {model.baseline} (log scale)"),
                              (axes[0][1], PEAK_RSS, f"peak RSS relative to {model.baseline} (log scale)")):
        lv, extent = _relative_panel(model, ax, workload, metric, threads)
        levels += lv
        _set_log_ratio_axis(ax, extent, label)
        ax.set_title(f"time per operation ({TIME.lower} ←  → {TIME.higher})" if metric is TIME
                     else f"peak RSS ({PEAK_RSS.lower} ←  → {PEAK_RSS.higher})")
    if not levels:
        return None
    left = axes[0][0]
    left.set_yticks(range(len(model.allocators)))
    left.set_yticklabels([model.labels[a] for a in model.allocators])
    left.set_ylim(len(model.allocators) - 0.5, -0.5)
    for tick, a in zip(left.get_yticklabels(), model.allocators):
        if a == model.baseline:
            tick.set_fontweight("bold")
    axes[0][1].tick_params(labelleft=False)
    handles = [Patch(color=THREAD_COLOURS[k % len(THREAD_COLOURS)], label=_threads_text(t))
               for k, t in enumerate(threads)]
    legend_ax.legend(handles=handles, loc="center", ncol=len(handles), frameon=False, borderaxespad=0)
    short = workload_short_name(workload)
    title = f"{short}: time and peak RSS relative to {model.baseline_phrase()} (median of {model.reps_text()} reps)"
    fig.suptitle(title)
    caption = (f"Bars run from 1.0x ({model.baseline}, bold) to each allocator's median "
               f"over its ok reps divided by {model.baseline}'s median at the same thread count, on a log axis: "
               f"left is faster or smaller, right slower or larger. Error bars are the allocator's "
               f"{_level_text(levels)} confidence interval for the median (order statistics) divided by "
               f"{model.baseline}'s median; allocators with no ok reps keep their row and say why."
               + model.baseline_note())
    return Chart(f"time-{model.file_names[workload]}", "relative", title, caption, fig)


def _panel_grid(n):
    """(rows, cols) for n panels on a slide."""
    if n <= 3:
        return 1, n
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def scaling_chart(model):
    """Throughput against threads, one panel per synthetic workload that ran at several thread counts."""
    workloads = [w for w in model.workloads if len(model.threads_of[w]) > 1 and not w.startswith(("trace:", "spec:"))]
    if not workloads:
        return None
    rows, cols = _panel_grid(len(workloads))
    fig, axes, legend_ax = _figure(rows, cols, legend="right")
    drawn, levels = set(), []
    # Each allocator's points sit a little apart at a thread count, so that error bars stay readable.
    dodge = 0.16 / max(1, len(model.allocators) - 1)
    for index, w in enumerate(workloads):
        ax = axes[index // cols][index % cols]
        threads = model.threads_of[w]
        values = []
        for n, a in enumerate(model.allocators):
            points = [(t, model.field(a, w, t, "throughput")) for t in threads]
            points = [(t, s) for t, s in points if s is not None]
            if not points:
                continue
            drawn.add(a)
            levels += [s["ci_level"] for _, s in points]
            xs = [t + dodge * (n - (len(model.allocators) - 1) / 2) for t, _ in points]
            # In million ops/s; matplotlib takes error bars as distances below and above each point.
            mid = [s["median"] / 1e6 for _, s in points]
            low = [s["ci_low"] / 1e6 for _, s in points]
            high = [s["ci_high"] / 1e6 for _, s in points]
            values += low + high
            err = [[m - lo for m, lo in zip(mid, low)], [hi - m for m, hi in zip(mid, high)]]
            ax.errorbar(xs, mid, yerr=err, capsize=3, linewidth=1.6, markersize=5, **_line_style(model, a))
        ax.set_yscale("log")
        if values:
            low, high = min(values) / 1.1, max(values) * 1.1
            ax.set_ylim(low, high)
            _apply_log_ticks(ax.yaxis, low, high, _number_text)
        ax.set_xticks(threads)
        ax.set_xlim(threads[0] - 0.3, threads[-1] + 0.3)
        ax.set_xlabel("threads")
        ax.set_ylabel("throughput (million ops/s, log scale)")
        ax.set_title(workload_short_name(w))
        ax.grid(which="major", color="#e8e8e8", linewidth=0.8)
    for index in range(len(workloads), rows * cols):
        axes[index // cols][index % cols].axis("off")
    _allocator_legend(model, legend_ax, drawn)
    title = f"Throughput against threads (median of {model.reps_text()} reps)"
    fig.suptitle(title)
    caption = ("Median throughput (operations / timed wall-clock seconds, all threads together) over each "
               "allocator's ok reps against the thread count, log y axis; error bars are the "
               f"{_level_text(levels)} confidence interval for the median. A rising line scales; trace "
               "workloads are left out, as their trace fixes the thread count.")
    return Chart("scaling", "scaling", title, caption, fig)


def latency_chart(model, workload):
    """Sampled alloc (and free) latency percentiles, one panel per thread count and operation."""
    threads = model.threads_of[workload]
    sides = [side for side in ("alloc", "free")
             if any(model.field(a, workload, t, f"latency_{side}") for a in model.allocators for t in threads)]
    if not sides:
        return None
    fig, axes, legend_ax = _figure(len(sides), len(threads), legend="right", sharey="all", sharex=True)
    drawn, values = set(), []
    positions = list(range(len(PERCENTILES)))
    for r, side in enumerate(sides):
        for c, t in enumerate(threads):
            ax = axes[r][c]
            for a in model.allocators:
                percentiles = model.field(a, workload, t, f"latency_{side}")
                if not percentiles:
                    continue
                # A log axis cannot show zero: a percentile at or below the timer's resolution is a gap.
                ys = [y if isinstance(y, (int, float)) and y > 0 else float("nan")
                      for y in (percentiles.get(key) for key, _ in PERCENTILES)]
                drawn.add(a)
                values += [y for y in ys if y == y]
                ax.plot(positions, ys, linewidth=1.6, markersize=5, **_line_style(model, a))
            if not ax.lines:
                ax.text(0.5, 0.5, f"no {side} latency here", transform=ax.transAxes, ha="center",
                        color="#555555", style="italic")
            ax.set_yscale("log")
            ax.set_xticks(positions)
            ax.set_xticklabels([label for _, label in PERCENTILES])
            ax.tick_params(labelbottom=True)
            ax.grid(which="major", color="#e0e0e0", linewidth=0.8)
            ax.set_title(f"{'allocation' if side == 'alloc' else 'free'}, {_threads_text(t)}")
            if c == 0:
                ax.set_ylabel(f"{'allocation' if side == 'alloc' else 'free'} latency (log scale)")
            else:
                ax.tick_params(labelleft=False)
            if r == len(sides) - 1:
                ax.set_xlabel("percentile")
    if values:   # the panels share the y axis; ticks once, over every panel's values
        low, high = min(values) / 1.3, max(values) * 1.3
        axes[0][0].set_ylim(low, high)
        _apply_log_ticks(axes[0][0].yaxis, low, high, _ns_text, most=7)
    _allocator_legend(model, legend_ax, drawn)
    short = workload_short_name(workload)
    which = "allocation and free" if len(sides) == 2 else "allocation" if sides == ["alloc"] else "free"
    title = f"{short}: sampled {which} latency percentiles (median of {model.reps_text()} reps)"
    fig.suptitle(title)
    every = f"one call in every {model.latency_every}" if model.latency_every else "a sample of calls"
    caption = (f"Sampled latency ({every}, timed with the time-stamp counter less the timer's own cost) at "
               f"each percentile, each point the median over the allocator's ok reps, log y axis. "
               + ("Only allocations are shown: no allocator freed objects one by one here; "
                  if "free" not in sides else
                  "Allocators that free nothing one by one (reset-only) have no free line; ")
               + "the max is one worst call and varies most between reps.")
    return Chart(f"latency-{model.file_names[workload]}", "latency", title, caption, fig)


def _rss_series(model, allocator, workload, threads):
    """The row's median_rep_series (the summary picked the rep); None when absent or empty."""
    series = model.field(allocator, workload, threads, "median_rep_series")
    return series if isinstance(series, dict) and series.get("t_ms") else None


def rss_chart(model, workload):
    """RSS over the timed region, one line per allocator, one panel per thread count."""
    from matplotlib.lines import Line2D
    threads = model.threads_of[workload]
    series = {(a, t): _rss_series(model, a, workload, t) for a in model.allocators for t in threads}
    if not any(series.values()):
        return None
    fig, axes, legend_ax = _figure(1, len(threads), legend="right", sharey="row")
    drawn, live_from, top = set(), [], 0.0
    for c, t in enumerate(threads):
        ax = axes[0][c]
        for a in model.allocators:
            s = series[(a, t)]
            if s is None:
                continue
            drawn.add(a)
            top = max([top] + [b / MIB for b in s["rss_bytes"]])
            ax.plot(s["t_ms"], [b / MIB for b in s["rss_bytes"]], linewidth=1.5, markersize=4,
                    markevery=max(1, len(s["t_ms"]) // 12), **_line_style(model, a))
        # Live bytes are the same requests on every allocator; the baseline's, or the first run's.
        source = next((a for a in [model.baseline] + model.allocators
                       if series[(a, t)] and series[(a, t)].get("live_bytes")), None)
        if source is not None:
            s = series[(source, t)]
            if source not in live_from:
                live_from.append(source)
            ax.plot(s["t_ms"], [b / MIB for b in s["live_bytes"]], color="black", linestyle="--", linewidth=1.6)
        ax.set_xlabel("time since the timed region started (ms)")
        if c == 0:
            ax.set_ylabel("resident set (MiB)")
        ax.set_xlim(left=0)
        ax.set_title(_threads_text(t))
        ax.grid(color="#e8e8e8", linewidth=0.8)
    axes[0][0].set_ylim(0, top * 1.05)   # shared by the panels, so set once every series is in
    live = [(Line2D([], [], color="black", linestyle="--", linewidth=1.6), "live bytes (requested)")]
    _allocator_legend(model, legend_ax, drawn, live if live_from else ())
    short = workload_short_name(workload)
    title = f"{short}: resident set over time (the median rep by ns/op)"
    fig.suptitle(title)
    whose = ", ".join(live_from)
    caption = (f"Resident set during the timed region, for each allocator the rep whose ns/op is the median "
               f"one (start-up footprint included). The dashed black line is the bytes requested and not yet "
               f"freed (the harness's count, in {whose}'s median rep); the gap above it is allocator overhead, "
               f"fragmentation and that footprint.")
    return Chart(f"rss-{model.file_names[workload]}", "rss", title, caption, fig)


def chart_makers(model):
    """Every chart the summary could have, in reading order, each as a function that draws it
    (None when its data is absent)."""
    if model.measure == "callgrind":
        # Times and RSS under valgrind are valgrind's: the counts are the figures.
        return [lambda: heatmap_chart(model, ALLOCATOR_INSTRUCTIONS), lambda: heatmap_chart(model, INSTRUCTIONS)]
    makers = [lambda: heatmap_chart(model, TIME), lambda: heatmap_chart(model, PEAK_RSS)]
    makers += [lambda w=w: time_chart(model, w) for w in model.workloads]
    makers += [lambda: scaling_chart(model)]
    makers += [lambda w=w: latency_chart(model, w) for w in model.workloads]
    makers += [lambda w=w: rss_chart(model, w) for w in model.workloads]
    return makers


def _write_chart(make, out_dir, formats):
    """Draw one chart and write it in each format; its charts.json entry, or None when not drawn."""
    chart = make()
    if chart is None:
        return None
    # Lay the figure out once, not once per format: constrained layout is the dearest step.
    chart.figure.get_layout_engine().execute(chart.figure)
    chart.figure.set_layout_engine("none")
    files = {}
    for fmt in formats:
        files[fmt] = f"{chart.name}.{fmt}"
        options = {"dpi": PNG_DPI} if fmt == "png" else {"metadata": {"Date": None}}
        chart.figure.savefig(os.path.join(out_dir, files[fmt]), format=fmt, **options)
    return {"name": chart.name, "kind": chart.kind, "title": chart.title, "caption": chart.caption,
            "files": files}


_worker_job = None   # (makers, out_dir, formats), inherited by forked workers


def _write_chart_in_worker(index):
    makers, out_dir, formats = _worker_job
    return _write_chart(makers[index], out_dir, formats)


def render(model, out_dir, formats, progress=None, jobs=None):
    """Draw and write every chart, then charts.json; returns the charts.json entries.

    Charts are drawn in `jobs` forked processes (default: one per CPU), since rasterising is
    most of the time and each chart stands alone; the entries keep the reading order."""
    global _worker_job
    makers = chart_makers(model)
    jobs = min(jobs or os.cpu_count() or 1, len(makers))
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        _worker_job = (makers, out_dir, formats)
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = pool.imap(_write_chart_in_worker, range(len(makers)))
                entries = [e for e in _reported(results, progress) if e is not None]
        finally:
            _worker_job = None
    else:
        entries = [e for e in _reported((_write_chart(m, out_dir, formats) for m in makers), progress)
                   if e is not None]
    index = {"schema": CHARTS_SCHEMA, "results": model.results, "charts": entries}
    temporary = os.path.join(out_dir, "charts.json.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    os.replace(temporary, os.path.join(out_dir, "charts.json"))   # a reader never sees half an index
    return entries


def _reported(entries, progress):
    for entry in entries:
        if entry is not None and progress:
            progress(entry["name"])
        yield entry


# ---------------------------------------------------------------------------------------------------
# Command line


def _parse_formats(text):
    formats = _unique(f.strip().lower() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"'{text}': give a comma-separated list of {', '.join(FORMATS)}")
    return formats


def _parser():
    parser = argparse.ArgumentParser(
        prog="allocmeter_plots.py",
        description="Draw slide-sized charts of an allocmeter run and list them in DIR/charts.json.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  /usr/bin/python3 plots/allocmeter_plots.py results/latest\n"
               "  /usr/bin/python3 plots/allocmeter_plots.py results/latest/summary.json -o /tmp/charts --formats png\n"
               "\nThe input is the summary.json that `allocmeter run` writes beside results.json (and\n"
               "`allocmeter plot` into its chart folder): every statistic drawn is read from it.\n"
               "\nexit status: 0 drawn, 2 unusable summary file, 3 no matplotlib in this Python")
    parser.add_argument("summary", metavar="SUMMARY",
                        help="a summary.json (schema allocmeter-summary/1), or a folder holding one")
    parser.add_argument("-o", "--out", metavar="DIR", help="where the charts go (default: charts/ beside summary.json)")
    parser.add_argument("--formats", type=_parse_formats, default=list(FORMATS), metavar="LIST",
                        help="comma-separated file formats: png, svg (default: png,svg)")
    return parser


def main(argv=None):
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        path, data = load_summary(args.summary)
        out_dir = args.out or os.path.join(os.path.dirname(path), "charts")
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as e:
            raise InputError(f"{out_dir}: cannot create the chart folder ({e.strerror}); "
                             f"give a writable one with -o DIR") from None
    except InputError as e:
        print(f"allocmeter plots: {e}", file=sys.stderr)
        return EXIT_INPUT
    try:
        _setup_matplotlib()
    except ImportError:
        print(f"allocmeter plots: this Python ({sys.executable}) has no matplotlib; install Debian's "
              f"python3-matplotlib (apt-get install python3-matplotlib) and run it with /usr/bin/python3",
              file=sys.stderr)
        return EXIT_NO_MATPLOTLIB
    model = RunModel(path, data)
    entries = render(model, out_dir, args.formats,
                     progress=lambda name: print(f"allocmeter plots: drew {name}", file=sys.stderr))
    print(f"wrote {len(entries)} charts ({', '.join(args.formats)}) to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

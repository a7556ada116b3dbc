"""Charts of the investor pack: matplotlib figures rendered as inline SVG.

Every chart shares one restrained style (navy, steel blue, sand and grey; thin grid,
no top or right spine) and keeps its text as SVG ``<text>``, so it is searchable in the
HTML and the PDF. Charts take numbers already in display units (EUR millions, fractions,
GWh) and the labels to show; they compute nothing about the business case.

Safety: labels come from the assumptions (partner and grant names). matplotlib escapes
text it writes into SVG (``<`` becomes ``&lt;``); dollar signs are escaped here so that a
name can never switch on mathtext. The SVG is made self-contained: the XML prologue,
metadata and embedded style sheet are dropped, and every ``id`` gets a per-chart prefix so
several charts can live in one HTML page without clashing.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

Values = Sequence[float] | np.ndarray

#: The palette, in order of use.
NAVY = "#1c3557"
STEEL = "#4f7cac"
SKY = "#9dbbd9"
SAND = "#c9a66b"
SLATE = "#6b7785"
MIST = "#c8ced6"
RED = "#a83232"
GREEN = "#3d7a5a"
SERIES = (NAVY, STEEL, SAND, SKY, SLATE, "#8c6d3f", MIST, "#2f5d50")

TEXT = "#2b2f36"
GRID = "#dde2e8"

#: Width of a full-width chart [inches] (the A4 text block is about 6.9 in wide).
WIDTH = 6.9

STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "bizcase-pack",
    "font.family": "DejaVu Sans",
    "font.size": 7.5,
    "axes.titlesize": 8.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 8,
    "axes.labelsize": 7.5,
    "axes.labelcolor": TEXT,
    "axes.edgecolor": SLATE,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "xtick.major.size": 2.5,
    "ytick.major.size": 0,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "text.color": TEXT,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "hatch.linewidth": 0.5,
    "axes.unicode_minus": False,
}

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"


def _register_namespaces() -> None:
    """Write SVG elements unprefixed; other libraries (WeasyPrint) may reset the registry."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)


_register_namespaces()
_G = f"{{{SVG_NS}}}g"
_HREF = f"{{{XLINK_NS}}}href"
_DROP = {f"{{{SVG_NS}}}metadata", f"{{{SVG_NS}}}style"}
_REFERENCE = re.compile(r"url\(#([^)]+)\)")
_NO_ROTATION = re.compile(r"^rotate\(-?0 [^)]*\)$")
_GEOMETRY = {"d", "x", "y", "width", "height", "transform", "points", "x1", "x2", "y1", "y2"}
_DECIMALS = re.compile(r"-?\d+\.\d{3,}")


def _round(match: re.Match[str]) -> str:
    """Coordinates to 1/100 of a point: invisible on paper and on screen."""
    return f"{float(match.group(0)):.2f}".rstrip("0").rstrip(".")


def label(text: str) -> str:
    """A label safe for matplotlib: dollar signs escaped so mathtext never runs."""
    return str(text).replace("$", r"\$")


def _money_axis(ax, axis: str = "y", decimals: int = 0) -> None:
    fmt = FuncFormatter(lambda v, _pos: f"{v:,.{decimals}f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def _year_axis(ax, years: Values, max_ticks: int = 12) -> None:
    years = list(years)
    step = -(-len(years) // max_ticks)
    ax.set_xticks(years[::step])
    ax.set_xticklabels([str(int(y)) for y in years[::step]])
    ax.set_xlim(years[0] - 0.6, years[-1] + 0.6)
    ax.tick_params(axis="x", length=0, pad=3)


def _figure(height: float, width: float = WIDTH, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height))
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def to_svg(fig: Figure, key: str, title: str) -> str:
    """The figure as an inline ``<svg>`` element, lean and with ids prefixed by ``key``.

    matplotlib's wrapper groups (``<g id="patch_3">``), metadata, embedded style sheet,
    identity rotations and unreferenced ids are dropped: the chart looks the same with
    about half the elements, which keeps the HTML small and the PDF fast. ``title``
    becomes the SVG's accessible name; ElementTree escapes it and every text on output.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    root = ET.fromstring(buf.getvalue())
    text = buf.getvalue().decode("utf-8")
    referenced = set(_REFERENCE.findall(text)) | set(re.findall(r'href="#([^"]+)"', text))
    prefix = re.sub(r"[^A-Za-z0-9_-]", "", key) or "chart"
    _simplify(root, referenced, prefix)
    for name in ("width", "height"):
        root.attrib.pop(name, None)
    root.set("class", "chart")
    root.set("role", "img")
    root.set("aria-label", title)
    root.set("preserveAspectRatio", "xMidYMid meet")
    _register_namespaces()
    return ET.tostring(root, encoding="unicode")


def _simplify(node: ET.Element, referenced: set[str], prefix: str) -> None:
    children: list[ET.Element] = []
    for child in list(node):
        if child.tag in _DROP:
            continue
        _simplify(child, referenced, prefix)
        if child.tag == _G and set(child.attrib) <= {"id"}:
            children.extend(list(child))  # a wrapper group: keep only what it wraps
            continue
        children.append(child)
    node[:] = children
    for child in children:
        child.tail = None
    if node.text is not None and not node.text.strip():
        node.text = None
    ident = node.attrib.pop("id", None)
    if ident is not None and ident in referenced:
        node.set("id", f"{prefix}-{ident}")
    for name, value in list(node.attrib.items()):
        if name == "transform" and _NO_ROTATION.match(value):
            del node.attrib[name]
        elif name in _GEOMETRY:
            node.set(name, _DECIMALS.sub(_round, " ".join(value.split())))
        elif name == _HREF and value.startswith("#"):
            node.set(name, f"#{prefix}-{value[1:]}")
        elif "url(#" in value:
            node.set(name, _REFERENCE.sub(lambda m: f"url(#{prefix}-{m.group(1)})", value))


def _layout(fig: Figure, *, left: float = 0.7, right: float = 0.15, top: float = 0.12, bottom: float = 0.3,
            wspace: float = 0.0) -> None:
    """Fixed margins in inches (cheaper and steadier than a tight layout)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        wspace=wspace)


def _legend(fig: Figure, axes: list, ncols: int) -> float:
    """A legend centred below the axes; returns the extra bottom margin it needs [in]."""
    handles, labels = [], []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if not handles:
        return 0.0
    order = sorted(range(len(handles)), key=lambda i: isinstance(handles[i], Line2D))  # bars first, then lines
    handles = [handles[i] for i in order]
    labels = [labels[i] for i in order]
    ncols = max(1, min(ncols, len(handles)))
    rows = -(-len(handles) // ncols)
    fig.legend(handles, labels, loc="lower center", ncols=ncols, bbox_to_anchor=(0.5, 0.0),
               handlelength=1.4, columnspacing=1.4, borderaxespad=0.3)
    return 0.17 * rows + 0.06


def _label_width(labels: Sequence[str], fontsize: float = 7.0) -> float:
    """Rough width of the longest label [in] (DejaVu Sans averages ~0.6 em per character)."""
    longest = max((len(s) for s in labels), default=0)
    return longest * fontsize * 0.6 / 72


def render(draw, key: str, title: str) -> str:
    """Draw a chart under the pack's style and return its SVG."""
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        fig = draw()
        return to_svg(fig, key, title)


# --- chart kinds ----------------------------------------------------------------------------


def stacked_bars(
    key: str,
    title: str,
    years: Values,
    stacks: Sequence[tuple[str, Values, str]],
    ylabel: str,
    *,
    lines: Sequence[tuple[str, Values, str]] = (),
    height: float = 2.7,
) -> str:
    """Bars stacked upwards for positive and downwards for negative values, plus lines.

    ``stacks`` and ``lines`` are ``(label, values per year, colour)``.
    """

    def draw() -> Figure:
        fig, (ax,) = _figure(height)
        x = np.asarray(years, dtype=float)
        pos = np.zeros(len(x))
        neg = np.zeros(len(x))
        for name, values, colour in stacks:
            v = np.nan_to_num(np.asarray(values, dtype=float))
            bottom = np.where(v >= 0, pos, neg)
            ax.bar(x, v, 0.72, bottom=bottom, color=colour, label=label(name), linewidth=0)
            pos = pos + np.maximum(v, 0)
            neg = neg + np.minimum(v, 0)
        for name, values, colour in lines:
            ax.plot(x, np.asarray(values, dtype=float), color=colour, linewidth=1.6, marker="o", markersize=2.6,
                    label=label(name))
        ax.axhline(0, color=SLATE, linewidth=0.7)
        _money_axis(ax)
        _year_axis(ax, years)
        ax.set_ylabel(ylabel)
        _layout(fig, bottom=0.28 + _legend(fig, [ax], 5))
        return fig

    return render(draw, key, title)


def line_chart(
    key: str,
    title: str,
    years: Values,
    series: Sequence[tuple[str, Values, str]],
    ylabel: str,
    *,
    percent: bool = False,
    decimals: int = 0,
    hlines: Sequence[tuple[str, float, str]] = (),
    height: float = 2.5,
    ymin: float | None = None,
) -> str:
    """Lines over years, with optional labelled horizontal reference lines."""

    def draw() -> Figure:
        fig, (ax,) = _figure(height)
        for name, values, colour in series:
            ax.plot(years, np.asarray(values, dtype=float), color=colour, linewidth=1.7, marker="o",
                    markersize=2.6, label=label(name))
        for name, value, colour in hlines:
            ax.axhline(value, color=colour, linewidth=1.0, linestyle=(0, (4, 3)), label=label(name))
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            _money_axis(ax, decimals=decimals)
        if ymin is not None:
            ax.set_ylim(bottom=ymin)
        _year_axis(ax, years)
        ax.set_ylabel(ylabel)
        _layout(fig, bottom=0.28 + _legend(fig, [ax], 4))
        return fig

    return render(draw, key, title)


def fan_chart(
    key: str,
    title: str,
    years: Values,
    bands: dict[str, Values],
    ylabel: str,
    *,
    base: Values | None = None,
    percent: bool = False,
    height: float = 2.5,
    width: float = WIDTH,
) -> str:
    """Percentile fan: P5–P95 and P10–P90 shaded, P50 as a line, base case dashed."""

    def draw() -> Figure:
        fig, (ax,) = _figure(height, width=width)
        b = {k: np.asarray(v, dtype=float) for k, v in bands.items()}
        if "p5" in b and "p95" in b:
            ax.fill_between(years, b["p5"], b["p95"], color=SKY, alpha=0.45, linewidth=0, label="P5–P95")
        if "p10" in b and "p90" in b:
            ax.fill_between(years, b["p10"], b["p90"], color=STEEL, alpha=0.45, linewidth=0, label="P10–P90")
        if "p50" in b:
            ax.plot(years, b["p50"], color=NAVY, linewidth=1.7, label="P50")
        if base is not None:
            ax.plot(years, np.asarray(base, dtype=float), color=SAND, linewidth=1.4, linestyle=(0, (4, 2)),
                    label="Base case")
        if percent:
            ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            _money_axis(ax)
        _year_axis(ax, years, max_ticks=6 if width < WIDTH else 12)
        ax.set_ylabel(ylabel)
        _layout(fig, left=0.7 if width >= WIDTH else 0.62, bottom=0.28 + _legend(fig, [ax], 4))
        return fig

    return render(draw, key, title)


def histogram(
    key: str,
    title: str,
    edges: Values,
    counts: Values,
    xlabel: str,
    *,
    markers: Sequence[tuple[str, float, str]] = (),
    percent: bool = False,
    threshold: float | None = None,
    width: float = WIDTH / 2,
    height: float = 2.6,
) -> str:
    """A histogram from bin edges and counts, shown as share of paths.

    Bins below ``threshold`` (for example an NPV below zero) are drawn in red.
    """

    def draw() -> Figure:
        fig, (ax,) = _figure(height, width=width)
        e = np.asarray(edges, dtype=float)
        c = np.asarray(counts, dtype=float)
        share = c / c.sum() if c.sum() > 0 else c
        colours = [RED if threshold is not None and hi <= threshold else STEEL for hi in e[1:]]
        ax.bar(e[:-1], share, np.diff(e), align="edge", color=colours, linewidth=0.3, edgecolor="white")
        for name, value, colour in markers:
            ax.axvline(value, color=colour, linewidth=1.2, linestyle=(0, (4, 2)), label=label(name))
        if markers:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(markers), borderaxespad=0.2,
                      handlelength=2.0, fontsize=6.5)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            _money_axis(ax, "x")
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Share of paths")
        _layout(fig, left=0.62, bottom=0.45, top=0.3 if markers else 0.1, right=0.12)
        return fig

    return render(draw, key, title)


def horizontal_bars(
    key: str,
    title: str,
    labels: Sequence[str],
    values: Values,
    xlabel: str,
    *,
    decimals: int = 2,
) -> str:
    """Signed horizontal bars (rank correlations), largest magnitude on top."""

    def draw() -> Figure:
        n = len(labels)
        fig, (ax,) = _figure(0.5 + 0.3 * n)
        v = np.asarray(values, dtype=float)
        y = np.arange(n)[::-1]
        ax.barh(y, v, 0.6, color=[STEEL if x >= 0 else SAND for x in v], linewidth=0)
        ax.set_yticks(y)
        ax.set_yticklabels([label(s) for s in labels])
        ax.axvline(0, color=SLATE, linewidth=0.7)
        lim = max(0.1, float(np.nanmax(np.abs(v))) * 1.35) if n else 1.0
        ax.set_xlim(-lim, lim)
        for yi, x in zip(y, v, strict=True):
            ax.annotate(f"{x:+.{decimals}f}", (x, yi), xytext=(3 if x >= 0 else -3, 0), textcoords="offset points",
                        ha="left" if x >= 0 else "right", va="center", fontsize=6.5)
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(xlabel)
        _layout(fig, left=0.2 + _label_width(labels), bottom=0.42, top=0.08, right=0.2)
        return fig

    return render(draw, key, title)


def tornado(
    key: str,
    title: str,
    labels: Sequence[str],
    low: Values,
    high: Values,
    base: float,
    xlabel: str,
    *,
    percent: bool = False,
) -> str:
    """Tornado: for each input, the KPI at its low and high value around the base case.

    ``labels`` are ordered as they should appear from the top.
    """

    def draw() -> Figure:
        n = len(labels)
        fig, (ax,) = _figure(0.6 + 0.32 * n)
        lo = np.asarray(low, dtype=float)
        hi = np.asarray(high, dtype=float)
        y = np.arange(n)[::-1]
        ax.barh(y, lo - base, 0.6, left=base, color=SAND, linewidth=0, label="Input at low value")
        ax.barh(y, hi - base, 0.6, left=base, color=STEEL, linewidth=0, label="Input at high value")
        ax.axvline(base, color=NAVY, linewidth=0.9)
        ax.set_yticks(y)
        ax.set_yticklabels([label(s) for s in labels])
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
        if percent:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        else:
            _money_axis(ax, "x")
        ax.set_xlabel(xlabel)
        _layout(fig, left=0.2 + _label_width(labels), bottom=0.42 + _legend(fig, [ax], 2), top=0.08, right=0.25)
        return fig

    return render(draw, key, title)


def dscr_chart(
    key: str,
    title: str,
    years: Values,
    dscr: Values,
    covenant: float,
    *,
    height: float = 2.4,
) -> str:
    """DSCR per year as bars (red where below the covenant) against the covenant line."""

    def draw() -> Figure:
        fig, (ax,) = _figure(height)
        v = np.asarray(dscr, dtype=float)
        x = np.asarray(years, dtype=float)
        has = np.isfinite(v)
        colours = [RED if val < covenant else STEEL for val in v[has]]
        ax.bar(x[has], v[has], 0.62, color=colours, linewidth=0, label="DSCR")
        for xi, val in zip(x[has], v[has], strict=True):
            ax.annotate(f"{val:.2f}x", (xi, val), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=6)
        if np.isfinite(covenant):
            ax.axhline(covenant, color=NAVY, linewidth=1.0, linestyle=(0, (4, 3)),
                       label=f"Covenant {covenant:.2f}x")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda val, _pos: f"{val:.1f}x"))
        ax.set_ylim(bottom=0)
        top = float(np.nanmax(v[has])) if has.any() else 2.0
        ax.set_ylim(top=max(top, covenant if np.isfinite(covenant) else 0) * 1.15)
        _year_axis(ax, years)
        ax.set_ylabel("Cover ratio [x]")
        _layout(fig, bottom=0.28 + _legend(fig, [ax], 2))
        return fig

    return render(draw, key, title)


def two_panels(
    key: str,
    title: str,
    years: Values,
    left: tuple[str, Sequence[tuple[str, Values, str]], str],
    right: tuple[str, Sequence[tuple[str, Values, str]], str],
    *,
    height: float = 2.4,
) -> str:
    """Two stacked-bar panels side by side: ``(panel title, stacks, y label)`` each."""

    def draw() -> Figure:
        fig, axes = _figure(height, ncols=2)
        for ax, (panel, stacks, ylabel) in zip(axes, (left, right), strict=True):
            bottom = np.zeros(len(years))
            for name, values, colour in stacks:
                v = np.nan_to_num(np.asarray(values, dtype=float))
                ax.bar(years, v, 0.7, bottom=bottom, color=colour, linewidth=0, label=label(name))
                bottom = bottom + v
            _money_axis(ax)
            _year_axis(ax, years)
            ax.set_xticks(list(years)[:: 3 if len(years) > 12 else 2])
            ax.set_xticklabels([str(int(y)) for y in list(years)[:: 3 if len(years) > 12 else 2]])
            ax.set_ylabel(ylabel)
            ax.set_title(label(panel))
        _layout(fig, top=0.3, bottom=0.28 + _legend(fig, list(axes), 5), wspace=0.32)
        return fig

    return render(draw, key, title)

"""The quote graph as a PNG: one node per participant, arrows from quoter to quoted.

Drawn with matplotlib's object API (Figure + FigureCanvasAgg), never pyplot, so it holds no
global figure state and can run in a worker thread (`asyncio.to_thread`). networkx's own
draw helpers reach for pyplot, so edges, loops and labels are drawn here with plain patches.
matplotlib and networkx are imported inside the functions: matplotlib alone costs ~1.5 s,
which a bot that never draws a graph shouldn't pay at start-up.

An empty graph (no quotes, or none matching a filter) still renders: a picture that says
"No quotes found" is a clearer chat answer than an error, and callers that prefer text can
check `report.edges` first.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.models import QuoteEdge
from bot.core.quote_report import PostLike, QuoteReport, label_sort_key, quote_report
from bot.errors import UserError

if TYPE_CHECKING:
    import networkx as nx

MAX_NODES = 40
MAX_EDGES = 70  # links drawn on big graphs; the rest are counted in the caption
CIRCLE_MAX = 10
LABEL_CHARS = 20
FIG_INCHES = (8.0, 6.0)
DPI = 150  # 1200 x 900 px

_NODE_FILL = "#9cc9e8"
_NODE_EDGE = "#1d4e6f"
_EDGE = "#3d4f63"
_SELF = "#d9822b"
_TEXT = "#1a1a1a"
_AX_RECT = (0.02, 0.08, 0.96, 0.82)  # left, bottom, width, height as figure fractions


def _as_report(
    data: QuoteReport | Sequence[PostLike], edges: Sequence[QuoteEdge] | None
) -> QuoteReport:
    if isinstance(data, QuoteReport):
        if edges is not None:
            raise TypeError("pass either a QuoteReport or posts and edges, not both")
        return data
    return quote_report(data, edges or ())


def short_label(label: str, limit: int = LABEL_CHARS) -> str:
    """Display form of a participant: "post 3" becomes "#3"; long names end in "…"."""
    if label.startswith("post ") and label[5:].isdigit():
        return "#" + label[5:]
    return _clip(label, limit)


def build_quote_graph(
    data: QuoteReport | Sequence[PostLike], edges: Sequence[QuoteEdge] | None = None
) -> nx.DiGraph:
    """The participant graph the picture draws, kept separate so tests can check it.

    Nodes are participant labels with `quoted` (times quoted by others) and `quoting`;
    edges go quoter → quoted with `weight` = quote segments and `is_self` for self-loops.
    """
    import networkx as nx

    report = _as_report(data, edges)
    g = nx.DiGraph()
    for label in sorted(report.participants, key=label_sort_key):
        g.add_node(label, quoted=0, quoting=0)
    for pair in report.pairs:
        g.add_edge(pair.from_label, pair.to_label, weight=pair.count, is_self=pair.is_self)
        if not pair.is_self:
            g.nodes[pair.to_label]["quoted"] += pair.count
            g.nodes[pair.from_label]["quoting"] += pair.count
    return g


def top_participants(g: nx.DiGraph, limit: int) -> nx.DiGraph:
    """The `limit` busiest participants by weighted degree (ties by label), as a subgraph.

    The picture stays readable at chat size only up to a few dozen names.
    """
    if g.number_of_nodes() <= limit:
        return g
    degree = dict(g.degree(weight="weight"))
    keep = sorted(g.nodes, key=lambda n: (-degree[n], label_sort_key(n)))[:limit]
    return g.subgraph(keep).copy()


def _layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Deterministic positions in [-1, 1]: a circle for small graphs, seeded spring otherwise."""
    import networkx as nx

    nodes = sorted(g.nodes, key=label_sort_key)
    if len(nodes) == 1:
        return {nodes[0]: (0.0, 0.0)}
    if len(nodes) <= CIRCLE_MAX:
        # start at the top and go clockwise, the way people read a clock face
        step = 2 * math.pi / len(nodes)
        return {n: (math.sin(i * step), math.cos(i * step)) for i, n in enumerate(nodes)}
    ordered = nx.Graph()  # spring_layout's result depends on insertion order: make it fixed
    ordered.add_nodes_from(nodes)
    ordered.add_edges_from(sorted((u, v) for u, v in g.edges if u != v))
    k = 2.5 / math.sqrt(len(nodes))
    pos = nx.spring_layout(ordered, seed=7, k=k, iterations=300)
    xs = [float(p[0]) for p in pos.values()]
    ys = [float(p[1]) for p in pos.values()]
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    hx = max((max(xs) - min(xs)) / 2, 1e-9)
    hy = max((max(ys) - min(ys)) / 2, 1e-9)
    return {n: ((float(p[0]) - cx) / hx, (float(p[1]) - cy) / hy) for n, p in pos.items()}


def render_quote_graph(
    data: QuoteReport | Sequence[PostLike],
    edges: Sequence[QuoteEdge] | None = None,
    *,
    title: str = "",
    max_nodes: int = MAX_NODES,
) -> bytes:
    """PNG bytes (1200x900) of the quote graph of a report, or of posts + edges.

    More than `max_nodes` participants: the busiest are kept and the title says "top N of M";
    past MAX_EDGES links only the heaviest are drawn and the caption says how many.
    Self-quotes are drawn as orange loops.
    """
    if max_nodes < 1:
        raise UserError("`max_nodes` must be at least 1.")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    full = build_quote_graph(data, edges)
    g = top_participants(full, max_nodes)

    fig = Figure(figsize=FIG_INCHES, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    heading = _clip(title.strip() or "Who quotes whom", 70)
    if g.number_of_nodes() < full.number_of_nodes():
        heading += f" (top {g.number_of_nodes()} of {full.number_of_nodes()} participants)"
    fig.text(
        0.5,
        0.955,
        heading,
        ha="center",
        va="center",
        fontsize=15,
        fontweight="bold",
        color=_TEXT,
        parse_math=False,
    )
    ax = fig.add_axes(_AX_RECT)
    ax.set_axis_off()

    if g.number_of_edges() == 0:
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.text(
            0,
            0.05,
            "No quotes found",
            ha="center",
            va="center",
            fontsize=22,
            color="#555555",
            parse_math=False,
        )
        ax.text(
            0,
            -0.12,
            "no post here quotes another post's own words",
            ha="center",
            va="center",
            fontsize=12,
            color="#777777",
            parse_math=False,
        )
    else:
        caption = _draw(ax, g)
        fig.text(
            0.5,
            0.035,
            caption,
            ha="center",
            va="center",
            linespacing=1.4,
            fontsize=10,
            color="#555555",
            parse_math=False,
        )

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def write_quote_graph(
    path: str | Path,
    data: QuoteReport | Sequence[PostLike],
    edges: Sequence[QuoteEdge] | None = None,
    *,
    title: str = "",
    max_nodes: int = MAX_NODES,
) -> Path:
    """Render and write the PNG to `path` (for the CLI); returns the path written."""
    target = Path(path)
    target.write_bytes(render_quote_graph(data, edges, title=title, max_nodes=max_nodes))
    return target


# --- drawing ------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    """One line (forum names can hold newlines), at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _edge_key(e: tuple[str, str, dict[str, Any]]) -> tuple[Any, ...]:
    return (-e[2]["weight"], label_sort_key(e[0]), label_sort_key(e[1]))


def _draw(ax: Any, g: nx.DiGraph) -> str:
    """Draw nodes, links, loops and labels on `ax`; returns the caption to print below."""
    from matplotlib.patches import Circle, FancyArrowPatch

    n = g.number_of_nodes()
    small = n <= CIRCLE_MAX
    # Limits follow the axes' own aspect ratio, so a data unit has the same length in x and y
    # and sizes in points convert to data units exactly (arrow shrink, loops, label offsets).
    width_in = FIG_INCHES[0] * _AX_RECT[2]
    height_in = FIG_INCHES[1] * _AX_RECT[3]
    half_h = 1.42 if small else 1.3
    half_w = half_h * width_in / height_in
    ax.set_xlim(-half_w, half_w)
    ax.set_ylim(-half_h, half_h)
    pt = 2 * half_h / (height_in * 72)  # data units per typographic point
    stretch = min(1.25 if small else 1.4, half_w / half_h)  # use the width of a 4:3 picture
    pos = {node: (x * stretch, y) for node, (x, y) in _layout(g).items()}
    if not small:
        # room for a circle and its label under it: about 11 characters wide, two lines tall
        pos = _spread(pos, 75 * pt, 36 * pt, (half_w - 45 * pt, half_h - 24 * pt))

    max_quoted = max((d["quoted"] for _, d in g.nodes(data=True)), default=0) or 1
    r_min, r_span = (12.0, 16.0) if small else (6.0, 11.0)  # radius in points
    radius = {
        node: r_min + r_span * math.sqrt(d["quoted"] / max_quoted) for node, d in g.nodes(data=True)
    }

    all_edges = sorted(g.edges(data=True), key=_edge_key)
    shown = all_edges if small else all_edges[:MAX_EDGES]
    labelled = {(u, v) for u, v, d in shown if d["weight"] > 1}
    if not small:  # numbers on every link of a big graph are noise: keep the heaviest
        labelled = {(u, v) for u, v, d in shown[:15] if d["weight"] > 1}
    max_w = max((d["weight"] for _, _, d in shown), default=1)

    def width(w: int) -> float:
        return 1.2 + 4.3 * math.sqrt((w - 1) / (max_w - 1)) if max_w > 1 else 1.5

    cx = sum(p[0] for p in pos.values()) / n
    cy = sum(p[1] for p in pos.values()) / n
    rad = 0.14
    loops = 0
    for u, v, d in reversed(shown):  # heaviest drawn last, on top
        w = d["weight"]
        lw = width(w)
        if u == v:
            loops += 1
            _self_loop(ax, pos[u], radius[u] * pt, pos[u][0] >= cx, w, min(lw, 3.0), pt)
            continue
        ax.add_patch(
            FancyArrowPatch(
                pos[u],
                pos[v],
                connectionstyle=f"arc3,rad={rad}",
                arrowstyle="-|>",
                mutation_scale=11 + 2.2 * lw,
                lw=lw,
                color=_EDGE,
                alpha=0.75 if small else 0.55,
                shrinkA=radius[u] + 1,
                shrinkB=radius[v] + 2,
                zorder=1,
            )
        )
        if (u, v) in labelled:
            # the midpoint of matplotlib's arc3 curve: chord midpoint + rad/2 * (dy, -dx)
            (x1, y1), (x2, y2) = pos[u], pos[v]
            mx = (x1 + x2) / 2 + rad / 2 * (y2 - y1)
            my = (y1 + y2) / 2 - rad / 2 * (x2 - x1)
            _count_label(ax, mx, my, str(w), _EDGE)

    label_size = 12 if small else 10
    for node in g.nodes:
        x, y = pos[node]
        r = radius[node]
        ax.add_patch(
            Circle((x, y), r * pt, facecolor=_NODE_FILL, edgecolor=_NODE_EDGE, lw=1.5, zorder=3)
        )
        # small graphs: label on the outer side of the circle; big graphs: always below
        above = small and y > cy + 1e-9
        dy = (r + 3) * pt
        ax.text(
            x,
            y + dy if above else y - dy,
            short_label(node),
            ha="center",
            va="bottom" if above else "top",
            fontsize=label_size,
            color=_TEXT,
            zorder=5,
            parse_math=False,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )

    parts = ["arrow: quoter → quoted", "number: quotes", "circle: times quoted"]
    if loops:
        parts.append("orange loop: quotes own post")
    caption = " · ".join(parts)
    if len(shown) < len(all_edges):
        caption += f"\nthe {len(shown)} heaviest of {len(all_edges)} links are drawn"
    return caption


def _spread(
    pos: dict[str, tuple[float, float]], min_dx: float, min_dy: float, bounds: tuple[float, float]
) -> dict[str, tuple[float, float]]:
    """Push apart nodes whose label boxes overlap, keeping them inside `bounds`.

    Spring layouts pack the busy centre of a forum thread into a blob where labels hide
    each other; a few deterministic passes of pairwise pushes (along the axis that needs
    the smaller move) keep the layout's shape while making every name readable.
    """
    names = sorted(pos, key=label_sort_key)
    xy = [list(pos[n]) for n in names]
    bx, by = bounds
    for _ in range(120):
        moved = False
        for i in range(len(xy)):
            for j in range(i + 1, len(xy)):
                dx = xy[j][0] - xy[i][0]
                dy = xy[j][1] - xy[i][1]
                ox = min_dx - abs(dx)
                oy = min_dy - abs(dy)
                if ox <= 0 or oy <= 0:
                    continue
                moved = True
                if ox / min_dx < oy / min_dy:
                    step = ox / 2 * (1 if dx >= 0 else -1)
                    xy[i][0] -= step
                    xy[j][0] += step
                else:
                    step = oy / 2 * (1 if dy >= 0 else -1)
                    xy[i][1] -= step
                    xy[j][1] += step
        for p in xy:
            p[0] = min(max(p[0], -bx), bx)
            p[1] = min(max(p[1], -by), by)
        if not moved:
            break
    return {n: (p[0], p[1]) for n, p in zip(names, xy, strict=True)}


def _self_loop(
    ax: Any, centre: tuple[float, float], r: float, right: bool, w: int, lw: float, pt: float
) -> None:
    """A loop on the node's outer side (left or right), clear of its label above/below."""
    from matplotlib.patches import FancyArrowPatch

    x, y = centre
    ang = 0.0 if right else math.pi
    spread = 0.7
    a = (x + r * math.cos(ang + spread), y + r * math.sin(ang + spread))
    b = (x + r * math.cos(ang - spread), y + r * math.sin(ang - spread))
    ax.add_patch(
        FancyArrowPatch(
            a,
            b,
            connectionstyle="arc3,rad=-1.9",
            arrowstyle="-|>",
            mutation_scale=9 + 2 * lw,
            lw=lw,
            color=_SELF,
            alpha=0.9,
            zorder=2,
        )
    )
    if w > 1:
        reach = r + 1.9 * r * math.sin(spread) + 10 * pt
        _count_label(ax, x + reach * math.cos(ang), y, str(w), _SELF)


def _count_label(ax: Any, x: float, y: float, text: str, color: str) -> None:
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        color=color,
        zorder=4,
        parse_math=False,
        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "lw": 0.8},
    )

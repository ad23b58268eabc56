"""The quote graph as a PNG: one node per participant, arrows from quoter to quoted.

Drawn with matplotlib's object API (Figure + FigureCanvasAgg), never pyplot, so it holds no
global figure state and can run in a worker thread (`asyncio.to_thread`). networkx's own
draw helpers reach for pyplot, so edges, loops and labels are drawn here with plain patches.
matplotlib and networkx are imported inside the functions: matplotlib alone costs ~1.5 s,
which a bot that never draws a graph shouldn't pay at start-up.

What keeps the picture readable from 20 to 2,000 participants:
- the busiest MAX_NODES participants (quotes first, then replies) get a named node; all
  the others are one grey "N others" node, with their links summed onto it;
- everything is placed in pixels, measured with the renderer: nodes are pushed apart until
  each node and the name under it stand clear; each name then takes the first free place
  around its node (below, above, right, left, the corners), busiest first, and a name that
  has no free place is left out and its node faded; a count goes where it touches nothing;
- the title is wrapped, and the thread's title shortened, to fit the picture's width.

An empty graph (no quotes, or none matching a filter) still renders: a picture that says
"No quotes found" is a clearer chat answer than an error, and callers that prefer text can
check `report.edges` first.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.core.models import QuoteEdge
from bot.core.quote_report import PostLike, QuoteReport, label_sort_key, quote_report
from bot.errors import UserError

if TYPE_CHECKING:
    import networkx as nx

MAX_NODES = 30
"""Participants drawn with their own node and name; the rest are grouped."""
MAX_EDGES = 60  # links between named participants drawn; the rest are counted
MAX_COUNTS = 15  # numbers written on the heaviest links, where there is room
CIRCLE_MAX = 10
LABEL_CHARS = 20
FIG_INCHES = (8.0, 6.0)
DPI = 150  # 1200 x 900 px
OTHERS = "\x00others"
"""The node that stands for every participant not drawn by name."""

_NODE_FILL = "#9cc9e8"
_NODE_EDGE = "#1d4e6f"
_OTHERS_FILL = "#d9dde2"
_OTHERS_EDGE = "#7b8794"
_EDGE = "#3d4f63"
_REPLY = "#8a97a6"
_SELF = "#d9822b"
_TEXT = "#1a1a1a"
_MUTED = "#555555"
_MARGIN = 16  # px kept clear at the picture's edges
_GAP = 3  # px between a node and its name


@dataclass(frozen=True, slots=True)
class Box:
    """Something drawn, in pixels from the picture's bottom-left corner."""

    kind: str  # "title", "caption", "node", "label", "count"
    name: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, pad: float = 0.0) -> bool:
        return not (
            self.x1 + pad <= other.x0
            or other.x1 + pad <= self.x0
            or self.y1 + pad <= other.y0
            or other.y1 + pad <= self.y0
        )


@dataclass(frozen=True, slots=True)
class Drawing:
    """The PNG and where its parts went (tests check that nothing overlaps)."""

    png: bytes
    boxes: tuple[Box, ...]
    title: tuple[str, ...]
    caption: tuple[str, ...]
    named: int  # participants drawn with their own node
    grouped: int  # participants inside the "others" node
    unnamed: int  # named nodes whose name found no free place (drawn faded)


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

    Nodes are participant labels with `quoted` (times quoted by others), `quoting` and
    `replies` (replies given and received). Edges go quoter → quoted with `weight` = quote
    segments and `is_self` for self-loops; a pair that only answers has weight 0 and
    `replies` > 0.
    """
    import networkx as nx

    report = _as_report(data, edges)
    g = nx.DiGraph()
    for label in sorted(report.participants, key=label_sort_key):
        g.add_node(label, quoted=0, quoting=0, replies=0)
    for pair in report.pairs:
        g.add_edge(
            pair.from_label, pair.to_label, weight=pair.count, is_self=pair.is_self, replies=0
        )
        if not pair.is_self:
            g.nodes[pair.to_label]["quoted"] += pair.count
            g.nodes[pair.from_label]["quoting"] += pair.count
    for pair in report.answered:
        if pair.is_self:
            continue
        if g.has_edge(pair.from_label, pair.to_label):
            g.edges[pair.from_label, pair.to_label]["replies"] = pair.count
        else:
            g.add_edge(pair.from_label, pair.to_label, weight=0, is_self=False, replies=pair.count)
        g.nodes[pair.from_label]["replies"] += pair.count
        g.nodes[pair.to_label]["replies"] += pair.count
    return g


def _activity(g: nx.DiGraph, node: str) -> tuple[int, int]:
    d = g.nodes[node]
    return (d["quoted"] + d["quoting"], d.get("replies", 0))


def _ranked(g: nx.DiGraph) -> list[str]:
    """Participants busiest first: quotes given and received, then replies, then name."""
    return sorted(g.nodes, key=lambda n: (*(-a for a in _activity(g, n)), label_sort_key(n)))


def top_participants(g: nx.DiGraph, limit: int) -> nx.DiGraph:
    """The `limit` busiest participants (quotes, then replies), as a subgraph."""
    if g.number_of_nodes() <= limit:
        return g
    return g.subgraph(_ranked(g)[:limit]).copy()


def grouped_graph(g: nx.DiGraph, limit: int) -> tuple[nx.DiGraph, int]:
    """The busiest `limit` participants plus one OTHERS node holding everyone else, with
    their links summed onto it; returns the graph and how many OTHERS stands for."""
    import networkx as nx

    if g.number_of_nodes() <= limit:
        return g, 0
    keep = set(_ranked(g)[:limit])
    out = nx.DiGraph()
    for node in sorted(keep, key=label_sort_key):
        out.add_node(node, **g.nodes[node])
    rest = g.number_of_nodes() - len(keep)
    out.add_node(OTHERS, quoted=0, quoting=0, replies=0, members=rest)
    for u, v, d in g.edges(data=True):
        a = u if u in keep else OTHERS
        b = v if v in keep else OTHERS
        if a == OTHERS and b == OTHERS:
            continue
        if out.has_edge(a, b):
            e = out.edges[a, b]
            e["weight"] += d["weight"]
            e["replies"] += d["replies"]
        else:
            out.add_edge(a, b, weight=d["weight"], replies=d["replies"], is_self=d["is_self"])
        if b == OTHERS and not d["is_self"]:
            out.nodes[OTHERS]["quoted"] += d["weight"]
    return out, rest


def _layout(g: nx.DiGraph, aspect: float = 4 / 3) -> dict[str, tuple[float, float]]:
    """Deterministic positions in [-1, 1]: a circle for small graphs, else ForceAtlas2 (whose
    gravity keeps unconnected people near the middle instead of drifting to the edges).
    The OTHERS node is left out of the layout (its links are to everyone, which would pull
    the whole picture into a star) and put where the named nodes leave the most room."""
    import networkx as nx

    nodes = sorted((n for n in g.nodes if n != OTHERS), key=label_sort_key)
    if len(nodes) <= CIRCLE_MAX and OTHERS not in g:
        if len(nodes) == 1:
            return {nodes[0]: (0.0, 0.0)}
        # start at the top and go clockwise, the way people read a clock face
        step = 2 * math.pi / len(nodes)
        return {n: (math.sin(i * step), math.cos(i * step)) for i, n in enumerate(nodes)}
    named = nx.Graph()  # layouts depend on insertion order: make it fixed
    named.add_nodes_from(nodes)
    named.add_edges_from(sorted((u, v) for u, v in g.edges if OTHERS not in (u, v) and u != v))
    if len(nodes) == 1:
        raw = {nodes[0]: (0.0, 0.0)}
    else:
        found = nx.forceatlas2_layout(named, seed=7, max_iter=300, gravity=1.0, scaling_ratio=2.0)
        raw = {n: (float(found[n][0]), float(found[n][1])) for n in nodes}
    pos = _scaled(_even_out(_scaled(raw, aspect)), aspect)
    if OTHERS in g:
        pos[OTHERS] = _roomiest(pos)
    return pos


def _scaled(pos: dict[str, tuple[float, float]], aspect: float) -> dict[str, tuple[float, float]]:
    """Positions centred and stretched to fill [-1, 1] on both axes (a layout is round,
    the picture is wide), rotated first so the layout's long side lies along the long side."""
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    if (max(ys) - min(ys)) > (max(xs) - min(xs)) and aspect > 1:
        pos = {n: (y, x) for n, (x, y) in pos.items()}
        xs, ys = ys, xs
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    hx = (max(xs) - min(xs)) / 2
    hy = (max(ys) - min(ys)) / 2
    hx = hx if hx > 1e-9 else max(hy, 1.0)
    hy = hy if hy > 1e-9 else max(hx, 1.0)
    return {n: ((p[0] - cx) / hx, (p[1] - cy) / hy) for n, p in pos.items()}


def _even_out(pos: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Half way between each position and its rank along each axis: force layouts pack the
    busy middle of a thread tight and leave the edges empty; this uses the whole picture
    while keeping who is next to whom."""
    n = len(pos)
    if n < 3:
        return pos
    names = sorted(pos, key=label_sort_key)
    by_x = sorted(names, key=lambda m: (pos[m][0], label_sort_key(m)))
    by_y = sorted(names, key=lambda m: (pos[m][1], label_sort_key(m)))
    rank_x = {m: 2 * i / (n - 1) - 1 for i, m in enumerate(by_x)}
    rank_y = {m: 2 * i / (n - 1) - 1 for i, m in enumerate(by_y)}
    return {m: ((pos[m][0] + rank_x[m]) / 2, (pos[m][1] + rank_y[m]) / 2) for m in names}


def _roomiest(pos: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Of the corners and edge midpoints of [-1, 1]², the one farthest from every node."""
    spots = [(x, y) for x in (-1.0, 0.0, 1.0) for y in (-1.0, 0.0, 1.0) if (x, y) != (0.0, 0.0)]

    def room(spot: tuple[float, float]) -> float:
        return min((math.dist(spot, p) for p in pos.values()), default=1.0)

    return max(spots, key=lambda s: (round(room(s), 6), -s[1], s[0]))


def render_quote_graph(
    data: QuoteReport | Sequence[PostLike],
    edges: Sequence[QuoteEdge] | None = None,
    *,
    title: str = "",
    max_nodes: int = MAX_NODES,
) -> bytes:
    """PNG bytes (1200x900) of the quote graph of a report, or of posts + edges."""
    return draw_quote_graph(data, edges, title=title, max_nodes=max_nodes).png


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


def draw_quote_graph(
    data: QuoteReport | Sequence[PostLike],
    edges: Sequence[QuoteEdge] | None = None,
    *,
    title: str = "",
    max_nodes: int = MAX_NODES,
) -> Drawing:
    """The picture, with where each title line, node, name and count was put.

    More than `max_nodes` participants: the busiest keep their node and the others become
    one grey node; past MAX_EDGES links only the heaviest are drawn. Replies that quote
    nothing are dashed; self-quotes are orange loops. The caption says what was left out.
    """
    if max_nodes < 1:
        raise UserError("`max_nodes` must be at least 1.")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    full = build_quote_graph(data, edges)
    g, grouped = grouped_graph(full, max_nodes)

    fig = Figure(figsize=FIG_INCHES, dpi=DPI, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    pen = _Pen(ax, renderer)

    top = height - _MARGIN
    title_lines = _title_lines(title.strip() or "Who quotes whom", pen, width - 2 * _MARGIN)
    for line in title_lines:
        box = pen.text(width / 2, top, line, 15, "title", weight="bold", va="top")
        top = box.y0 - 4
    if grouped:
        sub = (
            f"the {g.number_of_nodes() - 1} busiest of {full.number_of_nodes():,} participants;"
            f" the other {grouped:,} are one grey circle"
        )
        top = pen.text(width / 2, top, sub, 10, "title", color=_MUTED, va="top").y0 - 4

    quotes = sum(1 for *_, d in g.edges(data=True) if d["weight"])
    if quotes == 0 and not any(d["replies"] for *_, d in g.edges(data=True)):
        pen.text(width / 2, height / 2 + 20, "No quotes found", 22, "caption", color=_MUTED)
        pen.text(
            width / 2,
            height / 2 - 20,
            "no post here quotes another post's own words",
            12,
            "caption",
            color="#777777",
        )
        return _finish(fig, canvas, pen, title_lines, (), g, grouped, 0)

    scene = _Scene(g, pen)
    legend = _wrap(scene.caption_parts(), pen, 10, width - 2 * _MARGIN)
    line_h = pen.size("Hg", 10)[1] + 2
    # room for the legend and one more line, which says how many names found no place
    scene.draw((_MARGIN, _MARGIN + line_h * (len(legend) + 1) + 6, width - _MARGIN, top - 6))
    caption = (*legend, *scene.unnamed_note())
    bottom = _MARGIN
    for line in reversed(caption):
        bottom = pen.text(width / 2, bottom, line, 10, "caption", color=_MUTED, va="bottom").y1 + 2
    return _finish(fig, canvas, pen, title_lines, caption, g, grouped, scene.unnamed)


def _finish(
    fig: Any,
    canvas: Any,
    pen: _Pen,
    title: Sequence[str],
    caption: Sequence[str],
    g: nx.DiGraph,
    grouped: int,
    unnamed: int,
) -> Drawing:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    named = g.number_of_nodes() - (1 if grouped else 0)
    return Drawing(
        buf.getvalue(), tuple(pen.boxes), tuple(title), tuple(caption), named, grouped, unnamed
    )


# --- text in pixels ---------------------------------------------------------------------------


class _Pen:
    """Writes text on an axes whose data units are pixels, and remembers each box."""

    def __init__(self, ax: Any, renderer: Any) -> None:
        self.ax = ax
        self.renderer = renderer
        self.boxes: list[Box] = []
        self._sizes: dict[tuple[str, float, str], tuple[float, float]] = {}

    def size(self, text: str, fontsize: float, weight: str = "normal") -> tuple[float, float]:
        """Width and height in pixels of `text` at `fontsize` points."""
        key = (text, fontsize, weight)
        found = self._sizes.get(key)
        if found is None:
            probe = self.ax.text(0, 0, text, fontsize=fontsize, fontweight=weight, parse_math=False)
            extent = probe.get_window_extent(renderer=self.renderer)
            probe.remove()
            found = self._sizes[key] = (extent.width, extent.height)
        return found

    def text(
        self,
        x: float,
        y: float,
        text: str,
        fontsize: float,
        kind: str,
        *,
        weight: str = "normal",
        color: str = _TEXT,
        ha: str = "center",
        va: str = "center",
        name: str = "",
        bbox: dict[str, Any] | None = None,
        zorder: float = 5,
        alpha: float = 1.0,
    ) -> Box:
        artist = self.ax.text(
            x,
            y,
            text,
            fontsize=fontsize,
            fontweight=weight,
            color=color,
            ha=ha,
            va=va,
            parse_math=False,
            zorder=zorder,
            bbox=bbox,
            alpha=alpha,
        )
        extent = artist.get_window_extent(renderer=self.renderer)
        box = Box(kind, name or text, extent.x0, extent.y0, extent.x1, extent.y1)
        self.boxes.append(box)
        return box


def _title_lines(title: str, pen: _Pen, room: float) -> tuple[str, ...]:
    """The title on one line if it fits, else on two: as many words as fit on the first,
    the rest on the second, shortened with "…" until it fits. Never cut at the edges."""
    title = " ".join(title.split())
    if pen.size(title, 15, "bold")[0] <= room:
        return (title,)
    words = title.split(" ")
    first = words[0]
    rest = words[1:]
    while rest and pen.size(f"{first} {rest[0]}", 15, "bold")[0] <= room:
        first = f"{first} {rest.pop(0)}"
    if not rest:  # one word longer than the picture
        return (_fit(first, pen, room),)
    return (_fit(first, pen, room), _fit(" ".join(rest), pen, room))


def _wrap(parts: Sequence[str], pen: _Pen, fontsize: float, room: float) -> tuple[str, ...]:
    """Parts joined by " · " into as few lines as fit `room` pixels."""
    lines: list[str] = []
    for part in parts:
        joined = f"{lines[-1]} · {part}" if lines else part
        if lines and pen.size(joined, fontsize)[0] <= room:
            lines[-1] = joined
        else:
            lines.append(part)
    return tuple(lines)


def _fit(text: str, pen: _Pen, room: float) -> str:
    if pen.size(text, 15, "bold")[0] <= room:
        return text
    lo, hi = 1, len(text)
    while lo < hi:  # the longest prefix that fits with its ellipsis
        mid = (lo + hi + 1) // 2
        if pen.size(text[:mid].rstrip() + "…", 15, "bold")[0] <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def _clip(text: str, limit: int) -> str:
    """One line (forum names can hold newlines), at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- the scene ------------------------------------------------------------------------------


def _edge_key(e: tuple[str, str, dict[str, Any]]) -> tuple[Any, ...]:
    return (-e[2]["weight"], -e[2]["replies"], label_sort_key(e[0]), label_sort_key(e[1]))


class _Scene:
    """Nodes, links, names and counts of one picture, placed in pixels."""

    def __init__(self, g: nx.DiGraph, pen: _Pen) -> None:
        self.g = g
        self.pen = pen
        self.small = g.number_of_nodes() <= CIRCLE_MAX and OTHERS not in g
        self.font = 11.0 if self.small else 9.5
        ranked = [n for n in _ranked(g) if n != OTHERS]
        self.order = [OTHERS, *ranked] if OTHERS in g else ranked  # who gets a place first
        links = sorted(g.edges(data=True), key=_edge_key)
        named = [e for e in links if OTHERS not in e[:2]]
        self.links = named[:MAX_EDGES]
        self.group_links = [e for e in links if OTHERS in e[:2]]
        """Links to and from the OTHERS node: drawn thin and faint, under the rest."""
        self.hidden_links = len(named) - len(self.links)
        drawn = [*self.links, *self.group_links]
        self.loops = any(u == v and d["weight"] for u, v, d in drawn)
        self.replies = any(not d["weight"] and d["replies"] for _, _, d in drawn)
        max_quoted = max((g.nodes[n]["quoted"] for n in g.nodes if n != OTHERS), default=0) or 1
        r_min, r_span = (14.0, 18.0) if self.small else (8.0, 13.0)
        self.radius = {
            n: 24.0
            if n == OTHERS
            else r_min + r_span * math.sqrt(min(1.0, g.nodes[n]["quoted"] / max_quoted))
            for n in g.nodes
        }
        self.names = {n: self.label_of(n) for n in g.nodes}
        self.unnamed = 0

    def label_of(self, node: str) -> str:
        if node == OTHERS:
            return f"{self.g.nodes[OTHERS]['members']:,} others"
        return short_label(node)

    def caption_parts(self) -> list[str]:
        """The legend, in parts the caption wraps between."""
        parts = ["arrow: quoter → quoted", "number: quotes", "circle: times quoted"]
        if self.replies:
            parts.append("dashed: answered without quoting")
        if self.loops:
            parts.append("orange loop: quotes own post")
        if self.hidden_links:
            parts.append(
                f"the {len(self.links)} heaviest of {len(self.links) + self.hidden_links} "
                "links are drawn"
            )
        return parts

    def unnamed_note(self) -> tuple[str, ...]:
        if not self.unnamed:
            return ()
        return (f"faded: {self.unnamed} of the busiest with no room for their name",)

    # -- placing ---------------------------------------------------------------------------

    def draw(self, area: tuple[float, float, float, float]) -> None:
        pos = self.place_nodes(area)
        circles = {
            n: Box(
                "node",
                n,
                x - self.radius[n],
                y - self.radius[n],
                x + self.radius[n],
                y + self.radius[n],
            )
            for n, (x, y) in pos.items()
        }
        for u, v, d in self.links:  # a self-quote's loop sits at the node's upper right
            if u == v and d["weight"]:
                x, y = pos[u]
                r = self.radius[u]
                circles[f"{u}\x00loop"] = Box("loop", u, x, y, x + 1.9 * r, y + 1.9 * r)
        for u, v, _ in [*self.links, *self.group_links]:  # keep arrow ends in sight
            if u != v:
                for end, other in ((v, u), (u, v)):
                    x, y = _arrow_end(pos[end], pos[other], self.radius[end] + 7, end == v)
                    circles[f"{u}\x00{v}\x00{end}"] = Box("end", end, x - 5, y - 5, x + 5, y + 5)
        labels = self.place_labels(pos, circles, area)
        self.draw_links(pos)
        self.draw_nodes(pos, labels)
        taken = [*circles.values(), *labels.values()]
        self.draw_labels(pos, labels)
        self.draw_counts(pos, taken, area)

    def place_nodes(
        self, area: tuple[float, float, float, float]
    ) -> dict[str, tuple[float, float]]:
        x0, y0, x1, y1 = area
        label_h = self.pen.size("Hg", self.font)[1]
        half_w = {
            n: max(self.radius[n], self.pen.size(self.names[n], self.font)[0] / 2) for n in self.g
        }
        margin_x = max(half_w.values())
        margin_top = max(self.radius.values()) + (label_h + _GAP if self.small else 0)
        margin_bottom = max(self.radius.values()) + label_h + _GAP
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        sx = max(1.0, (x1 - x0) / 2 - margin_x)
        sy = max(1.0, (y1 - y0) / 2 - max(margin_top, margin_bottom))
        if self.small:
            sx = min(sx, sy * 1.35)
        layout = _layout(self.g, sx / sy)
        pos = {n: (cx + x * sx, cy + y * sy) for n, (x, y) in layout.items()}
        if self.small:
            return pos
        # Push apart nodes whose footprint (circle and the name under it) overlaps.
        foot = {
            n: (half_w[n] + 4, self.radius[n] + 2, self.radius[n] + _GAP + label_h + 2)
            for n in self.g
        }
        linked = {frozenset((u, v)) for u, v, _ in self.links if u != v}
        return _spread(
            pos,
            foot,
            (x0 + margin_x, y0 + margin_bottom, x1 - margin_x, y1 - margin_top),
            linked,
        )

    def place_labels(
        self,
        pos: dict[str, tuple[float, float]],
        circles: dict[str, Box],
        area: tuple[float, float, float, float],
    ) -> dict[str, Box]:
        """A free place for each name, busiest first; a name with none is left out."""
        y0, y1 = area[1], area[3]
        placed: dict[str, Box] = {}
        for node in self.order:
            w, h = self.pen.size(self.names[node], self.font)
            x, y = pos[node]
            r = self.radius[node] + _GAP
            candidates = [
                (x - w / 2, y - r - h),  # below
                (x - w / 2, y + r),  # above
                (x + r, y - h / 2),  # right
                (x - r - w, y - h / 2),  # left
                (x + r * 0.7, y - r * 0.7 - h),  # below right
                (x - r * 0.7 - w, y - r * 0.7 - h),  # below left
                (x + r * 0.7, y + r * 0.7),  # above right
                (x - r * 0.7 - w, y + r * 0.7),  # above left
            ]
            if self.small and y > (y0 + y1) / 2:
                candidates[0], candidates[1] = candidates[1], candidates[0]  # outer side first
            # first a place clear of arrow heads too, else one that may cover an arrow's end
            for strict in (True, False):
                box = self.free_place(node, candidates, w, h, circles, placed, area, strict)
                if box is not None:
                    placed[node] = box
                    break
            else:
                self.unnamed += 1
        return placed

    @staticmethod
    def free_place(
        node: str,
        candidates: Sequence[tuple[float, float]],
        w: float,
        h: float,
        obstacles: dict[str, Box],
        placed: dict[str, Box],
        area: tuple[float, float, float, float],
        strict: bool,
    ) -> Box | None:
        x0, y0, x1, y1 = area
        for left, low in candidates:
            box = Box("label", node, left, low, left + w, low + h)
            if box.x0 < x0 or box.x1 > x1 or box.y0 < y0 or box.y1 > y1:
                continue
            if any(box.overlaps(c, 1) for c in obstacles.values() if strict or c.kind != "end"):
                continue
            if any(box.overlaps(b, 2) for b in placed.values()):
                continue
            return box
        return None

    # -- drawing ---------------------------------------------------------------------------

    def width(self, w: int) -> float:
        top = max((d["weight"] for _, _, d in self.links), default=1)
        return 1.2 + 4.3 * math.sqrt(min(1.0, (w - 1) / (top - 1))) if top > 1 else 1.5

    def draw_links(self, pos: dict[str, tuple[float, float]]) -> None:
        from matplotlib.patches import FancyArrowPatch

        to_pt = 72 / DPI
        # the crowd's links first and faint, then the heaviest links last, on top
        for u, v, d in [*self.group_links, *reversed(self.links)]:
            if u == v:
                if d["weight"]:
                    self.draw_loop(pos[u], self.radius[u], d["weight"])
                continue
            quote = d["weight"] > 0
            faint = OTHERS in (u, v)
            lw = (1.0 if faint else self.width(d["weight"])) if quote else 1.0
            self.pen.ax.add_patch(
                FancyArrowPatch(
                    pos[u],
                    pos[v],
                    connectionstyle="arc3,rad=0.14",
                    arrowstyle="-|>",
                    mutation_scale=(11 + 2.2 * lw) if quote else 8,
                    lw=lw,
                    linestyle="-" if quote else (0, (4, 3)),
                    color=_EDGE if quote else _REPLY,
                    alpha=(0.3 if faint else 0.7) if quote else (0.3 if faint else 0.6),
                    shrinkA=(self.radius[u] + 1) * to_pt,
                    shrinkB=(self.radius[v] + 2) * to_pt,
                    zorder=1,
                )
            )

    def draw_loop(self, centre: tuple[float, float], r: float, w: int) -> None:
        """A small loop at the node's upper right: the name sits elsewhere."""
        from matplotlib.patches import FancyArrowPatch

        x, y = centre
        a = (x + r * math.cos(0.2), y + r * math.sin(0.2))
        b = (x + r * math.cos(1.2), y + r * math.sin(1.2))
        self.pen.ax.add_patch(
            FancyArrowPatch(
                a,
                b,
                connectionstyle="arc3,rad=2.2",
                arrowstyle="-|>",
                mutation_scale=10,
                lw=1.6,
                color=_SELF,
                alpha=0.9,
                zorder=2,
            )
        )

    def draw_nodes(self, pos: dict[str, tuple[float, float]], labels: dict[str, Box]) -> None:
        from matplotlib.patches import Circle

        for node, (x, y) in pos.items():
            others = node == OTHERS
            self.pen.ax.add_patch(
                Circle(
                    (x, y),
                    self.radius[node],
                    facecolor=_OTHERS_FILL if others else _NODE_FILL,
                    edgecolor=_OTHERS_EDGE if others else _NODE_EDGE,
                    lw=1.5,
                    zorder=3,
                    alpha=1.0 if node in labels else 0.45,
                )
            )
            r = self.radius[node]
            self.pen.boxes.append(Box("node", node, x - r, y - r, x + r, y + r))

    def draw_labels(self, pos: dict[str, tuple[float, float]], labels: dict[str, Box]) -> None:
        for node, box in labels.items():
            self.ax_label(box, node)

    def ax_label(self, box: Box, node: str) -> None:
        """The name in its box, on a white backing so links passing behind stay behind."""
        from matplotlib.patches import Rectangle

        self.pen.ax.add_patch(
            Rectangle(
                (box.x0 - 1, box.y0),
                box.x1 - box.x0 + 2,
                box.y1 - box.y0,
                facecolor="white",
                edgecolor="none",
                alpha=0.85,
                zorder=4,
            )
        )
        self.pen.text(
            box.x0,
            box.y0,
            self.names[node],
            self.font,
            "label",
            ha="left",
            va="bottom",
            name=node,
            color=_MUTED if node == OTHERS else _TEXT,
        )

    def draw_counts(
        self,
        pos: dict[str, tuple[float, float]],
        taken: list[Box],
        area: tuple[float, float, float, float],
    ) -> None:
        """The number of quotes on the heaviest links, at the first point along the curve
        where it touches no node, name or other number (else the line's width says it)."""
        heavy = [(u, v, d) for u, v, d in self.links if d["weight"] > 1 and u != v]
        if not self.small:
            heavy = heavy[:MAX_COUNTS]
        pad = 3
        for u, v, d in heavy:
            text = str(d["weight"])
            w, h = self.pen.size(text, 10, "bold")
            w, h = w + 2 * pad, h + 2 * pad
            for t in (0.5, 0.4, 0.6, 0.3, 0.7):
                x, y = _arc_point(pos[u], pos[v], 0.14, t)
                box = Box("count", f"{u}→{v}", x - w / 2, y - h / 2, x + w / 2, y + h / 2)
                if box.x0 < area[0] or box.x1 > area[2] or box.y0 < area[1] or box.y1 > area[3]:
                    continue
                if any(box.overlaps(b, 1) for b in taken):
                    continue
                drawn = self.pen.text(
                    x,
                    y,
                    text,
                    10,
                    "count",
                    weight="bold",
                    color=_EDGE,
                    name=f"{u}→{v}",
                    zorder=4,
                    bbox={
                        "boxstyle": f"round,pad={pad / 10:.1f}",
                        "fc": "white",
                        "ec": _EDGE,
                        "lw": 0.8,
                    },
                )
                taken.append(drawn)
                break


def _arrow_end(
    node: tuple[float, float], other: tuple[float, float], reach: float, head: bool
) -> tuple[float, float]:
    """Where a link (arc3, rad 0.14) meets a node, `reach` pixels out from its centre: the
    curve leaves each end towards its control point."""
    a, b = (other, node) if head else (node, other)
    (x1, y1), (x2, y2) = a, b
    cx = (x1 + x2) / 2 + 0.14 * (y2 - y1)
    cy = (y1 + y2) / 2 - 0.14 * (x2 - x1)
    dx, dy = cx - node[0], cy - node[1]
    d = math.hypot(dx, dy) or 1.0
    return (node[0] + dx / d * reach, node[1] + dy / d * reach)


def _arc_point(
    a: tuple[float, float], b: tuple[float, float], rad: float, t: float
) -> tuple[float, float]:
    """The point at `t` on matplotlib's arc3 curve from a to b (a quadratic Bézier whose
    control point is the chord's midpoint moved by rad × (dy, -dx))."""
    (x1, y1), (x2, y2) = a, b
    cx = (x1 + x2) / 2 + rad * (y2 - y1)
    cy = (y1 + y2) / 2 - rad * (x2 - x1)
    s = 1 - t
    return (s * s * x1 + 2 * s * t * cx + t * t * x2, s * s * y1 + 2 * s * t * cy + t * t * y2)


LINK_ROOM = 40
"""Extra pixels between two linked nodes, so the arrow and its number show."""


def _spread(
    pos: dict[str, tuple[float, float]],
    foot: dict[str, tuple[float, float, float]],
    bounds: tuple[float, float, float, float],
    linked: set[frozenset[str]] = frozenset(),  # type: ignore[assignment]
) -> dict[str, tuple[float, float]]:
    """Push apart nodes whose footprints overlap, keeping them inside `bounds`.

    A footprint is (half width, height above the centre, depth below it): the circle and
    the name under it. Spring layouts pack the busy centre of a thread into a blob where
    names hide each other; deterministic passes of pairwise pushes (along the axis that
    needs the smaller move) keep the layout's shape while making every name readable.
    """
    names = sorted(pos, key=label_sort_key)
    xy = [list(pos[n]) for n in names]
    fp = [foot[n] for n in names]
    room = [[LINK_ROOM if frozenset((a, b)) in linked else 0.0 for b in names] for a in names]
    bx0, by0, bx1, by1 = bounds
    for _ in range(200):
        moved = False
        for i in range(len(xy)):
            for j in range(i + 1, len(xy)):
                dx = xy[j][0] - xy[i][0]
                dy = xy[j][1] - xy[i][1]
                extra = room[i][j]
                ox = fp[i][0] + fp[j][0] + extra - abs(dx)
                # j above i: i's top against j's bottom, and the other way round
                need_y = fp[i][1] + fp[j][2] if dy >= 0 else fp[i][2] + fp[j][1]
                oy = need_y + extra - abs(dy)
                if ox <= 0 or oy <= 0:
                    continue
                moved = True
                if ox < oy:
                    step = ox / 2 * (1 if dx >= 0 else -1)
                    xy[i][0] -= step
                    xy[j][0] += step
                else:
                    step = oy / 2 * (1 if dy >= 0 else -1)
                    xy[i][1] -= step
                    xy[j][1] += step
        for p in xy:
            p[0] = min(max(p[0], bx0), bx1)
            p[1] = min(max(p[1], by0), by1)
        if not moved:
            break
    return {n: (p[0], p[1]) for n, p in zip(names, xy, strict=True)}


def boxes_overlapping(boxes: Iterable[Box], kinds: set[str]) -> list[tuple[Box, Box]]:
    """Pairs of drawn boxes of the given kinds that overlap."""
    chosen = [b for b in boxes if b.kind in kinds]
    return [(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1 :] if a.overlaps(b)]

"""A version's graph drawn as SVG, laid out in layers on the server.

No JavaScript library: nodes get a layer by breadth-first distance from the start
node (global nodes and unreachable ones in a last row), edges are straight or
curved lines with their kind as a CSS class and the condition text as a label.
Highlights (a turn's path, a waiting node, a cycle) are CSS classes on the same
drawing, so every page shows the graph the same way.
"""

from collections import deque
from dataclasses import dataclass, field
from html import escape
from typing import Any

JsonDict = dict[str, Any]

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 46, 40, 70, 20
MAX_LABEL = 36


@dataclass
class Marks:
    """What to highlight: node and edge logical ids, and node problems."""

    path_nodes: set[str] = field(default_factory=set)
    path_edges: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    cycle_nodes: set[str] = field(default_factory=set)
    problems: dict[str, list[str]] = field(default_factory=dict)


def _short(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def edge_label(edge: JsonDict) -> str:
    """The condition text of an edge (empty for direct ones)."""
    condition = edge.get("condition") or {}
    if not isinstance(condition, dict):
        return ""
    text = condition.get("condition_expression") or condition.get("condition_freeform")
    return str(text) if text else ""


def edge_kind(edge: JsonDict) -> str:
    """``direct``, ``conditional`` or ``companion`` (a forking direct edge)."""
    companion = edge.get("companion_thread_config") or {}
    if isinstance(companion, dict) and companion.get("is_companion_thread"):
        return "companion"
    return str(edge.get("type") or "direct")


def layers(nodes: list[JsonDict], edges: list[JsonDict]) -> list[list[str]]:
    """Node logical ids by layer: BFS from the start node, then the rest."""
    ids = [str(n.get("logical_id")) for n in nodes]
    out: dict[str, list[str]] = {i: [] for i in ids}
    for e in edges:
        src, dst = e.get("source_node_logical_id"), e.get("destination_node_logical_id")
        if src in out and dst in out:
            out[str(src)].append(str(dst))
    starts = [str(n.get("logical_id")) for n in nodes if n.get("is_start")]
    depth: dict[str, int] = {}
    queue = deque(starts[:1])
    for s in starts[:1]:
        depth[s] = 0
    while queue:
        here = queue.popleft()
        for nxt in out[here]:
            if nxt not in depth:
                depth[nxt] = depth[here] + 1
                queue.append(nxt)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for i in ids:
        if i in depth:
            rows[depth[i]].append(i)
    rest = [i for i in ids if i not in depth]
    if rest:
        rows.append(rest)
    return rows


def is_global(node: JsonDict) -> bool:
    """Whether a node can be entered from anywhere (a global node)."""
    config = node.get("global_node_config")
    return bool(isinstance(config, dict) and config.get("is_global"))


def _node_svg(node: JsonDict, x: int, y: int, marks: Marks) -> str:
    lid = str(node.get("logical_id"))
    kinds = ["node", f"type-{node.get('type')}"]
    kinds += ["start"] if node.get("is_start") else []
    kinds += ["global"] if is_global(node) else []
    kinds += ["on-path"] if lid in marks.path_nodes else []
    kinds += ["waiting"] if lid in marks.waiting else []
    kinds += ["in-cycle"] if lid in marks.cycle_nodes else []
    kinds += ["has-problem"] if lid in marks.problems else []
    badge = "▶ " if node.get("is_start") else ("◎ " if is_global(node) else "")
    title = escape(f"{lid} ({node.get('type')})")
    for problem in marks.problems.get(lid, []):
        title += "\n⚠ " + escape(problem)
    name = escape(_short(badge + str(node.get("name") or lid), 24))
    return (
        f'<g class="{" ".join(kinds)}" data-node="{escape(lid)}">'
        f"<title>{title}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
        f'<text x="{x + 8}" y="{y + 19}" class="name">{name}</text>'
        f'<text x="{x + 8}" y="{y + 36}" class="type">'
        f"{escape(str(node.get('type')))}</text></g>"
    )


def _edge_svg(
    edge: JsonDict, a: tuple[int, int], b: tuple[int, int], marks: Marks
) -> str:
    lid = str(edge.get("logical_id"))
    kinds = ["edge", f"kind-{edge_kind(edge)}"]
    kinds += ["on-path"] if lid in marks.path_edges else []
    kinds += ["has-problem"] if lid in marks.problems else []
    (x1, y1), (x2, y2) = a, b
    if y2 > y1:
        x1, x2 = x1 + NODE_W // 2, x2 + NODE_W // 2
        path = f"M{x1},{y1 + NODE_H} L{x2},{y2}"
        mid = ((x1 + x2) // 2, (y1 + NODE_H + y2) // 2)
    else:  # back or sideways: curve out to the right
        bend = max(x1, x2) + NODE_W // 2 + 30
        path = (
            f"M{x1 + NODE_W // 2},{y1 + NODE_H // 2} "
            f"C{bend},{y1 + NODE_H // 2} {bend},{y2 + NODE_H // 2} "
            f"{x2 + NODE_W // 2},{y2 + NODE_H // 2}"
        )
        mid = (bend - 20, (y1 + y2) // 2 + NODE_H // 2)
    label = edge_label(edge)
    title = escape(f"{lid} ({edge_kind(edge)})" + (f": {label}" if label else ""))
    for problem in marks.problems.get(lid, []):
        title += "\n⚠ " + escape(problem)
    text = ""
    if label:
        text = f'<text x="{mid[0] + 4}" y="{mid[1]}" class="cond">'
        text += f"{escape(_short(label))}</text>"
    return (
        f'<g class="{" ".join(kinds)}" data-edge="{escape(lid)}"><title>{title}</title>'
        f'<path d="{path}" marker-end="url(#arrow)"/>{text}</g>'
    )


def draw(config: JsonDict, marks: Marks | None = None) -> str:
    """The SVG of a hydrated config (``node_configs``, ``edge_configs``)."""
    marks = marks or Marks()
    nodes = [n for n in config.get("node_configs") or [] if isinstance(n, dict)]
    edges = [e for e in config.get("edge_configs") or [] if isinstance(e, dict)]
    rows = layers(nodes, edges)
    width = max((len(r) for r in rows), default=1) * (NODE_W + GAP_X) + 2 * PAD + 160
    height = len(rows) * (NODE_H + GAP_Y) + 2 * PAD
    at: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(rows):
        offset = (width - 160 - len(row) * (NODE_W + GAP_X)) // 2
        for c, lid in enumerate(row):
            at[lid] = (offset + c * (NODE_W + GAP_X), PAD + r * (NODE_H + GAP_Y))
    parts = [
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for e in edges:
        src, dst = e.get("source_node_logical_id"), e.get("destination_node_logical_id")
        if src in at and dst in at:
            parts.append(_edge_svg(e, at[str(src)], at[str(dst)], marks))
    for n in nodes:
        lid = str(n.get("logical_id"))
        parts.append(_node_svg(n, *at[lid], marks))
    parts.append("</svg>")
    return "".join(parts)

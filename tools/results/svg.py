"""Line plots as SVG for the generated docs (tools/results/render.py), with no
plotting library: round tick values (steps of 1, 2 or 5 times a power of
ten), whole-number ticks for counts, axis labels with units, and error bars
(a point's range over seeds). The output depends only on the data, so a
plot can be checked against its data like a table.
"""
import math
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf",
          "#bcbd22"]


def tick_step(span, max_ticks, integer):
    """The smallest step of 1, 2 or 5 x 10^k that cuts `span` into at most `max_ticks` intervals."""
    raw = span / max_ticks if span > 0 else 1.0
    k = math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        step = m * 10.0 ** k
        if step >= raw * (1 - 1e-9):
            break
    return max(1.0, round(step)) if integer else step


def ticks(lo, hi, max_ticks=6, integer=False):
    """Tick values covering [lo, hi]: the axis runs from the first to the last."""
    if hi <= lo:  # one value: a step around it
        lo, hi = lo - (0.5 if integer or lo == 0 else abs(lo) * 0.05), hi + (0.5 if integer or hi == 0 else abs(hi) * 0.05)
    step = tick_step(hi - lo, max_ticks, integer)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    decimals = 0 if integer or step >= 1 else -math.floor(math.log10(step) + 1e-9)
    return [round(i * step, decimals) for i in range(first, last + 1)], decimals


def label(v, decimals):
    return f"{v:,.{decimals}f}"


def line_plot(title, x_label, y_label, series, integer_x=False, integer_y=False):
    """series: [{"name", "points": [(x, y, y_lo, y_hi), ...], "dashed": bool, "dots": bool, "line": bool}], drawn
    in x order; y_lo/y_hi (None for none) draw an error bar; "dots" draws no line (a scatter), "line" no dots."""
    xs = [p[0] for s in series for p in s["points"]]
    ys = [v for s in series for p in s["points"] for v in (p[1], p[2], p[3]) if v is not None]
    xt, xd = ticks(min(xs), max(xs), 6, integer_x)
    yt, yd = ticks(min(ys), max(ys), 6, integer_y)
    W, H, left, right, top, bottom = 720, 420, 70, 190, 40, 60
    pw, ph = W - left - right, H - top - bottom
    X = lambda x: left + (x - xt[0]) / (xt[-1] - xt[0]) * pw
    Y = lambda y: top + ph - (y - yt[0]) / (yt[-1] - yt[0]) * ph
    f = lambda v: f"{v:.1f}"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{left + pw / 2:.1f}" y="22" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for v in xt:
        out.append(f'<line x1="{f(X(v))}" y1="{top}" x2="{f(X(v))}" y2="{top + ph}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{f(X(v))}" y="{top + ph + 16}" text-anchor="middle">{label(v, xd)}</text>')
    for v in yt:
        out.append(f'<line x1="{left}" y1="{f(Y(v))}" x2="{left + pw}" y2="{f(Y(v))}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{f(Y(v) + 4)}" text-anchor="end">{label(v, yd)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{H - 14}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(18 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle">'
               f'{escape(y_label)}</text>')
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = sorted(s["points"], key=lambda p: p[0])
        dash = ' stroke-dasharray="5 4"' if s.get("dashed") else ""
        if len(pts) > 1 and not s.get("dots"):
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="'
                       + " ".join(f"{f(X(p[0]))},{f(Y(p[1]))}" for p in pts) + '"/>')
        for x, y, lo, hi in pts:
            if lo is not None and hi is not None and hi > lo:
                out.append(f'<path d="M{f(X(x))} {f(Y(lo))}V{f(Y(hi))}M{f(X(x) - 4)} {f(Y(lo))}h8M{f(X(x) - 4)} '
                           f'{f(Y(hi))}h8" stroke="{color}" fill="none"/>')
            if not s.get("line"):
                out.append(f'<circle cx="{f(X(x))}" cy="{f(Y(y))}" r="3" fill="{color}" data-x="{x:g}" data-y="{y:g}"/>')
        ly = top + 10 + 18 * i
        out.append(f'<line x1="{left + pw + 12}" y1="{ly}" x2="{left + pw + 32}" y2="{ly}" stroke="{color}" '
                   f'stroke-width="2"{dash}/>')
        out.append(f'<text x="{left + pw + 38}" y="{ly + 4}">{escape(s["name"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"

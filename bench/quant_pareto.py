#!/usr/bin/env python3
"""quant_pareto.py — tables and the size/quality Pareto chart from the
results.jsonl that bench/quant_compare writes (Python standard library only).

Usage: bench/quant_pareto.py RESULTS.jsonl [--svg OUT.svg] [--md OUT.md] [--title T]

Markdown (stdout, or --md): one row per quant type x imatrix mode with slm's
and llama.cpp's file size, how many tensors are byte-identical, and both
outputs' perplexity, mean KLD and top-1 agreement; then one row per pruning
setting. SVG (--svg): two panels sharing the x axis (bits per weight of the
whole file = 8 x file bytes / parameters of the input): mean KLD against the
input (log scale) and Δppl (log scale; values <= 0.001 drawn at 0.001), with
the Pareto frontier (no other point both smaller and better) over every point.
"""
import argparse
import json
import math
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def fmt_pm(v, e, nd=4):
    if v is None:
        return "–"
    return f"{v:.{nd}f} ± {e:.{nd}f}" if e is not None else f"{v:.{nd}f}"


def markdown(rows, params):
    ev = lambda r: r.get("eval") or {}
    base = next(r for r in rows if r["quantizer"] == "input")
    out = []
    b = ev(base)
    out.append(f"Input: {base['bytes']:,} bytes, {params:,} parameters, "
               f"**ppl {b.get('ppl', float('nan')):.4f} ± {b.get('ppl_err', float('nan')):.4f}** "
               f"({b.get('tokens', 0):,} scored tokens).\n")
    out.append("| type | imatrix | bytes (slm / llama.cpp) | bpw | identical tensors | ppl slm | ppl llama.cpp "
               "| mean KLD slm | mean KLD llama.cpp | top-1 slm / llama.cpp |")
    out.append("|---|---|---:|---:|---:|---|---|---|---|---:|")
    quants = [r for r in rows if r["quantizer"] == "slm"]
    for s in quants:
        l = next((r for r in rows if r["quantizer"] == "llama.cpp" and r["type"] == s["type"]
                  and r["imatrix"] == s["imatrix"]), None)
        es, el = ev(s), ev(l) if l else {}
        d = s.get("diff") or {}
        ident = f"{d.get('identical', 0)}/{d.get('tensors', 0)}" if d else "–"
        lbytes = f"{l['bytes']:,}" if l else "refused"
        same = " (same)" if l and l["bytes"] == s["bytes"] else ""
        out.append(
            f"| {s['type']} | {'yes' if s['imatrix'] else 'no'} | {s['bytes']:,} / {lbytes}{same} "
            f"| {8 * s['bytes'] / params:.2f} | {ident} "
            f"| {fmt_pm(es.get('ppl'), es.get('ppl_err'))} | {fmt_pm(el.get('ppl'), el.get('ppl_err')) if l else '–'} "
            f"| {fmt_pm(es.get('kld'), es.get('kld_err'), 5)} | {fmt_pm(el.get('kld'), el.get('kld_err'), 5) if l else '–'} "
            f"| {100 * es.get('top1', 0):.2f}% / {(100 * el.get('top1', 0)) if l else float('nan'):.2f}% |")
    prunes = [r for r in rows if r["quantizer"] == "prune"]
    if prunes:
        out.append("")
        out.append("| pruning (F32) | bytes | bpw vs input params | ppl | Δppl | mean KLD | KLD p99 | same top-1 |")
        out.append("|---|---:|---:|---|---|---|---:|---:|")
        for p in prunes:
            e = ev(p)
            out.append(f"| {p['type']} | {p['bytes']:,} | {8 * p['bytes'] / params:.2f} "
                       f"| {fmt_pm(e.get('ppl'), e.get('ppl_err'), 3)} | {fmt_pm(e.get('dppl'), e.get('dppl_err'), 3)} "
                       f"| {fmt_pm(e.get('kld'), e.get('kld_err'), 4)} | {e.get('kld_p99', float('nan')):.4f} "
                       f"| {100 * e.get('top1', 0):.1f}% |")
    return "\n".join(out) + "\n"


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def frontier(points):
    """Indices of points not dominated (smaller-or-equal x and y, one strictly)."""
    keep = []
    for i, (x, y) in enumerate(points):
        dom = any((x2 <= x and y2 <= y) and (x2 < x or y2 < y) for j, (x2, y2) in enumerate(points) if j != i)
        if not dom:
            keep.append(i)
    return sorted(keep, key=lambda i: points[i][0])


def svg(rows, params, title):
    W, H = 1000, 470
    panels = [("mean KLD vs input (nats, log)", "kld"), ("Δppl vs input (log; ≤ 0.001 drawn at 0.001)", "dppl")]
    series = [
        ("slm, no imatrix", lambda r: r["quantizer"] == "slm" and not r["imatrix"], "#1f77b4", "circle"),
        ("slm, imatrix", lambda r: r["quantizer"] == "slm" and r["imatrix"], "#2ca02c", "circle"),
        ("llama.cpp, no imatrix", lambda r: r["quantizer"] == "llama.cpp" and not r["imatrix"], "#d62728", "cross"),
        ("llama.cpp, imatrix", lambda r: r["quantizer"] == "llama.cpp" and r["imatrix"], "#ff7f0e", "cross"),
        ("pruning (F32 output)", lambda r: r["quantizer"] == "prune", "#9467bd", "square"),
    ]
    pts = []  # (bpw, metric dict, row, series index)
    for r in rows:
        e = r.get("eval") or {}
        if r["quantizer"] == "input" or "kld" not in e:
            continue
        for si, (_, pred, _, _) in enumerate(series):
            if pred(r):
                pts.append((8 * r["bytes"] / params, e, r, si))
    if not pts:
        return "<svg xmlns='http://www.w3.org/2000/svg'/>"
    xs = [p[0] for p in pts]
    xmin, xmax = 0.0, max(xs) * 1.05
    o = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{W}' height='{H}' font-family='sans-serif' font-size='11'>",
         f"<rect width='{W}' height='{H}' fill='white'/>",
         f"<text x='{W / 2}' y='18' text-anchor='middle' font-size='14'>{esc(title)}</text>"]
    pw, ph, top = (W - 180) / 2, H - 130, 40
    for k, (label, key) in enumerate(panels):
        left = 60 + k * (pw + 50)
        vals = [max(p[1].get(key, 0.0), 1e-3 if key == "dppl" else 1e-6) for p in pts]
        lo = 10 ** math.floor(math.log10(min(vals)))
        hi = 10 ** math.ceil(math.log10(max(vals)))
        if hi <= lo:
            hi = lo * 10
        X = lambda x: left + (x - xmin) / (xmax - xmin) * pw
        Y = lambda v: top + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph
        o.append(f"<rect x='{left}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='#444'/>")
        o.append(f"<text x='{left + pw / 2}' y='{top - 6}' text-anchor='middle'>{esc(label)}</text>")
        e = math.log10(lo)
        while e <= math.log10(hi) + 1e-9:
            y = Y(10 ** e)
            o.append(f"<line x1='{left}' x2='{left + pw}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>")
            o.append(f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end'>1e{int(round(e))}</text>")
            e += 1
        step = 2 if xmax > 12 else 1
        x = 0
        while x <= xmax:
            o.append(f"<line x1='{X(x):.1f}' x2='{X(x):.1f}' y1='{top + ph}' y2='{top + ph + 4}' stroke='#444'/>")
            o.append(f"<text x='{X(x):.1f}' y='{top + ph + 16}' text-anchor='middle'>{x}</text>")
            x += step
        o.append(f"<text x='{left + pw / 2}' y='{top + ph + 32}' text-anchor='middle'>bits per weight (file bytes x 8 / parameters)</text>")
        fr = frontier([(p[0], v) for p, v in zip(pts, vals)])
        path = " ".join(f"{'M' if i == 0 else 'L'}{X(pts[j][0]):.1f},{Y(vals[j]):.1f}" for i, j in enumerate(fr))
        o.append(f"<path d='{path}' fill='none' stroke='#888' stroke-dasharray='4,3'/>")
        for (x, ev, r, si), v in zip(pts, vals):
            c, shape = series[si][2], series[si][3]
            cx, cy = X(x), Y(v)
            tip = f"{r['quantizer']} {r['type']}{' imatrix' if r['imatrix'] else ''}: {r['bytes']} bytes, {key} {ev.get(key)}"
            if shape == "circle":
                o.append(f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='4' fill='{c}' fill-opacity='0.8'><title>{esc(tip)}</title></circle>")
            elif shape == "cross":
                o.append(f"<path d='M{cx - 5:.1f},{cy - 5:.1f}L{cx + 5:.1f},{cy + 5:.1f}M{cx - 5:.1f},{cy + 5:.1f}L{cx + 5:.1f},{cy - 5:.1f}' stroke='{c}' stroke-width='1.5'><title>{esc(tip)}</title></path>")
            else:
                o.append(f"<rect x='{cx - 4:.1f}' y='{cy - 4:.1f}' width='8' height='8' fill='{c}' fill-opacity='0.8'><title>{esc(tip)}</title></rect>")
            if r["quantizer"] == "prune" or (r["quantizer"] == "slm" and not r["imatrix"]):
                o.append(f"<text x='{cx + 6:.1f}' y='{cy - 5:.1f}' font-size='9' fill='{c}'>{esc(r['type'])}</text>")
    ly = H - 40
    lx = 60
    for name, _, c, shape in series:
        if shape == "circle":
            o.append(f"<circle cx='{lx}' cy='{ly}' r='4' fill='{c}'/>")
        elif shape == "cross":
            o.append(f"<path d='M{lx - 5},{ly - 5}L{lx + 5},{ly + 5}M{lx - 5},{ly + 5}L{lx + 5},{ly - 5}' stroke='{c}' stroke-width='1.5'/>")
        else:
            o.append(f"<rect x='{lx - 4}' y='{ly - 4}' width='8' height='8' fill='{c}'/>")
        o.append(f"<text x='{lx + 9}' y='{ly + 4}'>{esc(name)}</text>")
        lx += 150
    o.append(f"<text x='{lx}' y='{ly + 4}' fill='#888'>- - Pareto frontier</text>")
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("--svg")
    ap.add_argument("--md")
    ap.add_argument("--title", default="size vs quality")
    a = ap.parse_args()
    rows = load(a.results)
    base = next((r for r in rows if r["quantizer"] == "input"), None)
    if base is None or not base.get("params"):
        sys.exit("quant_pareto: no input row with 'params' in " + a.results)
    params = base["params"]
    md = markdown(rows, params)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md)
    else:
        sys.stdout.write(md)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg(rows, params, a.title))


if __name__ == "__main__":
    main()

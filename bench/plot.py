#!/usr/bin/env python3
"""plot.py — summarise bench/compare's results (JSON lines from
bench/llamacpp_bench.c and `slm bench --json`) as a side-by-side markdown
table and an SVG bar chart. Python 3 standard library only; the SVG is
written by hand.

    python3 bench/plot.py RESULTS.jsonl --md OUT.md --svg OUT.svg [--title T]

Each JSON line is one sample (one process run, usually one repetition). The
table gives, per model file and test (threads, n_prompt, n_gen), the median
over samples of each engine and the ratio slm / llama.cpp of the medians
(> 1 means slm is faster for speeds; for times and memory < 1 is better).
"""
import argparse
import json
import math
import os
import statistics
import sys
from collections import OrderedDict

ENGINES = ("llama.cpp", "slm")
COLORS = {"llama.cpp": "#4e79a7", "slm": "#f28e2b"}


def load(path):
    """Samples grouped by (file, threads, n_prompt, n_gen) -> engine -> list."""
    groups = OrderedDict()
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot.py: {path}:{n}: not JSON: {e}")
            engine = rec.get("engine")
            if engine not in ENGINES:
                continue
            # llama.cpp's driver names the file in "model", slm bench in "file".
            fname = rec.get("file") or rec.get("model")
            label = os.path.basename(fname)
            if label.endswith(".gguf"):
                label = label[:-5]
            key = (label, rec["threads"], rec["n_prompt"], rec["n_gen"])
            groups.setdefault(key, {e: [] for e in ENGINES})[engine].append(rec)
    return groups


def median_of(samples, field):
    # `slm bench` lines with reps > 1 carry the mean in FIELD and the median
    # in FIELD_median: a sample is one process, so take its median.
    vals = [s.get(field + "_median", s.get(field)) for s in samples]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=2):
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def mib(v):
    return None if v is None else v / (1024.0 * 1024.0)


def markdown(groups):
    out = []
    out.append("| model | threads | test | llama.cpp t/s | slm t/s | slm / llama.cpp | samples |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for (label, threads, n_p, n_g), by in groups.items():
        n_samples = "/".join(str(len(by[e])) for e in ENGINES)
        for kind, n, field in (("pp", n_p, "pp_tokens_per_s"), ("tg", n_g, "tg_tokens_per_s")):
            if n == 0:
                continue
            test = f"{kind}{n}" if kind == "pp" or n_p == 0 else f"tg{n} @ d{n_p}"
            a = median_of(by["llama.cpp"], field)
            b = median_of(by["slm"], field)
            r = ratio(b, a)
            out.append(f"| {label} | {threads} | {test} | {fmt(a)} | {fmt(b)} | "
                       f"{fmt(r, 3) if r is not None else 'n/a'} | {n_samples} |")
    out.append("")
    out.append("| model | threads | ttft ms (llama.cpp / slm) | tg p50 ms | tg p95 ms "
               "| load ms | peak RSS MiB |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (label, threads, n_p, n_g), by in groups.items():
        cells = []
        for field, conv, digits in (("ttft_ms", None, 2), ("latency_ms_p50", None, 3),
                                    ("latency_ms_p95", None, 3), ("load_ms", None, 1),
                                    ("peak_rss_bytes", mib, 1)):
            vals = []
            for e in ENGINES:
                v = median_of(by[e], field)
                vals.append(fmt(conv(v) if conv else v, digits))
            cells.append(" / ".join(vals))
        out.append(f"| {label} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def short(v):
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    """A round axis maximum >= v (1, 2, 2.5, 5 x 10^k)."""
    if v <= 0:
        return 1.0
    e = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10 ** e >= v:
            return m * 10 ** e
    return 10 ** (e + 1)


def svg_chart(groups, title):
    """Two panels (prompt processing, generation), grouped bars per model."""
    panels = [("prompt processing (pp), tokens/s", "pp_tokens_per_s", 2),
              ("text generation (tg), tokens/s", "tg_tokens_per_s", 3)]
    keys = list(groups.keys())
    n = max(len(keys), 1)
    group_w, bar_w, left, top = 120, 40, 70, 50
    panel_h, gap = 230, 90
    width = max(left + n * group_w + 40, 640)
    height = top + len(panels) * (panel_h + gap) + 10
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'font-family="sans-serif" font-size="11">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="{left}" y="20" font-size="14" font-weight="bold">{esc(title)}</text>']
    # legend
    lx = left
    for e in ENGINES:
        s.append(f'<rect x="{lx}" y="28" width="12" height="12" fill="{COLORS[e]}"/>')
        s.append(f'<text x="{lx + 16}" y="38">{esc(e)}</text>')
        lx += 90
    for pi, (ptitle, field, _) in enumerate(panels):
        y0 = top + pi * (panel_h + gap) + 20
        vals = [median_of(groups[k][e], field) for k in keys for e in ENGINES]
        vmax = nice_max(max([v for v in vals if v is not None] or [1.0]))
        s.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{esc(ptitle)}</text>')
        base = y0 + panel_h
        for t in range(5):
            v = vmax * t / 4
            y = base - panel_h * t / 4
            s.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 30}" y2="{y:.1f}" '
                     f'stroke="#ddd"/>')
            s.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v:g}</text>')
        for gi, k in enumerate(keys):
            gx = left + gi * group_w + (group_w - 2 * bar_w) / 2
            for ei, e in enumerate(ENGINES):
                v = median_of(groups[k][e], field)
                x = gx + ei * bar_w
                if v is None:
                    s.append(f'<text x="{x + bar_w / 2:.1f}" y="{base - 4}" '
                             f'text-anchor="middle" fill="#999">n/a</text>')
                    continue
                h = panel_h * v / vmax
                s.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 4}" '
                         f'height="{h:.1f}" fill="{COLORS[e]}"><title>{esc(e)}: '
                         f'{v:.2f} t/s</title></rect>')
                s.append(f'<text x="{x + (bar_w - 4) / 2:.1f}" y="{base - h - 3:.1f}" '
                         f'text-anchor="middle" font-size="9">{short(v)}</text>')
            label, threads, n_p, n_g = k
            cx = left + gi * group_w + group_w / 2
            s.append(f'<text x="{cx:.1f}" y="{base + 14}" text-anchor="middle" '
                     f'font-size="9">{esc(label)}</text>')
            r = ratio(median_of(groups[k]["slm"], field), median_of(groups[k]["llama.cpp"], field))
            if r is not None:
                s.append(f'<text x="{cx:.1f}" y="{base + 26}" text-anchor="middle" '
                         f'font-size="9" fill="#555">x{r:.2f}</text>')
        s.append(f'<line x1="{left}" y1="{base}" x2="{width - 30}" y2="{base}" stroke="#333"/>')
    s.append("</svg>")
    return "\n".join(s) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results")
    ap.add_argument("--md", help="write the markdown table here (also printed)")
    ap.add_argument("--svg", help="write the SVG chart here")
    ap.add_argument("--title", default="slm vs llama.cpp (median tokens/s)")
    a = ap.parse_args()
    groups = load(a.results)
    if not groups:
        sys.exit(f"plot.py: {a.results}: no results")
    md = markdown(groups)
    sys.stdout.write(md)
    if a.md:
        with open(a.md, "w") as f:
            f.write(md)
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(svg_chart(groups, a.title))


if __name__ == "__main__":
    main()

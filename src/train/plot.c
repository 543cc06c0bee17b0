/* plot.c — the loss curve of a run as a small standalone SVG: train loss
 * as a polyline (smoothed by an exponential moving average, raw points
 * faint behind it), validation points as dots, axes with a few ticks.
 * No dependencies; the file is plain text.
 */
#include <math.h>
#include <stdio.h>

#include "base/status.h"
#include "train/train_data.h"

enum { W = 720, H = 420, ML = 60, MR = 20, MT = 36, MB = 44 };

slm_status slm_plot_loss_svg(const slm_loss_point *p, size_t n, const char *title,
                             const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return slm_fail(SLM_ERR_IO, "%s: cannot create", path);
    double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || p[i].step > x1) x1 = (double)p[i].step;
        const float v[2] = {p[i].loss, p[i].val};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) {
                if (v[k] < y0) y0 = v[k];
                if (v[k] > y1) y1 = v[k];
            }
    }
    if (!(y1 > y0)) y0 = 0, y1 = 1;
    const double pad = 0.05 * (y1 - y0);
    y0 -= pad, y1 += pad;
    if (x1 <= x0) x1 = x0 + 1;
#define PX(x) (ML + ((double)(x) - x0) / (x1 - x0) * (W - ML - MR))
#define PY(y) (MT + (y1 - (double)(y)) / (y1 - y0) * (H - MT - MB))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">", ML);
    for (const char *s = title ? title : "loss"; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
    fputs("</text>\n", f);
    for (int k = 0; k <= 5; k++) {
        const double y = y0 + (y1 - y0) * k / 5, x = x0 + (x1 - x0) * k / 5;
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", ML, W - MR,
                PY(y), PY(y));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", ML - 6, PY(y) + 4,
                y);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", PX(x),
                H - MB + 16, x);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", (ML + W - MR) / 2,
            H - 8);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            ML, MT, W - ML - MR, H - MT - MB);
    for (int pass = 0; pass < 2; pass++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"",
                pass ? "#1f77b4" : "#aec7e8", pass ? "2" : "1");
        double ema = NAN;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(p[i].loss)) continue;
            ema = isnan(ema) ? p[i].loss : 0.9 * ema + 0.1 * p[i].loss;
            fprintf(f, "%.1f,%.1f ", PX(p[i].step), PY(pass ? ema : p[i].loss));
        }
        fputs("\"/>\n", f);
    }
    for (size_t i = 0; i < n; i++)
        if (isfinite(p[i].val))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"#d62728\"/>\n",
                    PX(p[i].step), PY(p[i].val));
    fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">train (EMA 0.9)</text>"
               "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">validation</text>\n",
            W - MR - 200, MT + 16, W - MR - 80, MT + 16);
    fputs("</svg>\n", f);
#undef PX
#undef PY
    if (fclose(f) != 0) return slm_fail(SLM_ERR_IO, "%s: write failed", path);
    return SLM_OK;
}

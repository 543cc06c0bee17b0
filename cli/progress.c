/* progress.c — the progress report of long subcommands (quantize, imatrix,
 * perplexity, prune): a redrawn bar when stderr is a terminal (or with
 * --progress), otherwise a plain line every 5 s and one at the end, so logs
 * of scripted runs stay short. */
#include <stdio.h>

#include "cli.h"

#define BAR_WIDTH 30
#define PLAIN_EVERY_MS 5000.0

void cli_progress_init(cli_progress *p, const char *cmd, int bar)
{
    p->cmd = cmd;
    p->bar = bar;
    p->t0 = p->last = cli_now_ms();
}

void cli_progress_update(cli_progress *p, double frac, int finished, const char *detail)
{
    double now = cli_now_ms(), secs = (now - p->t0) / 1e3;
    if (p->bar) {
        int fill = (int)(frac * BAR_WIDTH + 0.5);
        if (fill < 0) fill = 0;
        if (fill > BAR_WIDTH) fill = BAR_WIDTH;
        fprintf(stderr, "\r[%.*s%*s] %s  %.1f s ", fill, "##############################",
                BAR_WIDTH - fill, "", detail, secs);
        if (finished) fputc('\n', stderr);
        fflush(stderr);
    } else if (now - p->last > PLAIN_EVERY_MS || finished) {
        fprintf(stderr, "slm %s: %s (%.1f s)\n", p->cmd, detail, secs);
        p->last = now;
    }
}

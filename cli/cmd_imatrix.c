/* cmd_imatrix.c — `slm imatrix MODEL --data FILE -o imatrix.dat`: activation
 * statistics on calibration text for `slm quantize --imatrix`
 * (slm_imatrix_collect; llama.cpp's legacy .dat format). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: slm imatrix MODEL.gguf --data FILE -o imatrix.dat [options]\n"
            "\n"
            "Collect the importance matrix (mean squared input activation per column of\n"
            "every layer matrix) on calibration text, in llama.cpp's legacy .dat format,\n"
            "for `slm quantize --imatrix` or llama-quantize.\n"
            "\n"
            "options:\n"
            "      --data FILE     calibration text (plain or .gz)\n"
            "  -o, --out FILE      output .dat file\n"
            "  -c, --ctx N         tokens per chunk (default 512)\n"
            "      --chunks N      use at most N chunks (default: all)\n"
            "      --max-bytes N   read at most N bytes of the data file\n"
            "  -t, --threads N     threads (default: all cores)\n"
            "      --progress      progress bar even when stderr is not a terminal\n"
            "  -h, --help          show this help\n");
}

static int on_chunk(uint32_t chunk, uint32_t n_chunks, void *user)
{
    char detail[64];
    snprintf(detail, sizeof detail, "%u/%u chunks", chunk, n_chunks);
    cli_progress_update(user, n_chunks ? (double)chunk / n_chunks : 1.0, chunk == n_chunks, detail);
    return 0;
}

int cmd_imatrix(int argc, char **argv)
{
    slm_imatrix_params p = slm_imatrix_default_params();
    const char *model_path = NULL, *data = NULL, *out = NULL;
    int force_progress = 0;
    int32_t n_ctx = 512, n_chunks = 0, n_threads = 0;
    cli_args a;
    cli_args_init(&a, argc, argv);
    while (cli_next(&a)) {
        int rc = 0;
        if (cli_is(&a, "-h", "--help")) {
            usage(stdout);
            return CLI_OK;
        } else if (cli_is(&a, "--data", "-f")) {
            if (!(data = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-o", "--out")) {
            if (!(out = cli_value(&a))) return CLI_USAGE;
        } else if (cli_is(&a, "-c", "--ctx")) {
            rc = cli_int(&a, 2, 1 << 20, &n_ctx);
        } else if (cli_is(&a, "--chunks", NULL)) {
            rc = cli_int(&a, 0, INT32_MAX, &n_chunks);
        } else if (cli_is(&a, "--max-bytes", NULL)) {
            rc = cli_u64(&a, &p.max_bytes);
        } else if (cli_is(&a, "-t", "--threads")) {
            rc = cli_int(&a, 1, 1024, &n_threads);
        } else if (cli_is(&a, "--progress", NULL)) {
            force_progress = 1;
        } else if (cli_is_flag(&a)) {
            return cli_unknown(&a);
        } else if (!model_path) {
            model_path = a.arg;
        } else {
            return cli_usage_error(a.cmd, "unexpected argument '%s'", a.arg);
        }
        if (rc) return rc;
    }
    if (!model_path) return cli_usage_error(a.cmd, "missing MODEL.gguf");
    if (!data) return cli_usage_error(a.cmd, "missing --data FILE");
    if (!out) return cli_usage_error(a.cmd, "missing -o FILE");
    p.n_ctx = (uint32_t)n_ctx;
    p.n_chunks = (uint32_t)n_chunks;
    p.n_threads = n_threads;
    cli_progress pg;
    cli_progress_init(&pg, "imatrix", force_progress || isatty(2));
    p.progress = on_chunk;
    p.user = &pg;
    slm_model *m = NULL;
    slm_model_params mp = slm_model_default_params();
    if (cli_load_model(a.cmd, model_path, &mp, &m) != CLI_OK) return CLI_FAIL;
    slm_status st = slm_imatrix_collect(m, data, out, &p);
    slm_model_free(m);
    if (st == SLM_ERR_ARG) {
        fprintf(stderr, "slm imatrix: %s\n", slm_last_error());
        return CLI_USAGE;
    }
    if (st != SLM_OK) return cli_fail(a.cmd, "imatrix failed", st);
    fprintf(stderr, "slm imatrix: wrote %s (%.1f s)\n", out, (cli_now_ms() - pg.t0) / 1e3);
    return CLI_OK;
}

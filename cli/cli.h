/* cli.h — shared pieces of the `slm` command-line tool: the subcommands and
 * the small helpers they use (argument parsing, error reporting, timing,
 * UTF-8-safe streaming, JSON strings). The tool sees only the public slm.h.
 *
 * Conventions. A subcommand is `int cmd_<name>(int argc, char **argv)` with
 * argv[0] = the subcommand name and argv[1..argc-1] its arguments. It returns
 * the process exit code: 0 success, 1 runtime failure (file, model, library
 * error: the message comes from slm_last_error()), 2 usage error (unknown or
 * missing flag, bad value). Messages go to stderr as "slm <cmd>: ...".
 */
#ifndef SLM_CLI_H
#define SLM_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "slm.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* cli/cmd_bench.c (engineer G) */
int cmd_train(int argc, char **argv); /* cli/cmd_train.c (engineer B) */
int cmd_tokenizer(int argc, char **argv); /* cli/cmd_tokenizer.c (engineer D): tokenizer train */
int cmd_quantize(int argc, char **argv); /* cli/cmd_quantize.c (engineer A) */
int cmd_perplexity(int argc, char **argv); /* cli/cmd_perplexity.c (engineer A) */
int cmd_imatrix(int argc, char **argv); /* cli/cmd_imatrix.c (engineer A) */
int cmd_template(int argc, char **argv); /* cli/cmd_template.c (engineer G) */
int cmd_serve(int argc, char **argv); /* cli/cmd_serve.c + cli/serve/ (engineer F) */
int cmd_prune(int argc, char **argv); /* cli/cmd_prune.c (engineer A) */
int cmd_distill(int argc, char **argv); /* cli/cmd_distill.c (engineer T) */
int cmd_chat(int argc, char **argv); /* cli/cmd_chat.c + chat_engine.c (engineer C) */
int cmd_grammar(int argc, char **argv); /* cli/cmd_grammar.c (engineer G): from-schema, check */
int cmd_dna(int argc, char **argv); /* cli/cmd_dna.c (engineer D1): slm dna SUB */
int cmd_dna_bench(int argc, char **argv); /* cli/cmd_dna_bench.c (engineer D2): slm dna bench */

/* ---- argument parsing ----
 * Usage:
 *     cli_args a; cli_args_init(&a, argc, argv);
 *     while (cli_next(&a)) {
 *         if (cli_is(&a, "-n", "--n-predict")) { if (cli_int(&a, -1, INT32_MAX, &n)) return 2; }
 *         else if (cli_is_flag(&a)) return cli_unknown(&a);
 *         else positional(a.arg);
 *     }
 * Options take their value from the next argument or after '=' ("--temp=0"). */
typedef struct cli_args {
    const char *cmd; /* subcommand name, for messages */
    int argc;
    char **argv;
    int i;           /* index of the current argument */
    const char *arg; /* the current argument */
    const char *eq;  /* value after '=' in "--opt=value", or NULL */
    const char *opt; /* the option name last matched by cli_is (for messages) */
} cli_args;

void cli_args_init(cli_args *a, int argc, char **argv);
/* Advance to the next argument; 0 when none is left. */
int cli_next(cli_args *a);
/* 1 if the current argument is option `name` or `alt` (alt may be NULL). */
int cli_is(cli_args *a, const char *name, const char *alt);
/* 1 if the current argument looks like an option ("-x", "--xyz"; not "-"). */
int cli_is_flag(const cli_args *a);
/* The option's value, or NULL after printing "option needs a value". */
const char *cli_value(cli_args *a);
/* Parse the option's value into *out within [lo, hi]; 0 ok, else prints the
 * problem and returns CLI_USAGE. */
int cli_int(cli_args *a, long lo, long hi, int32_t *out);
int cli_u64(cli_args *a, uint64_t *out);
int cli_float(cli_args *a, double lo, double hi, float *out);
/* Print "unknown option" and return CLI_USAGE. */
int cli_unknown(const cli_args *a);

/* Print "slm <cmd>: <message>" and a pointer to --help; return CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Print "slm <cmd>: <what>: <status>: <slm_last_error()>" and return CLI_FAIL. */
int cli_fail(const char *cmd, const char *what, slm_status st);

/* ---- helpers ---- */
/* Read a whole file, "-" = standard input (NUL-terminated copy, malloc'd, caller frees).
 * NULL on failure with errno set. */
char *cli_read_file(const char *path, size_t *len);
/* Parse "f16"/"f32" (any case) into a KV cache type; 0 ok, else CLI_USAGE. */
int cli_kv_type(cli_args *a, slm_type *out);
/* Monotonic clock in milliseconds. */
double cli_now_ms(void);
/* Progress of long work on stderr (cli/progress.c): a redrawn bar when
 * `bar` (stderr is a terminal, or --progress), else a plain line
 * "slm CMD: DETAIL (S s)" every 5 s and when finished. */
typedef struct cli_progress {
    const char *cmd;  /* subcommand name, prefix of the plain lines */
    int bar;          /* 1: redraw a bar in place */
    double t0, last;  /* start, and the last plain line (ms, cli_now_ms) */
} cli_progress;
void cli_progress_init(cli_progress *p, const char *cmd, int bar);
/* frac in [0, 1] of the work done; finished ends the bar's line. */
void cli_progress_update(cli_progress *p, double frac, int finished, const char *detail);
/* Peak resident set size of this process in MiB (getrusage). */
double cli_peak_rss_mib(void);
/* Load a model, reporting failures as cli_fail does (returns CLI_OK or CLI_FAIL). */
int cli_load_model(const char *cmd, const char *path, const slm_model_params *mp, slm_model **out);
/* The model-shape and optimiser flags shared by train, distill and dna
 * pretrain (cli/train_opts.c): 1 if the current argument is one of them
 * (*rc = 0, or CLI_USAGE after printing the problem), 0 if not. */
int cli_train_option(cli_args *a, slm_train_params *p, int *rc);
/* A --config file ("name value" or "name=value" lines, # comments) as an
 * argv of "--name value" words (argv[0] = cmd), prepended to *list; the
 * words stay valid until cli_config_free(*list). CLI_OK, or CLI_USAGE when
 * the file can't be read (message printed), CLI_FAIL when out of memory. */
typedef struct cli_config cli_config;
int cli_config_read(const char *cmd, const char *path, cli_config **list, int *argc,
                    char ***argv);
void cli_config_free(cli_config *list);
/* Training progress on stderr for train, distill and dna pretrain
 * (cli/train_opts.c). cli_fmt_time writes a duration as "1h02m" or "3m07s".
 * cli_train_progress is an slm_train_params.progress callback whose user
 * pointer is a cli_train_log: a redrawn bar when `bar`, else one plain line
 * every log_every steps, on validation and at the end (with the tokens seen
 * when `tokens`). Always returns 0 (continue). */
void cli_fmt_time(char *buf, size_t n, double s);
typedef struct cli_train_log {
    int bar;           /* 1: redraw a bar in place */
    int32_t log_every; /* plain line every N steps (>= 1) */
    int tokens;        /* 1: plain lines also show the tokens seen */
} cli_train_log;
int cli_train_progress(const slm_train_progress *pr, void *user);

/* Write s[0..n) as a JSON string literal (quotes included); bytes that are
 * not valid UTF-8 are written as U+FFFD. */
void cli_json_string(FILE *f, const char *s, size_t n);

/* Streams token pieces to a FILE, holding back an incomplete UTF-8 sequence
 * at the end until the next piece completes it (or cli_utf8_flush). */
typedef struct cli_utf8_out {
    FILE *f;
    char pending[8]; /* at most 3 bytes of an unfinished sequence */
    size_t n_pending;
} cli_utf8_out;

void cli_utf8_write(cli_utf8_out *o, const char *s, size_t n);
void cli_utf8_flush(cli_utf8_out *o);
/* Number of bytes at the end of s[0..n) that start an incomplete but so
 * far valid UTF-8 sequence (0..3). */
size_t cli_utf8_incomplete_tail(const char *s, size_t n);
/* Length (1..4) of the valid UTF-8 character at s[0..n), or 0 if the bytes
 * there are invalid, overlong, a surrogate or incomplete. */
size_t cli_utf8_valid_len(const unsigned char *s, size_t n);

#endif

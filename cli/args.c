/* args.c — command-line parsing for the subcommands: option matching
 * ("-n 5", "--temp=0"), checked number parsing with ranges, and the usage /
 * runtime error messages with their exit codes (see cli.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_args_init(cli_args *a, int argc, char **argv)
{
    a->cmd = argc > 0 ? argv[0] : "?";
    a->argc = argc;
    a->argv = argv;
    a->i = 0;
    a->arg = NULL;
    a->eq = NULL;
    a->opt = NULL;
}

int cli_next(cli_args *a)
{
    if (a->i + 1 >= a->argc) return 0;
    a->i++;
    a->arg = a->argv[a->i];
    a->eq = NULL;
    return 1;
}

static int matches(cli_args *a, const char *name)
{
    if (!name) return 0;
    size_t n = strlen(name);
    if (strncmp(a->arg, name, n) != 0) return 0;
    if (a->arg[n] == '\0') {
        a->eq = NULL;
        a->opt = name;
        return 1;
    }
    /* "--name=value" (long options only, so "-n5" stays unknown) */
    if (a->arg[n] == '=' && name[0] == '-' && name[1] == '-') {
        a->eq = a->arg + n + 1;
        a->opt = name;
        return 1;
    }
    return 0;
}

int cli_is(cli_args *a, const char *name, const char *alt)
{
    return matches(a, name) || matches(a, alt);
}

int cli_is_flag(const cli_args *a)
{
    return a->arg[0] == '-' && a->arg[1] != '\0';
}

const char *cli_value(cli_args *a)
{
    if (a->eq) return a->eq;
    if (a->i + 1 >= a->argc) {
        cli_usage_error(a->cmd, "option '%s' needs a value", a->opt ? a->opt : a->arg);
        return NULL;
    }
    a->i++;
    return a->argv[a->i];
}

int cli_int(cli_args *a, long lo, long hi, int32_t *out)
{
    const char *opt = a->opt ? a->opt : a->arg, *v = cli_value(a);
    if (!v) return CLI_USAGE;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return cli_usage_error(a->cmd, "option '%s': '%s' is not an integer", opt, v);
    if (x < lo || x > hi)
        return cli_usage_error(a->cmd, "option '%s': %ld is out of range (expected %ld..%ld)", opt, x,
                               lo, hi);
    *out = (int32_t)x;
    return CLI_OK;
}

int cli_u64(cli_args *a, uint64_t *out)
{
    const char *opt = a->opt ? a->opt : a->arg, *v = cli_value(a);
    if (!v) return CLI_USAGE;
    char *end;
    errno = 0;
    if (v[0] == '-') return cli_usage_error(a->cmd, "option '%s': '%s' is negative", opt, v);
    unsigned long long x = strtoull(v, &end, 0);
    if (end == v || *end != '\0' || errno == ERANGE)
        return cli_usage_error(a->cmd, "option '%s': '%s' is not a non-negative integer", opt, v);
    *out = (uint64_t)x;
    return CLI_OK;
}

int cli_float(cli_args *a, double lo, double hi, float *out)
{
    const char *opt = a->opt ? a->opt : a->arg, *v = cli_value(a);
    if (!v) return CLI_USAGE;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno == ERANGE || !isfinite(x))
        return cli_usage_error(a->cmd, "option '%s': '%s' is not a number", opt, v);
    if (x < lo || x > hi)
        return cli_usage_error(a->cmd, "option '%s': %g is out of range (expected %g..%g)", opt, x, lo,
                               hi);
    *out = (float)x;
    return CLI_OK;
}

int cli_kv_type(cli_args *a, slm_type *out)
{
    const char *opt = a->opt ? a->opt : a->arg, *v = cli_value(a);
    if (!v) return CLI_USAGE;
    if (strcmp(v, "f16") == 0 || strcmp(v, "F16") == 0) {
        *out = SLM_TYPE_F16;
        return CLI_OK;
    }
    if (strcmp(v, "f32") == 0 || strcmp(v, "F32") == 0) {
        *out = SLM_TYPE_F32;
        return CLI_OK;
    }
    return cli_usage_error(a->cmd, "option '%s': '%s' is not a KV cache type (expected f16 or f32)",
                           opt, v);
}

int cli_unknown(const cli_args *a)
{
    return cli_usage_error(a->cmd, "unknown option '%s'", a->arg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "slm %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'slm %s --help'.\n", cmd);
    return CLI_USAGE;
}

int cli_fail(const char *cmd, const char *what, slm_status st)
{
    const char *detail = slm_last_error();
    fprintf(stderr, "slm %s: %s: %s%s%s\n", cmd, what, slm_status_name(st), detail[0] ? ": " : "",
            detail);
    return CLI_FAIL;
}

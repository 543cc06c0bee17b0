/* status.c — thread-local error messages and the log sink. */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MSG_CAP 1024

static _Thread_local char last_msg[MSG_CAP];
static slm_log_fn log_fn;
static void *log_user;

const char *slm_version(void) { return SLM_VERSION_STRING; }

const char *slm_status_name(slm_status st)
{
    switch (st) {
    case SLM_OK: return "SLM_OK";
    case SLM_ERR_IO: return "SLM_ERR_IO";
    case SLM_ERR_FORMAT: return "SLM_ERR_FORMAT";
    case SLM_ERR_UNSUPPORTED: return "SLM_ERR_UNSUPPORTED";
    case SLM_ERR_NOMEM: return "SLM_ERR_NOMEM";
    case SLM_ERR_ARG: return "SLM_ERR_ARG";
    case SLM_ERR_CANCELLED: return "SLM_ERR_CANCELLED";
    case SLM_ERR_FULL: return "SLM_ERR_FULL";
    }
    return "SLM_ERR_UNKNOWN";
}

const char *slm_last_error(void) { return last_msg; }

void slm_error_clear(void) { last_msg[0] = '\0'; }

slm_status slm_fail(slm_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    return st;
}

void slm_error_prefix(const char *prefix)
{
    size_t np = strlen(prefix) + 2, nm = strlen(last_msg);
    if (np >= MSG_CAP) return;
    if (np + nm >= MSG_CAP) nm = MSG_CAP - 1 - np;
    memmove(last_msg + np, last_msg, nm);
    last_msg[np + nm] = '\0';
    memcpy(last_msg, prefix, np - 2);
    memcpy(last_msg + np - 2, ": ", 2);
}

void slm_set_log(slm_log_fn fn, void *user)
{
    log_fn = fn;
    log_user = user;
}

void slm_log(int level, const char *fmt, ...)
{
    if (!log_fn) return;
    char buf[MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(level, buf, log_user);
}

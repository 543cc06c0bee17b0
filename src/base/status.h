/* status.h — error reporting inside libslm.
 *
 * A failing function records a message with slm_fail() (thread-local, read by
 * slm_last_error()) and returns the status. SLM_CHECK is the usual form:
 * check a condition on untrusted data, set the message, jump to `fail:`.
 * assert() is only for our own invariants, never for data from outside.
 */
#ifndef SLM_BASE_STATUS_H
#define SLM_BASE_STATUS_H

#include "slm.h"

#if defined(__GNUC__)
#define SLM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SLM_PRINTF(a, b)
#endif

/* Record a formatted message for slm_last_error() and return st. */
slm_status slm_fail(slm_status st, const char *fmt, ...) SLM_PRINTF(2, 3);

/* Prefix the current message with "prefix: " (e.g. the file name). */
void slm_error_prefix(const char *prefix);

/* Clear the thread's message (used at the start of public calls). */
void slm_error_clear(void);

/* Library log, routed to the callback of slm_set_log (default: dropped). */
void slm_log(int level, const char *fmt, ...) SLM_PRINTF(2, 3);

/* Check cond; on failure record the message, set `st` and goto fail.
 * The enclosing function must declare `slm_status st` and a `fail:` label. */
#define SLM_CHECK(cond, code, ...)                 \
    do {                                           \
        if (!(cond)) {                             \
            st = slm_fail((code), __VA_ARGS__);    \
            goto fail;                             \
        }                                          \
    } while (0)

/* Propagate a status from a call; the callee already set the message. */
#define SLM_TRY(expr)                              \
    do {                                           \
        st = (expr);                               \
        if (st != SLM_OK) goto fail;               \
    } while (0)

#endif

/* jinja.h — a Jinja2 subset for chat templates (tokenizer.chat_template).
 *
 * Renders a template the way Hugging Face transformers' apply_chat_template
 * configures Jinja2: trim_blocks, lstrip_blocks, loopcontrols, an immutable
 * sandbox, raise_exception(), strftime_now() and a json.dumps-style tojson.
 * The context is a JSON object whose keys become the template's variables.
 *
 * Errors return, with a message naming the template line: SLM_ERR_FORMAT for
 * syntax errors, runtime errors the reference raises (undefined attribute
 * access, type errors, unknown filters, mutating methods) and
 * raise_exception ("raise_exception: <text>"); SLM_ERR_UNSUPPORTED for a
 * construct outside the subset (named); SLM_ERR_NOMEM past the size limits.
 *
 * Known differences from Python: integers are 64-bit (overflow is an error);
 * map/select/reject results are lists marked as generators (tojson and
 * length refuse them as Python does, but `x|items` on a non-mapping fails
 * at once rather than when iterated); case mapping covers Latin, Greek and
 * Cyrillic one-to-one only.
 */
#ifndef SLM_CHAT_JINJA_H
#define SLM_CHAT_JINJA_H

#include <stddef.h>

#include "slm.h"

/* Render src[0..src_len) with the variables of the JSON object ctx_json.
 * On success *out is a NUL-terminated slm_alloc'd string of *out_len bytes. */
slm_status jinja_render(const char *src, size_t src_len, const char *ctx_json, size_t ctx_len,
                        char **out, size_t *out_len);

#endif

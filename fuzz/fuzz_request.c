/* fuzz_request.c — libFuzzer target for the server's request parser
 * (cli/serve/openai.c): any bytes, as a completions body and as a chat body,
 * must give either a valid request or an OpenAI error with a 4xx/5xx status,
 * never a crash, leak or read outside the input. The first byte picks the
 * kind; the rest is the body (not NUL-terminated, like an HTTP upload). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    srv_kind kind = (data[0] & 1) ? SRV_CHAT : SRV_COMPLETION;
    size_t n = size - 1;
    char *body = malloc(n ? n : 1); /* exact size: ASan sees any overread */
    if (!body) return 0;
    memcpy(body, data + 1, n);
    srv_limits lim = {256, "model.gguf"};
    srv_request r;
    srv_error e;
    if (srv_request_parse(body, n, kind, &lim, &r, &e) == 0) {
        if (!r.prompt || r.max_tokens == 0 || r.max_tokens > 256 || r.n_stop > SRV_MAX_STOP) abort();
        srv_buf key = {0};
        srv_request_canonical(&r, &key);
        srv_buf_free(&key);
        srv_request_free(&r);
    } else {
        if (e.status < 400 || e.status > 599 || !e.type || !e.message[0]) abort();
        srv_buf b = {0};
        srv_error_json(&e, &b);
        srv_buf_free(&b);
    }
    free(body);
    return 0;
}

/* chat.c — the public chat-template API of slm.h (a thin layer over jinja.c). */
#include "slm.h"

#include "base/alloc.h"
#include "base/status.h"
#include "chat/jinja.h"

SLM_API slm_status slm_chat_template_render(const char *template_src, size_t template_len,
                                            const char *context_json, size_t context_len,
                                            char **out, size_t *out_len)
{
    slm_error_clear();
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!out || (!template_src && template_len) || (!context_json && context_len))
        return slm_fail(SLM_ERR_ARG, "slm_chat_template_render: NULL argument");
    return jinja_render(template_src, template_len, context_json, context_len, out, out_len);
}

SLM_API void slm_chat_free(char *s) { slm_free(s); }

SLM_API slm_status slm_model_chat_template(const slm_model *m, const char **out)
{
    slm_error_clear();
    if (!out) return slm_fail(SLM_ERR_ARG, "slm_model_chat_template: out is NULL");
    *out = NULL;
    if (!m) return slm_fail(SLM_ERR_ARG, "slm_model_chat_template: model is NULL");
    slm_status st = slm_model_meta_str(m, "tokenizer.chat_template", out);
    if (st != SLM_OK) {
        *out = NULL;
        return slm_fail(SLM_ERR_ARG, "model has no tokenizer.chat_template");
    }
    return SLM_OK;
}

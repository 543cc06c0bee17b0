/* memest.c — slm_model_memory_estimate: what slm_model_load plus one
 * slm_session_new would take (file data, KV cache, scratch, logits), worked
 * out before any weight page is touched: the file is opened mapped, so only
 * the pages of the header, metadata and vocabulary are read, and the session
 * sizes come from the same table slm_state_new allocates from.
 */
#include <string.h>

#include "base/status.h"
#include "model/model.h"

slm_status slm_model_memory_estimate(const char *path, const slm_model_params *mp,
                                     const slm_session_params *sp, slm_memory_estimate *out)
{
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out)
        return slm_fail(SLM_ERR_ARG, "slm_model_memory_estimate: path and out must not be NULL");
    slm_model_params lp = mp ? *mp : slm_model_default_params();
    slm_session_params ssp;
    memset(&ssp, 0, sizeof ssp); /* slm_session_default_params (gen/, a layer above) */
    ssp.n_batch = 512;
    ssp.kv_type = SLM_TYPE_F16;
    if (sp) ssp = *sp;
    /* mapped, never locked, no budget: the estimate itself must stay cheap */
    lp.use_mmap = 1;
    lp.use_mlock = 0;
    lp.max_memory_bytes = 0;
    slm_model *m = NULL;
    slm_status st = slm_model_load(path, &lp, &m);
    if (st != SLM_OK) return st;

    slm_memory_estimate e;
    memset(&e, 0, sizeof e);
    e.weights_bytes = m->size_bytes;
    e.file_bytes = slm_gguf_file_size(m->gguf);
    if (!m->vocab_only) {
        /* slm_session_new's defaults */
        uint32_t n_ctx = ssp.n_ctx;
        if (n_ctx == 0) n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
        uint32_t n_batch = ssp.n_batch ? ssp.n_batch : 512;
        if (n_batch > n_ctx) n_batch = n_ctx;
        slm_type kv_type = ssp.kv_type == SLM_TYPE_F32 ? SLM_TYPE_F32 : SLM_TYPE_F16;
        uint64_t kv = 0;
        uint64_t state = slm_state_bytes(m, n_ctx, n_batch, kv_type, ssp.n_threads, &kv);
        uint64_t logits_rows = ssp.logits_all ? n_batch : 1;
        e.n_ctx = n_ctx;
        e.kv_bytes = kv;
        e.scratch_bytes = state - kv + logits_rows * m->hp.n_vocab * sizeof(float);
    }
    e.total_bytes = e.file_bytes + e.kv_bytes + e.scratch_bytes;
    slm_model_free(m);
    *out = e;
    return SLM_OK;
}

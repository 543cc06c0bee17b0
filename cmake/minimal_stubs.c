/* minimal_stubs.c — compiled only in -DSLM_MINIMAL=ON builds, in place of
 * the sources that need a library a minimal build goes without: the public
 * functions the inference-only CLI still references fail here with
 * SLM_ERR_UNSUPPORTED, naming the build option, instead of being missing.
 */
#include "base/alloc.h"
#include "base/status.h"
#include "slm.h"

slm_status slm_json_schema_to_grammar(const char *schema_json, size_t len, char **gbnf_out)
{
    (void)schema_json, (void)len;
    if (gbnf_out) *gbnf_out = NULL;
    return slm_fail(SLM_ERR_UNSUPPORTED,
                    "JSON Schema grammars need cJSON, and this is a minimal build without it "
                    "(configure with -DSLM_MINIMAL=OFF; GBNF grammars still work)");
}

void slm_grammar_text_free(char *text) { slm_free(text); }

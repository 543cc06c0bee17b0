/* schema.c — JSON Schema → GBNF (stub until the converter lands). */
#include "base/status.h"
#include "grammar/grammar.h"

slm_status slm_json_schema_to_grammar(const char *schema_json, size_t len, char **gbnf_out)
{
    if (gbnf_out) *gbnf_out = NULL;
    return slm_fail(SLM_ERR_UNSUPPORTED, "json schema: not implemented yet");
}
void slm_grammar_text_free(char *text) { (void)text; }
const char *slm_grammar_json_object(void) { return "root ::= \"{}\"\n"; }

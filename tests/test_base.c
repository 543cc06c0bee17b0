/* test_base.c — status messages and the allocation wrappers. */
#include <string.h>

#include "base/alloc.h"
#include "base/status.h"
#include "harness.h"

static void failure_message_is_readable_by_caller(void)
{
    slm_status st = slm_fail(SLM_ERR_FORMAT, "tensor '%s': offset %d", "w", 7);
    CHECK(st == SLM_ERR_FORMAT, "returned %d", st);
    CHECK(strcmp(slm_last_error(), "tensor 'w': offset 7") == 0, "got '%s'", slm_last_error());
    slm_error_prefix("model.gguf");
    CHECK(strcmp(slm_last_error(), "model.gguf: tensor 'w': offset 7") == 0, "got '%s'",
          slm_last_error());
    CHECK(strcmp(slm_status_name(SLM_ERR_NOMEM), "SLM_ERR_NOMEM") == 0, "name");
}

static void injected_allocation_failure_returns_null(void)
{
    slm_alloc_fail_after(1);
    void *a = slm_alloc(16);
    void *b = slm_alloc(16);
    slm_alloc_fail_after(-1);
    void *c = slm_alloc(16);
    CHECK(a != NULL, "first allocation should succeed");
    CHECK(b == NULL, "second allocation should fail");
    CHECK(c != NULL, "allocation after reset should succeed");
    slm_free(a);
    slm_free(c);
}

static void size_arithmetic_detects_overflow(void)
{
    size_t r;
    CHECK(!slm_size_mul(SIZE_MAX / 2 + 1, 2, &r), "mul overflow not detected");
    CHECK(slm_size_mul(1u << 20, 1u << 10, &r) && r == (size_t)1 << 30, "mul");
    CHECK(!slm_size_add(SIZE_MAX, 1, &r), "add overflow not detected");
    CHECK(slm_calloc(SIZE_MAX / 2, 4) == NULL, "calloc overflow must fail");
}

int main(void)
{
    RUN(failure_message_is_readable_by_caller);
    RUN(injected_allocation_failure_returns_null);
    RUN(size_arithmetic_detects_overflow);
    return harness_finish();
}

/* dispatch.c — builds the active kernel table once: scalar first, then each
 * ISA the CPU supports, in ascending order, each overwriting only the entries
 * it implements. SLM_ISA=scalar|avx2|avx512 caps the level (tests, A/B
 * runs); an unknown value is ignored with a warning in the log.
 * An ISA level is enabled only if the CPU has every extension its folder is
 * compiled with (see CMakeLists.txt), so the compiler may use any of them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/status.h"
#include "kernels/kernels.h"

enum { LEVEL_SCALAR, LEVEL_AVX2, LEVEL_AVX512 };

static slm_kernels active, scalar;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int level_cap(void)
{
    const char *env = getenv("SLM_ISA");
    if (!env || !*env) return LEVEL_AVX512;
    if (strcmp(env, "scalar") == 0) return LEVEL_SCALAR;
    if (strcmp(env, "avx2") == 0) return LEVEL_AVX2;
    if (strcmp(env, "avx512") == 0) return LEVEL_AVX512;
    slm_log(1, "SLM_ISA='%s' not recognised (expected scalar, avx2 or avx512); using the best level", env);
    return LEVEL_AVX512;
}

static void init(void)
{
    slm_kernels_init_scalar(&scalar);
    active = scalar;
    const int cap = level_cap();
#if SLM_HAVE_X86
    const slm_cpu_features *f = slm_cpu_get();
    const int has_avx2 = f->avx2 && f->fma && f->f16c && f->bmi2;
    if (cap >= LEVEL_AVX2 && has_avx2) {
        slm_kernels_add_avx2(&active);
        active.isa = "avx2";
        const int has_avx512 = f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq &&
                               f->avx512vnni && f->avx512bf16;
        if (cap >= LEVEL_AVX512 && has_avx512) {
            slm_kernels_add_avx512(&active);
            active.isa = "avx512";
        }
    }
#else
    (void)cap; /* no ISA kernels on this architecture yet */
#endif
}

const slm_kernels *slm_kernels_get(void)
{
    pthread_once(&once, init);
    return &active;
}

const slm_kernels *slm_kernels_scalar(void)
{
    pthread_once(&once, init);
    return &scalar;
}

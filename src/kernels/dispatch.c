/* dispatch.c — builds the active kernel table once: scalar first, then each
 * ISA the CPU supports, in ascending order, each overwriting only the entries
 * it implements. SLM_ISA caps the level (tests, A/B runs): scalar|avx2|avx512
 * on x86, scalar|neon|dotprod|i8mm on ARM (i8mm has no kernels of its own
 * yet, so it equals dotprod); an unknown value is ignored with a warning in
 * the log. The levels of the two families share ranks (avx2 = neon = 1), so
 * a name of the other family caps at the same depth.
 * An ISA level is enabled only if the CPU has every extension its folder is
 * compiled with (see CMakeLists.txt), so the compiler may use any of them.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/status.h"
#include "kernels/kernels.h"

enum { LEVEL_SCALAR, LEVEL_AVX2, LEVEL_AVX512, LEVEL_MAX = LEVEL_AVX512 + 1 };
enum { LEVEL_NEON = 1, LEVEL_DOTPROD = 2, LEVEL_I8MM = 3 };

static const struct {
    const char *name;
    int level;
} level_names[] = {
    {"scalar", LEVEL_SCALAR}, {"avx2", LEVEL_AVX2}, {"avx512", LEVEL_AVX512},
    {"neon", LEVEL_NEON},     {"dotprod", LEVEL_DOTPROD}, {"i8mm", LEVEL_I8MM},
};

static slm_kernels active, scalar;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int level_cap(void)
{
    const char *env = getenv("SLM_ISA");
    if (!env || !*env) return LEVEL_MAX;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(env, level_names[i].name) == 0) return level_names[i].level;
    slm_log(1, "SLM_ISA='%s' not recognised (expected scalar, avx2, avx512, neon, dotprod or i8mm); "
               "using the best level", env);
    return LEVEL_MAX;
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
#elif SLM_HAVE_NEON
    const slm_cpu_features *f = slm_cpu_get();
    if (cap >= LEVEL_NEON && f->neon) {
        slm_kernels_add_neon(&active);
        active.isa = "neon";
#if SLM_HAVE_NEON_DOTPROD
        if (cap >= LEVEL_DOTPROD && f->neon_dotprod) {
            slm_kernels_add_neon_dotprod(&active);
            active.isa = "dotprod";
        }
#endif
    }
#else
    (void)cap; /* no ISA kernels on this architecture yet */
#endif
}

/* SLM_ROWS4=off: token generation through one vec_dot per weight row (A/B
 * runs of the four-row kernels). */
static void rows4_cap(void)
{
    const char *env = getenv("SLM_ROWS4");
    if (env && strcmp(env, "off") == 0)
        for (int t = 0; t < SLM_TYPE_COUNT; t++) active.vec_dot_r4[t] = NULL;
}

static void init_all(void)
{
    init();
    rows4_cap();
}

const slm_kernels *slm_kernels_get(void)
{
    pthread_once(&once, init_all);
    return &active;
}

const slm_kernels *slm_kernels_scalar(void)
{
    pthread_once(&once, init_all);
    return &scalar;
}

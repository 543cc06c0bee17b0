/* cpu.h — what the CPU (and the OS, for register state) supports.
 *
 * A feature is reported only if the instruction set is present AND the OS
 * saves the registers it uses (xgetbv), so a kernel set may be enabled when
 * its flag says so. On non-x86 builds every x86 flag is 0. On ARM Linux the
 * kernel reports the features in the auxiliary vector (getauxval AT_HWCAP /
 * AT_HWCAP2), which already accounts for OS support; on other builds every
 * ARM flag is 0.
 */
#ifndef SLM_BASE_CPU_H
#define SLM_BASE_CPU_H

typedef struct slm_cpu_features {
    int avx2, fma, f16c, bmi2;                 /* Haswell-level x86-64 */
    int avx512f, avx512bw, avx512vl, avx512dq; /* AVX-512 foundation + common subsets */
    int avx512vnni, avx512bf16;                /* 8-bit dot (VPDPBUSD), bf16 dot */
    int avx_vnni;                              /* VEX-encoded VNNI (Alder Lake, Zen 5) */
    int neon;                                  /* Advanced SIMD (always on AArch64) */
    int neon_dotprod;                          /* SDOT/UDOT (ARMv8.2 FEAT_DotProd, HWCAP_ASIMDDP) */
    int neon_i8mm;                             /* SMMLA/USDOT (ARMv8.6 FEAT_I8MM, HWCAP2_I8MM) */
} slm_cpu_features;

/* Detected once (thread-safe), then a pointer to the same constant struct. */
const slm_cpu_features *slm_cpu_get(void);

#endif

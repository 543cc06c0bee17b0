/* cpu.h — what the CPU (and the OS, for register state) supports.
 *
 * A feature is reported only if the instruction set is present AND the OS
 * saves the registers it uses (xgetbv), so a kernel set may be enabled when
 * its flag says so. On non-x86 builds every x86 flag is 0.
 */
#ifndef SLM_BASE_CPU_H
#define SLM_BASE_CPU_H

typedef struct slm_cpu_features {
    int avx2, fma, f16c, bmi2;                 /* Haswell-level x86-64 */
    int avx512f, avx512bw, avx512vl, avx512dq; /* AVX-512 foundation + common subsets */
    int avx512vnni, avx512bf16;                /* 8-bit dot (VPDPBUSD), bf16 dot */
    int avx_vnni;                              /* VEX-encoded VNNI (Alder Lake, Zen 5) */
} slm_cpu_features;

/* Detected once (thread-safe), then a pointer to the same constant struct. */
const slm_cpu_features *slm_cpu_get(void);

#endif

/* cpu.c — CPUID feature detection with the OS-support check (XCR0 via
 * xgetbv): AVX needs XMM|YMM state saved (bits 1,2), AVX-512 additionally
 * opmask|ZMM_Hi256|Hi16_ZMM (bits 5,6,7). Bit positions are from the Intel
 * SDM vol. 2A, CPUID leaf 1 (ECX) and leaf 7 (EBX/ECX, sub-leaf 1 EAX).
 */
#include "base/cpu.h"

#include <pthread.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CPU_X86 1
#endif

static slm_cpu_features features;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#ifdef CPU_X86
static unsigned long long xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const int fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    const unsigned long long xcr0 = xgetbv0();
    const int os_avx = (xcr0 & 0x6) == 0x6;
    const int os_avx512 = (xcr0 & 0xe6) == 0xe6;
    if (!os_avx) return;

    features.fma = fma;
    features.f16c = f16c;
    unsigned int max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    features.avx2 = (b >> 5) & 1;
    features.bmi2 = (b >> 8) & 1;
    const unsigned int max_sub = a;
    if (os_avx512) {
        features.avx512f = (b >> 16) & 1;
        features.avx512dq = (b >> 17) & 1;
        features.avx512bw = (b >> 30) & 1;
        features.avx512vl = (b >> 31) & 1;
        features.avx512vnni = (c >> 11) & 1;
    }
    if (max_sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        features.avx_vnni = (a >> 4) & 1;
        if (os_avx512) features.avx512bf16 = (a >> 5) & 1;
    }
}
#elif defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>

/* Bit positions from the Linux UAPI headers (arch/arm64/include/uapi/asm/hwcap.h
 * and arch/arm/include/uapi/asm/hwcap.h), spelled out so an older libc's
 * headers are enough. */
#if defined(__aarch64__)
#define HWCAP_BIT_ASIMD (1ul << 1)
#define HWCAP_BIT_ASIMDDP (1ul << 20)
#define HWCAP2_BIT_I8MM (1ul << 13)
static void detect(void)
{
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    features.neon = (hw & HWCAP_BIT_ASIMD) != 0;
    features.neon_dotprod = features.neon && (hw & HWCAP_BIT_ASIMDDP) != 0;
    features.neon_i8mm = features.neon && (hw2 & HWCAP2_BIT_I8MM) != 0;
}
#else
#define HWCAP_BIT_NEON (1ul << 12)
#define HWCAP_BIT_VFPV4 (1ul << 16)
static void detect(void)
{
    /* the 32-bit NEON kernels are built with -mfpu=neon-vfpv4 (fused
     * multiply-add, half-precision conversion), so require both */
    const unsigned long hw = getauxval(AT_HWCAP);
    features.neon = (hw & HWCAP_BIT_NEON) && (hw & HWCAP_BIT_VFPV4);
}
#endif
#else
static void detect(void) {}
#endif

const slm_cpu_features *slm_cpu_get(void)
{
    pthread_once(&once, detect);
    return &features;
}

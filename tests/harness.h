/* harness.h — the tiny test framework every tests/test_*.c uses.
 *
 * A test is a `static void name(void)` run by RUN(name); CHECK records a
 * failure with file:line and a message and keeps going, REQUIRE also returns
 * from the test. main() ends with `return harness_finish();`, which prints
 * "N passed, M failed" and returns 1 if anything failed. A test that needs
 * ../shared calls harness_need_dir(), which exits 77 (ctest's skip code)
 * with a message when the directory is absent.
 */
#ifndef SLM_TEST_HARNESS_H
#define SLM_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int harness_failed_checks;
static int harness_tests_passed, harness_tests_failed;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            harness_failed_checks++;                                         \
        }                                                                    \
    } while (0)

#define REQUIRE(cond, ...)                                                   \
    do {                                                                     \
        if (!(cond)) {                                                       \
            CHECK(cond, __VA_ARGS__);                                        \
            return;                                                          \
        }                                                                    \
    } while (0)

#define RUN(test)                                                            \
    do {                                                                     \
        int before_ = harness_failed_checks;                                 \
        test();                                                              \
        if (harness_failed_checks == before_) {                              \
            harness_tests_passed++;                                          \
            printf("ok   %s\n", #test);                                      \
        } else {                                                             \
            harness_tests_failed++;                                          \
            printf("FAIL %s\n", #test);                                      \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

static inline int harness_finish(void)
{
    printf("%d passed, %d failed\n", harness_tests_passed, harness_tests_failed);
    return harness_tests_failed ? 1 : 0;
}

/* Exit 77 (skip) unless dir exists. */
static inline void harness_need_dir(const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        printf("SKIP: %s not found (tests that need ../shared skip without it)\n", dir);
        exit(77);
    }
}

/* Read a whole file into a malloc'd buffer; NULL on failure. */
static inline void *harness_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}

#endif

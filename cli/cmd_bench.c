/* cmd_bench.c — `slm bench`: prompt-processing and generation speed of one or
 * more models, measured through the public API only (placeholder: the real
 * measurement lands in the next commit). */
#include <stdio.h>

#include "slm.h"

int cmd_bench(int argc, char **argv);

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "usage: slm bench MODEL... [-p 128,512] [-n 64] [-t 1,2] [-r 5] "
                    "[--json|--csv|--md]\n");
    return 2;
}

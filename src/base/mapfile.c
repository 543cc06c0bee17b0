/* mapfile.c — read-only file mapping (POSIX mmap) or a plain read into an
 * slm_alloc'd buffer. The only file-system code gguf/read.c depends on. */
#include "base/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/status.h"

/* Mapping a zero-length file fails with EINVAL; an empty file is still a
 * file, so it gets this placeholder (never read: size is 0). */
static const unsigned char empty_file[1];

static slm_status read_all(int fd, const char *path, unsigned char *buf, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return slm_fail(SLM_ERR_IO, "%s: read failed at byte %zu of %zu: %s", path, done, size,
                            strerror(errno));
        if (n == 0)
            return slm_fail(SLM_ERR_IO, "%s: file shrank while reading (%zu of %zu bytes)", path,
                            done, size);
        done += (size_t)n;
    }
    return SLM_OK;
}

slm_status slm_mapfile_open(const char *path, int use_mmap, slm_mapfile *out)
{
    slm_status st = SLM_OK;
    unsigned char *buf = NULL;
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: a FIFO given as a model path must not hang the open (it
     * is then refused as not a regular file); no effect on regular files. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    SLM_CHECK(fd >= 0, SLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    SLM_CHECK(fstat(fd, &sb) == 0, SLM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    SLM_CHECK(S_ISREG(sb.st_mode), SLM_ERR_IO, "%s: not a regular file", path);
    SLM_CHECK(sb.st_size >= 0 && (uintmax_t)sb.st_size <= SIZE_MAX, SLM_ERR_IO,
              "%s: size %jd does not fit in memory", path, (intmax_t)sb.st_size);
    size_t size = (size_t)sb.st_size;

    if (size == 0) {
        out->data = empty_file;
    } else if (use_mmap) {
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        SLM_CHECK(p != MAP_FAILED, SLM_ERR_IO, "%s: mmap of %zu bytes failed: %s", path, size,
                  strerror(errno));
        out->data = p;
        out->is_mmap = 1;
    } else {
        /* Page-aligned like a mapping, so tensor data (aligned within the
         * file) is as aligned in memory as with mmap. */
        buf = slm_alloc_aligned(size, 4096);
        SLM_CHECK(buf != NULL, SLM_ERR_NOMEM, "%s: cannot allocate %zu bytes to read the file",
                  path, size);
        SLM_TRY(read_all(fd, path, buf, size));
        out->data = buf;
        buf = NULL;
    }
    out->size = size;
    close(fd);
    return SLM_OK;

fail:
    slm_free_aligned(buf);
    if (fd >= 0) close(fd);
    memset(out, 0, sizeof *out);
    return st;
}

void slm_mapfile_close(slm_mapfile *m)
{
    if (!m || !m->data) return;
    if (m->is_mmap)
        munmap((void *)m->data, m->size);
    else if (m->data != empty_file)
        slm_free_aligned((void *)m->data);
    memset(m, 0, sizeof *m);
}

/* mapfile.h — a whole file as one read-only byte range: mmap'd, or read into
 * memory (use_mmap = 0) for systems or callers that do not want a mapping.
 *
 * Owns the mapping or buffer; knows nothing of what the bytes mean. The
 * range is valid until slm_mapfile_close. An empty file gives size 0 and a
 * non-NULL data pointer that must not be read.
 */
#ifndef SLM_BASE_MAPFILE_H
#define SLM_BASE_MAPFILE_H

#include <stddef.h>

#include "slm.h"

typedef struct slm_mapfile {
    const void *data; /* first byte of the file; never NULL after a successful open */
    size_t size;      /* bytes in the file */
    int is_mmap;      /* 1: data is a mapping (munmap), 0: a page-aligned slm_alloc_aligned
                         copy (or the empty file) */
} slm_mapfile;

/* Map (or read) path. Errors: SLM_ERR_IO with the path and strerror, for a
 * missing/unreadable file, a directory, a short read or a file too large for
 * size_t; SLM_ERR_NOMEM if the read buffer cannot be allocated. On failure
 * *out is zeroed. */
slm_status slm_mapfile_open(const char *path, int use_mmap, slm_mapfile *out);
/* Release the mapping or buffer; a zeroed struct is a no-op. */
void slm_mapfile_close(slm_mapfile *m);

#endif

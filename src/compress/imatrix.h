/* imatrix.h — importance matrices in llama.cpp's legacy .dat format.
 *
 * An importance matrix holds, per weight matrix (by tensor name), the mean
 * of the squared activations of each input column over calibration text;
 * the k-quant and IQ quantizers weight their rounding error by it. File
 * layout (little-endian, llama.cpp tools/imatrix save_imatrix_legacy):
 *
 *     int32 n_entries
 *     n_entries x { int32 len; char name[len]; int32 ncall; int32 nval;
 *                   float32 values[nval] }      values = mean(x^2) * ncall
 *     int32 last_chunk; int32 len; char dataset[len]   (optional trailer)
 *
 * For expert tensors nval = n_embd x n_expert. Readers divide by ncall.
 */
#ifndef SLM_COMPRESS_IMATRIX_H
#define SLM_COMPRESS_IMATRIX_H

#include <stdint.h>

#include "slm.h"

typedef struct slm_imatrix_entry {
    char *name;     /* owned, NUL-terminated */
    float *values;  /* [n] mean squared activation per column (already divided by ncall) */
    int64_t n;
    int32_t ncall;  /* chunks the statistics came from */
} slm_imatrix_entry;

typedef struct slm_imatrix {
    slm_imatrix_entry *e; /* [n_entries] */
    int n_entries;
    int32_t last_chunk;   /* from the trailer; 0 if absent */
    char *dataset;        /* from the trailer; NULL if absent */
} slm_imatrix;

/* Read a legacy file. Validates every length against the file size and
 * every value for finiteness. *out is NULL on failure. */
slm_status slm_imatrix_read(const char *path, slm_imatrix **out);
/* Write a legacy file from entries whose values are means (multiplied by
 * ncall on the way out, as llama.cpp does). */
slm_status slm_imatrix_write(const slm_imatrix *m, const char *path);
/* Entry by tensor name, or NULL. */
const slm_imatrix_entry *slm_imatrix_find(const slm_imatrix *m, const char *name);
void slm_imatrix_free(slm_imatrix *m);

#endif

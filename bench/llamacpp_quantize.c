/* llamacpp_quantize.c — llama.cpp's own quantizer, and a tensor-by-tensor
 * comparison of two GGUF files, for bench/quant_compare. Uses only the
 * public C API of the prebuilt libllama/libggml that the npm package
 * @node-llama-cpp/linux-x64 ships (llama.h, gguf.h, ggml.h). Not part of
 * libslm; compiled by bench/quant_compare with the same line as
 * bench/llamacpp_bench.c.
 *
 *   llamacpp_quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [-t N] [--pure]
 *       what `llama-quantize [--imatrix FILE] IN OUT TYPE N` does:
 *       llama_model_quantize with llama_model_quantize_default_params(),
 *       ftype from TYPE (llama-quantize's names), and the importance
 *       matrix read from llama.cpp's legacy .dat format (values divided by
 *       ncall, as tools/quantize does). Exit 0 on success, 1 on failure.
 *
 *   llamacpp_quantize --diff A.gguf B.gguf [--ref IN.gguf]
 *       one JSON line per tensor of A: {"name","type_a","type_b","bytes",
 *       "identical"} and, with --ref (the unquantized input, F32/F16), the
 *       root-mean-square reconstruction error of each side against it
 *       ("rmse_a","rmse_b", dequantized with ggml's to_float), then a
 *       summary line {"tensors","identical","differ","missing"}.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"
#include "llama.h"

/* ---- type names ---------------------------------------------------------- */

static const struct {
    const char *name;
    enum llama_ftype ftype;
} FTYPES[] = {
    {"F32", LLAMA_FTYPE_ALL_F32},          {"F16", LLAMA_FTYPE_MOSTLY_F16},
    {"BF16", LLAMA_FTYPE_MOSTLY_BF16},     {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},     {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
    {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},     {"Q2_K_S", LLAMA_FTYPE_MOSTLY_Q2_K_S},
    {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
    {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
    {"IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL}, {"IQ4_XS", LLAMA_FTYPE_MOSTLY_IQ4_XS},
};

static int ftype_by_name(const char *s, enum llama_ftype *out)
{
    for (size_t i = 0; i < sizeof FTYPES / sizeof FTYPES[0]; i++) {
        const char *a = FTYPES[i].name, *b = s;
        while (*a && *b && (*a == *b || (*b >= 'a' && *b <= 'z' && *a == *b - 32))) {
            a++;
            b++;
        }
        if (!*a && !*b) {
            *out = FTYPES[i].ftype;
            return 1;
        }
    }
    return 0;
}

/* ---- legacy imatrix (.dat) ------------------------------------------------ */

/* int32 n; n x {int32 len; name; int32 ncall; int32 nval; float v[nval]};
 * values are mean(x^2) * ncall. Returns a NULL-name-terminated array (the
 * names and values are owned by it), or NULL with a message on stderr. */
static struct llama_model_imatrix_data *imatrix_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "llamacpp_quantize: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    int32_t n = 0;
    struct llama_model_imatrix_data *d = NULL;
    if (fread(&n, 4, 1, f) != 1 || n < 0 || n > 1000000)
        goto bad;
    d = calloc((size_t)n + 1, sizeof *d);
    if (!d)
        goto bad;
    for (int32_t i = 0; i < n; i++) {
        int32_t len, ncall, nval;
        if (fread(&len, 4, 1, f) != 1 || len <= 0 || len > 4096)
            goto bad;
        char *name = calloc((size_t)len + 1, 1);
        if (!name)
            goto bad;
        d[i].name = name;
        if (fread(name, 1, (size_t)len, f) != (size_t)len || fread(&ncall, 4, 1, f) != 1 ||
            fread(&nval, 4, 1, f) != 1 || nval <= 0 || nval > (1 << 28))
            goto bad;
        float *v = malloc((size_t)nval * sizeof *v);
        if (!v)
            goto bad;
        d[i].data = v;
        d[i].size = (size_t)nval;
        if (fread(v, sizeof *v, (size_t)nval, f) != (size_t)nval)
            goto bad;
        if (ncall > 0)
            for (int32_t j = 0; j < nval; j++)
                v[j] /= (float)ncall;
    }
    fclose(f);
    return d;
bad:
    fprintf(stderr, "llamacpp_quantize: %s: not a legacy imatrix file\n", path);
    fclose(f);
    if (d) {
        for (int32_t i = 0; i < n; i++) {
            free((void *)d[i].name);
            free((void *)d[i].data);
        }
        free(d);
    }
    return NULL;
}

static void imatrix_free(struct llama_model_imatrix_data *d)
{
    if (!d)
        return;
    for (struct llama_model_imatrix_data *p = d; p->name; p++) {
        free((void *)p->name);
        free((void *)p->data);
    }
    free(d);
}

/* ---- quantize -------------------------------------------------------------- */

static void quiet_log(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level >= GGML_LOG_LEVEL_WARN)
        fputs(text, stderr);
}

static int run_quantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *type = NULL, *imat = NULL;
    int threads = 0, pure = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--imatrix") && i + 1 < argc)
            imat = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pure"))
            pure = 1;
        else if (!in)
            in = argv[i];
        else if (!out)
            out = argv[i];
        else if (!type)
            type = argv[i];
        else {
            fprintf(stderr, "llamacpp_quantize: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    enum llama_ftype ftype;
    if (!in || !out || !type) {
        fprintf(stderr, "usage: llamacpp_quantize IN OUT TYPE [--imatrix FILE] [-t N] [--pure]\n"
                        "       llamacpp_quantize --diff A B [--ref IN]\n");
        return 2;
    }
    if (!ftype_by_name(type, &ftype)) {
        fprintf(stderr, "llamacpp_quantize: unknown type '%s'\n", type);
        return 2;
    }
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_imatrix_data *im = NULL;
    if (imat && !(im = imatrix_read(imat)))
        return 1;
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.nthread = threads;
    qp.ftype = ftype;
    qp.pure = pure != 0;
    qp.imatrix = im;
    uint32_t rc = llama_model_quantize(in, out, &qp);
    imatrix_free(im);
    llama_backend_free();
    if (rc != 0) {
        fprintf(stderr, "llamacpp_quantize: llama_model_quantize(%s -> %s, %s) failed (%u)\n", in, out, type, rc);
        return 1;
    }
    return 0;
}

/* ---- diff ------------------------------------------------------------------ */

typedef struct gfile {
    struct gguf_context *g;
    unsigned char *data; /* whole file */
    size_t size;
} gfile;

static int gfile_open(gfile *f, const char *path)
{
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    f->g = gguf_init_from_file(path, ip);
    if (!f->g) {
        fprintf(stderr, "llamacpp_quantize: %s: not a GGUF file\n", path);
        return 0;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp || fseek(fp, 0, SEEK_END) != 0) {
        fprintf(stderr, "llamacpp_quantize: %s: %s\n", path, strerror(errno));
        if (fp)
            fclose(fp);
        return 0;
    }
    long sz = ftell(fp);
    rewind(fp);
    f->size = sz > 0 ? (size_t)sz : 0;
    f->data = malloc(f->size ? f->size : 1);
    int ok = f->data && fread(f->data, 1, f->size, fp) == f->size;
    fclose(fp);
    if (!ok)
        fprintf(stderr, "llamacpp_quantize: %s: read failed\n", path);
    return ok;
}

static const unsigned char *gfile_tensor(const gfile *f, int64_t id, size_t *n)
{
    size_t off = gguf_get_data_offset(f->g) + gguf_get_tensor_offset(f->g, id);
    *n = gguf_get_tensor_size(f->g, id);
    if (off > f->size || *n > f->size - off)
        return NULL;
    return f->data + off;
}

/* Dequantized copy of a tensor (n_el floats), or NULL if the type has no to_float. */
static float *dequant(const gfile *f, int64_t id, int64_t n_el)
{
    size_t n;
    const unsigned char *p = gfile_tensor(f, id, &n);
    enum ggml_type t = gguf_get_tensor_type(f->g, id);
    const struct ggml_type_traits *tt = ggml_get_type_traits(t);
    if (!p || n_el <= 0)
        return NULL;
    float *y = malloc((size_t)n_el * sizeof *y);
    if (!y)
        return NULL;
    if (t == GGML_TYPE_F32)
        memcpy(y, p, (size_t)n_el * sizeof *y);
    else if (tt && tt->to_float)
        tt->to_float(p, y, n_el);
    else {
        free(y);
        return NULL;
    }
    return y;
}

static double rmse(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return n > 0 ? sqrt(s / (double)n) : 0;
}

static int run_diff(int argc, char **argv)
{
    const char *pa = NULL, *pb = NULL, *pr = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--ref") && i + 1 < argc)
            pr = argv[++i];
        else if (!pa)
            pa = argv[i];
        else if (!pb)
            pb = argv[i];
    }
    if (!pa || !pb) {
        fprintf(stderr, "usage: llamacpp_quantize --diff A B [--ref IN]\n");
        return 2;
    }
    gfile a = {0}, b = {0}, r = {0};
    if (!gfile_open(&a, pa) || !gfile_open(&b, pb) || (pr && !gfile_open(&r, pr)))
        return 1;
    int64_t nt = gguf_get_n_tensors(a.g), same = 0, differ = 0, missing = 0;
    for (int64_t i = 0; i < nt; i++) {
        const char *name = gguf_get_tensor_name(a.g, i);
        int64_t j = gguf_find_tensor(b.g, name);
        if (j < 0) {
            printf("{\"name\":\"%s\",\"missing_in_b\":true}\n", name);
            missing++;
            continue;
        }
        size_t na, nb;
        const unsigned char *da = gfile_tensor(&a, i, &na), *db = gfile_tensor(&b, j, &nb);
        int ident = da && db && na == nb && gguf_get_tensor_type(a.g, i) == gguf_get_tensor_type(b.g, j) &&
                    memcmp(da, db, na) == 0;
        same += ident;
        differ += !ident;
        printf("{\"name\":\"%s\",\"type_a\":\"%s\",\"type_b\":\"%s\",\"bytes_a\":%zu,\"bytes_b\":%zu,\"identical\":%s",
               name, ggml_type_name(gguf_get_tensor_type(a.g, i)), ggml_type_name(gguf_get_tensor_type(b.g, j)), na, nb,
               ident ? "true" : "false");
        int64_t k = pr ? gguf_find_tensor(r.g, name) : -1;
        if (k >= 0) {
            enum ggml_type tr = gguf_get_tensor_type(r.g, k);
            int64_t n_el = (int64_t)(gguf_get_tensor_size(r.g, k) / ggml_type_size(tr)) * ggml_blck_size(tr);
            float *xr = dequant(&r, k, n_el), *xa = dequant(&a, i, n_el), *xb = dequant(&b, j, n_el);
            if (xr && xa && xb)
                printf(",\"rmse_a\":%.9g,\"rmse_b\":%.9g", rmse(xr, xa, n_el), rmse(xr, xb, n_el));
            free(xr);
            free(xa);
            free(xb);
        }
        printf("}\n");
    }
    printf("{\"tensors\":%lld,\"identical\":%lld,\"differ\":%lld,\"missing\":%lld}\n", (long long)nt, (long long)same,
           (long long)differ, (long long)missing);
    gguf_free(a.g);
    gguf_free(b.g);
    if (r.g)
        gguf_free(r.g);
    free(a.data);
    free(b.data);
    free(r.data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--diff"))
        return run_diff(argc, argv);
    return run_quantize(argc, argv);
}

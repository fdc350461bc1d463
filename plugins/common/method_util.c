/* plugins/common/method_util.c - see method_util.h. */
#include "method_util.h"

#include <math.h>
#include <string.h>

mtl_status mu_gram_check(const mtl_method_input *in)
{
    int k = in->n_tasks;

    if (!in->gram)
        return mtl_error_set(MTL_ERR_INVALID,
                             "weigh: step %lld needs the Gram matrix (expected %d x %d "
                             "values, got NULL)",
                             (long long)in->step, k, k);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            if (!isfinite(in->gram[i * k + j]))
                return mtl_error_set(MTL_ERR_INVALID,
                                     "weigh: non-finite Gram matrix entry at row %d, column "
                                     "%d (expected finite, got %g)",
                                     i, j, in->gram[i * k + j]);
    return MTL_OK;
}

int mu_zero_tasks(const double *gram, int k, unsigned char *zero)
{
    double largest = 0.0;
    int n = 0;

    for (int i = 0; i < k; i++)
        largest = fmax(largest, gram[i * k + i]);
    for (int i = 0; i < k; i++) {
        double d = gram[i * k + i];
        zero[i] = !(d > 0.0) || d <= MU_ZERO_GRAD_REL * largest;
        n += zero[i];
    }
    return n;
}

void mu_output_report(mtl_method_output *out, const double *w, int k)
{
    if (out->weights)
        memcpy(out->weights, w, (size_t)k * sizeof *w);
}

void mu_output_loss_weighted(mtl_method_output *out, const double *c, int k, double loss)
{
    memcpy(out->shared_weights, c, (size_t)k * sizeof *c);
    memcpy(out->head_weights, c, (size_t)k * sizeof *c);
    mu_output_report(out, c, k);
    out->loss = loss;
}

mtl_status mu_output_check(const mtl_method_output *out, int k, size_t n_params)
{
    for (int i = 0; i < k; i++) {
        if (!isfinite(out->shared_weights[i]) || !isfinite(out->head_weights[i]))
            return mtl_error_set(MTL_ERR_NUMERIC,
                                 "weigh: non-finite weight for task %d (shared %g, head %g)", i,
                                 out->shared_weights[i], out->head_weights[i]);
        if (out->weights && !isfinite(out->weights[i]))
            return mtl_error_set(MTL_ERR_NUMERIC,
                                 "weigh: non-finite reported weight for task %d (%g)", i,
                                 out->weights[i]);
    }
    for (size_t p = 0; p < n_params; p++)
        if (!isfinite(out->param_grads[p]))
            return mtl_error_set(MTL_ERR_NUMERIC,
                                 "weigh: non-finite gradient of parameter %zu (%g)", p,
                                 (double)out->param_grads[p]);
    if (!isfinite(out->loss))
        return mtl_error_set(MTL_ERR_NUMERIC, "weigh: non-finite loss (%g)", out->loss);
    return MTL_OK;
}

mtl_status mu_task_weights_read(const mtl_host *host, const char *key, int k, double *w)
{
    const double *values;
    size_t n;
    mtl_status st = host->config_doubles(host, key, &values, &n);

    if (st != MTL_OK)
        return st;
    if (n == 0) {
        for (int i = 0; i < k; i++)
            w[i] = 1.0;
        return MTL_OK;
    }
    if (n != (size_t)k)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "option '%s': one weight per task is needed (expected %d, got %zu)",
                             key, k, n);
    memcpy(w, values, (size_t)k * sizeof *w);
    return MTL_OK;
}

mtl_status mu_enum_read(const mtl_host *host, const mtl_option *options, size_t n_options,
                        const char *key, int *index)
{
    const char *value, *choices = NULL;
    mtl_status st = host->config_string(host, key, &value);

    if (st != MTL_OK)
        return st;
    for (size_t o = 0; o < n_options; o++)
        if (strcmp(options[o].key, key) == 0)
            choices = options[o].choices;
    if (!choices)
        return mtl_error_set(MTL_ERR_PLUGIN, "option '%s': not a declared enum", key);

    *index = 0;
    for (const char *p = choices;; (*index)++) {
        size_t len = strcspn(p, "|");
        if (strlen(value) == len && strncmp(p, value, len) == 0)
            return MTL_OK;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return mtl_error_set(MTL_ERR_CONFIG, "option '%s': unknown value '%s' (expected one of %s)",
                         key, value, choices);
}

void mu_softmax(const double *z, int k, double temp, double *w)
{
    double top = -INFINITY;
    double sum = 0.0;

    for (int i = 0; i < k; i++)
        top = fmax(top, z[i] / temp);
    for (int i = 0; i < k; i++) {
        w[i] = exp(z[i] / temp - top);
        sum += w[i];
    }
    for (int i = 0; i < k; i++)
        w[i] /= sum;
}

static const char mu_magic[4] = {'M', 'T', 'L', 'M'};

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

mtl_status mu_state_save(const char tag[4], uint32_t version, int k, const void *payload,
                         size_t n_payload, void *buf, size_t cap, size_t *len)
{
    size_t need = MU_STATE_HEADER + n_payload;
    unsigned char *p = buf;

    *len = need;
    if (!buf)
        return MTL_OK;
    if (cap < need)
        return mtl_error_set(MTL_ERR_INVALID,
                             "state_save: buffer too small (expected %zu bytes, got %zu)", need,
                             cap);
    memcpy(p, mu_magic, 4);
    memcpy(p + 4, tag, 4);
    put_u32(p + 8, version);
    put_u32(p + 12, (uint32_t)k);
    memcpy(p + MU_STATE_HEADER, payload, n_payload);
    return MTL_OK;
}

mtl_status mu_state_open(const char tag[4], uint32_t version, int k, const void *buf, size_t len,
                         size_t n_payload, const unsigned char **payload)
{
    const unsigned char *p = buf;

    if (len < MU_STATE_HEADER || memcmp(p, mu_magic, 4) != 0 || memcmp(p + 4, tag, 4) != 0)
        return mtl_error_set(MTL_ERR_DATA, "state_load: not a saved %.4s state", tag);
    if (get_u32(p + 8) != version)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: unknown layout version (expected %u, got %u)",
                             (unsigned)version, (unsigned)get_u32(p + 8));
    if (get_u32(p + 12) != (uint32_t)k)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: state saved for another number of tasks (expected "
                             "%d, got %u)",
                             k, (unsigned)get_u32(p + 12));
    if (len != MU_STATE_HEADER + n_payload)
        return mtl_error_set(MTL_ERR_DATA, "state_load: wrong size (expected %zu bytes, got %zu)",
                             MU_STATE_HEADER + n_payload, len);
    *payload = p + MU_STATE_HEADER;
    return MTL_OK;
}

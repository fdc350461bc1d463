/* Tensor accessors and models (parameters and buffers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

int mtl_tensor_ndim(const mtl_tensor *t)
{
    return t ? t->ndim : 0;
}

int64_t mtl_tensor_dim(const mtl_tensor *t, int i)
{
    if (!t)
        return -1;
    if (i < 0)
        i += t->ndim;
    if (i < 0 || i >= t->ndim)
        return -1;
    return t->shape[i];
}

int64_t mtl_tensor_numel(const mtl_tensor *t)
{
    return t ? t->numel : 0;
}

/*
 * Host pointers are handed out only by a host-visible backend; every
 * tensor of a process lives on the default backend in this release.
 */
static int host_visible(void)
{
    return mtl_backend_default()->host_visible;
}

float *mtl_tensor_data(mtl_tensor *t)
{
    return t && host_visible() ? t->data : NULL;
}

float *mtl_tensor_grad(mtl_tensor *t)
{
    if (!t || !host_visible())
        return NULL;
    if (t->kind == MTL_TENSOR_PARAM || t->retained)
        return t->gacc;
    return NULL;
}

mtl_status mtl_tensor_read(const mtl_tensor *t, float *dst, size_t n)
{
    if (!t || !dst)
        return mtl_error_set(MTL_ERR_INVALID, "tensor: mtl_tensor_read: NULL argument");
    if ((int64_t)n != t->numel)
        return mtl_error_set(MTL_ERR_INVALID,
                             "tensor: mtl_tensor_read: element count differs (expected %lld, "
                             "got %zu)",
                             (long long)t->numel, n);
    mtl_backend_default()->to_host(dst, t->data, n);
    return MTL_OK;
}

mtl_status mtl_tensor_write(mtl_tensor *t, const float *src, size_t n)
{
    if (!t || !src)
        return mtl_error_set(MTL_ERR_INVALID, "tensor: mtl_tensor_write: NULL argument");
    if (t->kind == MTL_TENSOR_RESULT)
        return mtl_error_set(MTL_ERR_INVALID,
                             "tensor: mtl_tensor_write: the result of an op is read-only");
    if ((int64_t)n != t->numel)
        return mtl_error_set(MTL_ERR_INVALID,
                             "tensor: mtl_tensor_write: element count differs (expected %lld, "
                             "got %zu)",
                             (long long)t->numel, n);
    mtl_backend_default()->from_host(t->data, src, n);
    return MTL_OK;
}

float mtl_tensor_item(const mtl_tensor *t)
{
    float v;

    if (!t || t->numel != 1)
        return NAN;
    mtl_backend_default()->to_host(&v, t->data, 1);
    return v;
}

const char *mtl_shape_format_dims(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    size_t used = 0;

    used += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++)
        used +=
            (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

const char *mtl_shape_format(const mtl_tensor *t, char *buf, size_t cap)
{
    return mtl_shape_format_dims(t->ndim, t->shape, buf, cap);
}

/* ---- models ------------------------------------------------------------ */

mtl_status mtl_model_create(mtl_model **model)
{
    mtl_model *m;

    if (!model)
        return mtl_error_set(MTL_ERR_INVALID, "model: mtl_model_create: NULL argument");
    m = calloc(1, sizeof *m);
    if (!m)
        return mtl_error_set(MTL_ERR_NOMEM, "model: mtl_model_create: out of memory");
    m->be = mtl_backend_default();
    *model = m;
    return MTL_OK;
}

static void param_free(const mtl_backend *be, mtl_param *p)
{
    if (!p)
        return;
    be->mem_free(p->t.data);
    if (p->t.kind == MTL_TENSOR_PARAM)
        be->mem_free(p->t.gacc);
    free(p->name);
    free(p);
}

void mtl_model_destroy(mtl_model *model)
{
    if (!model)
        return;
    for (size_t i = 0; i < model->n_params; i++)
        param_free(model->be, model->params[i]);
    for (size_t i = 0; i < model->n_buffers; i++)
        param_free(model->be, model->buffers[i]);
    free(model->params);
    free(model->buffers);
    free(model);
}

static mtl_param *model_find(const mtl_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i]->name, name) == 0)
            return m->params[i];
    for (size_t i = 0; i < m->n_buffers; i++)
        if (strcmp(m->buffers[i]->name, name) == 0)
            return m->buffers[i];
    return NULL;
}

int64_t mtl_shape_numel(const char *fn, int ndim, const int64_t *shape)
{
    int64_t numel = 1;
    size_t bytes;
    char dims[160];

    if (ndim < 0 || ndim > MTL_MAX_DIMS) {
        mtl_error_set(MTL_ERR_INVALID, "%s: bad number of dimensions (expected 0 to %d, got %d)",
                      fn, MTL_MAX_DIMS, ndim);
        return -1;
    }
    if (ndim > 0 && !shape) {
        mtl_error_set(MTL_ERR_INVALID, "%s: shape is NULL", fn);
        return -1;
    }
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            mtl_error_set(MTL_ERR_INVALID, "%s: dimension %d is not positive (got %lld)", fn, i,
                          (long long)shape[i]);
            return -1;
        }
    }
    if (!mtl_shape_size(ndim, shape, &numel, &bytes)) {
        mtl_shape_format_dims(ndim, shape, dims, sizeof dims);
        mtl_error_set(MTL_ERR_INVALID, "%s: shape %s is too large (expected at most %zu bytes)", fn,
                      dims, MTL_MAX_TENSOR_BYTES);
        return -1;
    }
    return numel;
}

static mtl_status grow(void *arrayp, size_t *cap, size_t n)
{
    mtl_param ***array = arrayp;
    size_t ncap = *cap ? 2 * *cap : 16;
    mtl_param **a;

    if (n < *cap)
        return MTL_OK;
    a = realloc(*array, ncap * sizeof *a);
    if (!a)
        return MTL_ERR_NOMEM;
    *array = a;
    *cap = ncap;
    return MTL_OK;
}

static mtl_param *persistent_new(mtl_model *model, const char *fn, const char *name,
                                 mtl_tensor_kind kind, int ndim, const int64_t *shape)
{
    const mtl_backend *be;
    char prefix[256];
    mtl_param *p;
    int64_t numel;

    if (!model || !name)
        return mtl_error_set(MTL_ERR_INVALID, "model: %s: NULL argument", fn), NULL;
    if (!name[0])
        return mtl_error_set(MTL_ERR_INVALID, "model: %s: empty name", fn), NULL;
    if (model_find(model, name))
        return mtl_error_set(MTL_ERR_INVALID, "model: %s: duplicate name '%s'", fn, name), NULL;
    snprintf(prefix, sizeof prefix, "model: %s: '%s'", fn, name);
    numel = mtl_shape_numel(prefix, ndim, shape);
    if (numel < 0)
        return NULL;

    be = model->be;
    p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->name = strdup(name);
    p->t.data = be->mem_alloc((size_t)numel * sizeof(float));
    if (kind == MTL_TENSOR_PARAM)
        p->t.gacc = be->mem_alloc((size_t)numel * sizeof(float));
    p->t.kind = (uint8_t)kind;
    if (!p->name || !p->t.data || (kind == MTL_TENSOR_PARAM && !p->t.gacc))
        goto nomem;
    p->t.numel = numel;
    p->t.ndim = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++)
        p->t.shape[i] = shape[i];
    p->t.requires_grad = kind == MTL_TENSOR_PARAM;
    be->fill(numel, 0.0f, p->t.data);
    if (p->t.gacc)
        be->fill(numel, 0.0f, p->t.gacc);
    return p;

nomem:
    param_free(be, p);
    mtl_error_set(MTL_ERR_NOMEM, "model: %s: out of memory for '%s' (%lld elements)", fn, name,
                  (long long)numel);
    return NULL;
}

mtl_tensor *mtl_model_param(mtl_model *model, const char *name, mtl_role role, int task,
                            unsigned flags, int ndim, const int64_t *shape)
{
    mtl_param *p;

    if (role != MTL_ROLE_SHARED && role != MTL_ROLE_TASK)
        return mtl_error_set(MTL_ERR_INVALID,
                             "model: mtl_model_param: unknown role (expected 0 or 1, got %d)",
                             (int)role),
               NULL;
    if (role == MTL_ROLE_TASK && task < 0)
        return mtl_error_set(MTL_ERR_INVALID,
                             "model: mtl_model_param: a task parameter needs a task index "
                             "(expected >= 0, got %d)",
                             task),
               NULL;
    if (role == MTL_ROLE_SHARED && task != -1)
        return mtl_error_set(MTL_ERR_INVALID,
                             "model: mtl_model_param: a shared parameter has no task "
                             "(expected -1, got %d)",
                             task),
               NULL;
    if (flags & ~MTL_PARAM_LAST_SHARED)
        return mtl_error_set(MTL_ERR_INVALID, "model: mtl_model_param: unknown flags 0x%x",
                             flags & ~MTL_PARAM_LAST_SHARED),
               NULL;
    if (model && grow(&model->params, &model->cap_params, model->n_params) != MTL_OK)
        return mtl_error_set(MTL_ERR_NOMEM, "model: mtl_model_param: out of memory"), NULL;

    p = persistent_new(model, "mtl_model_param", name, MTL_TENSOR_PARAM, ndim, shape);
    if (!p)
        return NULL;
    p->role = role;
    p->task = task;
    p->flags = flags;
    model->params[model->n_params++] = p;
    return &p->t;
}

mtl_tensor *mtl_model_buffer(mtl_model *model, const char *name, int ndim, const int64_t *shape)
{
    mtl_param *p;

    if (model && grow(&model->buffers, &model->cap_buffers, model->n_buffers) != MTL_OK)
        return mtl_error_set(MTL_ERR_NOMEM, "model: mtl_model_buffer: out of memory"), NULL;
    p = persistent_new(model, "mtl_model_buffer", name, MTL_TENSOR_BUFFER, ndim, shape);
    if (!p)
        return NULL;
    p->role = MTL_ROLE_SHARED;
    p->task = -1;
    model->buffers[model->n_buffers++] = p;
    return &p->t;
}

size_t mtl_model_n_params(const mtl_model *model)
{
    return model ? model->n_params : 0;
}

mtl_tensor *mtl_model_param_at(const mtl_model *model, size_t i)
{
    return model && i < model->n_params ? &model->params[i]->t : NULL;
}

size_t mtl_model_n_buffers(const mtl_model *model)
{
    return model ? model->n_buffers : 0;
}

mtl_tensor *mtl_model_buffer_at(const mtl_model *model, size_t i)
{
    return model && i < model->n_buffers ? &model->buffers[i]->t : NULL;
}

mtl_status mtl_param_get_info(const mtl_tensor *param, mtl_param_info *info)
{
    const mtl_param *p = (const mtl_param *)param;

    if (!param || !info)
        return mtl_error_set(MTL_ERR_INVALID, "model: mtl_param_get_info: NULL argument");
    if (param->kind != MTL_TENSOR_PARAM)
        return mtl_error_set(MTL_ERR_INVALID,
                             "model: mtl_param_get_info: not a parameter of a model");
    info->name = p->name;
    info->role = p->role;
    info->task = p->task;
    info->flags = p->flags;
    return MTL_OK;
}

void mtl_model_zero_grad(mtl_model *model)
{
    if (!model)
        return;
    for (size_t i = 0; i < model->n_params; i++)
        model->be->fill(model->params[i]->t.numel, 0.0f, model->params[i]->t.gacc);
}

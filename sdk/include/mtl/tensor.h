/*
 * mtl/tensor.h - tensors, the recorded graph (autograd) and models.
 *
 * Three kinds of object:
 *
 *   mtl_model   owns persistent tensors: the parameters (with their role in
 *               multi-task training) and buffers such as batch-norm running
 *               statistics.  Created and destroyed by the task plugin.
 *   mtl_graph   one training or evaluation step.  Every tensor an op returns
 *               lives in the graph's arena until mtl_graph_reset(); while
 *               recording is enabled the ops are taped so that the step can be
 *               back-propagated, several times (once per task) if needed.
 *   mtl_tensor  an n-dimensional float32 array, row-major and contiguous.
 *
 * Errors inside a step are sticky: an op given bad arguments (a shape
 * mismatch, say) records the first such error in its graph, returns NULL,
 * and every later op given a NULL operand returns NULL too.  Code that builds
 * a model can therefore run a whole forward pass and check
 * mtl_graph_status() once at the end; the host does so after every call
 * into a task plugin.  Nothing here aborts the process on bad input.
 *
 * Ops compute eagerly on the graph's backend (the CPU in this release).
 * Binary elementwise ops take operands of the same shape, or one operand with
 * a single element, which is broadcast (its gradient is the sum).  A NULL
 * operand records "tensor: OP: operand N is NULL" unless an error is already
 * recorded.  Results with one element (sums, means, selections, scalars) have
 * no dimensions (ndim 0), like PyTorch's scalars.  Tensors of one graph must
 * not be passed to ops of another graph.
 */
#ifndef MTL_TENSOR_H
#define MTL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MTL_MAX_DIMS 6

typedef struct mtl_tensor mtl_tensor;
typedef struct mtl_graph mtl_graph;
typedef struct mtl_model mtl_model;

/* ---- tensors ---------------------------------------------------------- */

int mtl_tensor_ndim(const mtl_tensor *t);
/* Size of dimension i; negative i counts from the end; -1 out of range. */
int64_t mtl_tensor_dim(const mtl_tensor *t, int i);
int64_t mtl_tensor_numel(const mtl_tensor *t);

/*
 * The values, in host memory, or NULL for a tensor on a device.  Writable
 * for parameters, buffers and inputs made with mtl_graph_input(); the values
 * of op results must not be changed (backward passes read them).
 */
float *mtl_tensor_data(mtl_tensor *t);

/*
 * The gradient accumulated by mtl_graph_backward(): for parameters, until
 * mtl_model_zero_grad(); for a tensor passed to mtl_graph_retain_grad(), the
 * gradient of the most recent backward pass (zeros when that pass did not
 * reach it).  NULL for other tensors.
 */
float *mtl_tensor_grad(mtl_tensor *t);

/* Copies the values to or from host memory (any backend). */
mtl_status mtl_tensor_read(const mtl_tensor *t, float *dst, size_t n);
mtl_status mtl_tensor_write(mtl_tensor *t, const float *src, size_t n);

/* The single value of a one-element tensor (NAN for NULL or larger ones). */
float mtl_tensor_item(const mtl_tensor *t);

/* ---- models ----------------------------------------------------------- */

/* The role of a parameter in multi-task training (DESIGN.md). */
typedef enum mtl_role {
    MTL_ROLE_SHARED = 0, /* shared by all tasks: theta in the papers */
    MTL_ROLE_TASK = 1 /* the head of one task: only that task's loss uses it */
} mtl_role;

/* Flags of a parameter. */
#define MTL_PARAM_LAST_SHARED 0x1u /* part of the last shared layer */

typedef struct mtl_param_info {
    const char *name;
    mtl_role role;
    int task; /* the task index for MTL_ROLE_TASK, -1 otherwise */
    unsigned flags;
} mtl_param_info;

mtl_status mtl_model_create(mtl_model **model);
void mtl_model_destroy(mtl_model *model);

/*
 * Adds a parameter of the given shape, zero-filled, and returns it (owned by
 * the model), or NULL with the reason set.  Names are unique in a model and
 * are what checkpoints are keyed by.
 */
mtl_tensor *mtl_model_param(mtl_model *model, const char *name, mtl_role role,
                            int task, unsigned flags, int ndim,
                            const int64_t *shape);

/* Adds a non-trainable persistent tensor (running statistics), zero-filled. */
mtl_tensor *mtl_model_buffer(mtl_model *model, const char *name, int ndim,
                             const int64_t *shape);

size_t mtl_model_n_params(const mtl_model *model);
mtl_tensor *mtl_model_param_at(const mtl_model *model, size_t i);
size_t mtl_model_n_buffers(const mtl_model *model);
mtl_tensor *mtl_model_buffer_at(const mtl_model *model, size_t i);
/* Role, task, flags and name of a parameter; fails for other tensors. */
mtl_status mtl_param_get_info(const mtl_tensor *param, mtl_param_info *info);

/* Sets every parameter's accumulated gradient to zero. */
void mtl_model_zero_grad(mtl_model *model);

/* ---- graphs ----------------------------------------------------------- */

mtl_status mtl_graph_create(mtl_graph **graph);
void mtl_graph_destroy(mtl_graph *graph);

/*
 * Ends a step: every tensor made in the graph since the last reset becomes
 * invalid and the tape is cleared.  The arena keeps its memory, so a
 * training loop reaches a steady state with no allocation per op.
 */
void mtl_graph_reset(mtl_graph *graph);

/*
 * MTL_OK, or the first error recorded by an op since the last reset; its
 * message becomes this thread's mtl_error_message() again.
 */
mtl_status mtl_graph_status(const mtl_graph *graph);

/* Taping on (the default after a reset) or off (evaluation). */
void mtl_graph_set_recording(mtl_graph *graph, int on);

/*
 * Bytes the arena holds from the system (tensor values, tape, scratch), now
 * and at most since creation.  A loop repeating one kind of step holds a
 * constant amount after its first steps.
 */
size_t mtl_graph_bytes(const mtl_graph *graph);
size_t mtl_graph_peak_bytes(const mtl_graph *graph);

/* A new tensor in the graph's arena for the caller to fill (no gradient). */
mtl_tensor *mtl_graph_input(mtl_graph *graph, int ndim, const int64_t *shape);
mtl_tensor *mtl_graph_scalar(mtl_graph *graph, float value);

/*
 * Keep the gradient of this (non-parameter) tensor in backward passes.  Call
 * it right after the tensor is made: ops recorded before the call do not
 * carry its gradient.  On a graph input it makes the ops that follow
 * differentiable with respect to that input.
 */
void mtl_graph_retain_grad(mtl_graph *graph, mtl_tensor *t);

/*
 * Back-propagates sum_i seeds[i] * outputs[i], where each output is a
 * one-element tensor of this graph, and adds the result to the gradients of
 * the parameters it depends on.  The tape is kept, so the same step can be
 * back-propagated again with other seeds (one pass per task).  Scratch
 * memory of the pass is returned to the arena when it ends.
 */
mtl_status mtl_graph_backward(mtl_graph *graph, int n,
                              mtl_tensor *const *outputs, const float *seeds);

/*
 * The same pass as the step's last one: as the pass goes, every
 * intermediate tensor's values and gradient are given back to the arena once
 * no op of the pass needs them, as PyTorch frees a graph it does not retain,
 * so that the pass adds little to the step's peak memory.  Afterwards only
 * parameters, their gradients, the outputs, retained tensors and graph
 * inputs keep their values; mtl_tensor_data() of any other tensor of the
 * step returns NULL.  Ops and passes on those tensors are undefined until
 * mtl_graph_reset().
 */
mtl_status mtl_graph_backward_last(mtl_graph *graph, int n,
                                   mtl_tensor *const *outputs,
                                   const float *seeds);

/* ---- ops -------------------------------------------------------------- */

/* Elementwise, same shape or one single-element operand. */
mtl_tensor *mtl_add(mtl_graph *g, mtl_tensor *a, mtl_tensor *b);
mtl_tensor *mtl_sub(mtl_graph *g, mtl_tensor *a, mtl_tensor *b);
mtl_tensor *mtl_mul(mtl_graph *g, mtl_tensor *a, mtl_tensor *b);
mtl_tensor *mtl_div(mtl_graph *g, mtl_tensor *a, mtl_tensor *b);

/* a + s, a * s, a ^ p (elementwise, constant exponent). */
mtl_tensor *mtl_add_scalar(mtl_graph *g, mtl_tensor *a, float s);
mtl_tensor *mtl_mul_scalar(mtl_graph *g, mtl_tensor *a, float s);
mtl_tensor *mtl_pow_scalar(mtl_graph *g, mtl_tensor *a, float p);

mtl_tensor *mtl_neg(mtl_graph *g, mtl_tensor *a);
mtl_tensor *mtl_tanh(mtl_graph *g, mtl_tensor *a);
mtl_tensor *mtl_exp(mtl_graph *g, mtl_tensor *a);
mtl_tensor *mtl_log(mtl_graph *g, mtl_tensor *a);
mtl_tensor *mtl_sigmoid(mtl_graph *g, mtl_tensor *a);
mtl_tensor *mtl_relu(mtl_graph *g, mtl_tensor *a);
/* |a|; the gradient at 0 is 0. */
mtl_tensor *mtl_abs(mtl_graph *g, mtl_tensor *a);
/*
 * min(max(a, lo), hi), with PyTorch's gradient rule: the gradient passes
 * where lo <= a <= hi, bounds included.  Use -INFINITY / INFINITY for a
 * one-sided clamp.
 */
mtl_tensor *mtl_clamp(mtl_graph *g, mtl_tensor *a, float lo, float hi);

/* Sum and mean of all elements: one-element results. */
mtl_tensor *mtl_sum(mtl_graph *g, mtl_tensor *a);
mtl_tensor *mtl_mean(mtl_graph *g, mtl_tensor *a);

/*
 * Element i of a tensor (flat index, 0 <= i < numel), as a one-element
 * tensor.  select and reshape share the operand's values (no copy).
 */
mtl_tensor *mtl_select(mtl_graph *g, mtl_tensor *a, int64_t i);
/* n one-element tensors stacked into a vector of length n. */
mtl_tensor *mtl_stack(mtl_graph *g, int n, mtl_tensor *const *items);
/* The same values with another shape of the same number of elements. */
mtl_tensor *mtl_reshape(mtl_graph *g, mtl_tensor *a, int ndim,
                        const int64_t *shape);

/* Matrix product of a [m, k] and b [k, n]: [m, n] (OpenBLAS on the CPU). */
mtl_tensor *mtl_matmul(mtl_graph *g, mtl_tensor *a, mtl_tensor *b);

#ifdef __cplusplus
}
#endif

#endif /* MTL_TENSOR_H */

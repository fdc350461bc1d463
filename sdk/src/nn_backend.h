/*
 * nn_backend.h - the kernels of the graph-network ops (mtl/nn.h) that a
 * backend provides, reached through the `nn` entry of its mtl_backend table.
 *
 * Internal to libmtl.  Same conventions as backend.h: backend memory,
 * float32 counts, row-major matrices with a leading dimension (ld: elements
 * from one row to the next), and "_backward" entries that ACCUMULATE into
 * gradients, skipping any gradient pointer that is NULL.  Index arrays are
 * int64 values in host memory.
 */
#ifndef MTL_NN_BACKEND_H
#define MTL_NN_BACKEND_H

#include <stdint.h>

typedef struct mtl_nn_backend {
    /* y[i, :] = x[idx[i], :] (idx NULL: x[i, :]), or += with accumulate; n rows, f columns */
    void (*gather_rows)(int64_t n, int64_t f, const float *x, int64_t ldx, const int64_t *idx,
                        float *y, int64_t ldy, int accumulate);
    /* y[idx[i], :] += x[i, :] (idx NULL: y[i, :] += x[i, :]) */
    void (*scatter_add_rows)(int64_t n, int64_t f, const float *x, int64_t ldx, const int64_t *idx,
                             float *y, int64_t ldy);
    /* y[i, :] = s[i] * x[i, :], or += with accumulate */
    void (*scale_rows)(int64_t n, int64_t f, const float *x, const float *s, float *y,
                       int accumulate);
    /* y[i] = <a[i, :], b[i, :]>, or += with accumulate */
    void (*row_dot)(int64_t n, int64_t f, const float *a, const float *b, float *y, int accumulate);
    /* y[i, :] = x[i, :] + b */
    void (*add_bias)(int64_t n, int64_t f, const float *x, const float *b, float *y);
    /* db += sum over rows of dy */
    void (*bias_backward)(int64_t n, int64_t f, const float *dy, float *db);

    /* y[0] = mean((p - t)^2) over n elements */
    void (*mse)(int64_t n, const float *p, const float *t, float *y);
    /* dp += dy[0] 2 (p - t) / n, dt -= the same */
    void (*mse_backward)(int64_t n, const float *p, const float *t, const float *dy, float *dp,
                         float *dt);

    /*
     * Softmax of e within each group of equal idx values (groups in
     * [0, range)); work holds 2 range floats.
     */
    void (*segment_softmax)(int64_t n, const float *e, const int64_t *idx, int64_t range,
                            float *work, float *y);
    /* de += y (dy - sum over the group of y dy); work holds range floats */
    void (*segment_softmax_backward)(int64_t n, const float *y, const float *dy, const int64_t *idx,
                                     int64_t range, float *work, float *de);

    /*
     * The pointwise part of a GRU step (torch.nn.GRU, gates r, z, n): from
     * gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, both [n, 3 h],
     * r = s(gi_r + gh_r), z = s(gi_z + gh_z), n' = tanh(gi_n + r gh_n),
     * h_new = (1 - z) n' + z h.
     */
    void (*gru_combine)(int64_t n, int64_t h, const float *gi, const float *gh, const float *hp,
                        float *h_new);
    void (*gru_combine_backward)(int64_t n, int64_t h, const float *gi, const float *gh,
                                 const float *hp, const float *dh_new, float *dgi, float *dgh,
                                 float *dhp);

    /*
     * The pointwise parts of an LSTM step (torch.nn.LSTM, gates i, f, g, o),
     * from gi, gh [n, 4 h] as for the GRU, a = gi + gh:
     * state: c_new = s(a_f) c + s(a_i) tanh(a_g); output: h_new = s(a_o) tanh(c_new).
     */
    void (*lstm_state)(int64_t n, int64_t h, const float *gi, const float *gh, const float *c,
                       float *c_new);
    void (*lstm_state_backward)(int64_t n, int64_t h, const float *gi, const float *gh,
                                const float *c, const float *dc_new, float *dgi, float *dgh,
                                float *dc);
    void (*lstm_output)(int64_t n, int64_t h, const float *gi, const float *gh, const float *c_new,
                        float *h_new);
    void (*lstm_output_backward)(int64_t n, int64_t h, const float *gi, const float *gh,
                                 const float *c_new, const float *dh_new, float *dgi, float *dgh,
                                 float *dc_new);
} mtl_nn_backend;

/* The CPU kernels (sdk/src/cpu/nn_kernels.c). */
extern const mtl_nn_backend mtl_cpu_nn_backend;

#endif /* MTL_NN_BACKEND_H */

/*
 * plugins/common/linalg.h - dense linear algebra in double for the k x k
 * problems of the method plugins (k is the number of tasks: tens at most).
 *
 * Matrices are row-major n x n arrays.  Compiled into each plugin that uses
 * it; the symbols stay hidden.
 */
#ifndef MTL_PLUGINS_LINALG_H
#define MTL_PLUGINS_LINALG_H

/*
 * Cholesky factorisation A = L L^T in place: the lower triangle of `a`
 * becomes L (the upper triangle is left as it was).  Returns 0, or -1 when
 * A is not numerically positive definite (a pivot <= 0 or not finite).
 */
int linalg_cholesky(double *a, int n);

/* Solves L L^T x = b in place (x overwrites b), with L from linalg_cholesky. */
void linalg_cholesky_solve(const double *l, int n, double *b);

/*
 * Solves A x = b in place by Gaussian elimination with partial pivoting;
 * `a` is destroyed.  Returns 0, or -1 when a pivot's magnitude is at most
 * `pivot_tol` times the largest magnitude in A (numerically singular).
 */
int linalg_lu_solve(double *a, int n, double *b, double pivot_tol);

/* Sum of x_i y_i. */
double linalg_dot(const double *x, const double *y, int n);

/* y = A x for the n x n matrix A. */
void linalg_matvec(const double *a, int n, const double *x, double *y);

#endif /* MTL_PLUGINS_LINALG_H */

/* plugins/common/linalg.c - see linalg.h. */
#include "linalg.h"

#include <math.h>
#include <stddef.h>

int linalg_cholesky(double *a, int n)
{
    for (int j = 0; j < n; j++) {
        double d = a[j * n + j];

        for (int p = 0; p < j; p++)
            d -= a[j * n + p] * a[j * n + p];
        if (!(d > 0.0) || !isfinite(d))
            return -1;
        d = sqrt(d);
        a[j * n + j] = d;

        for (int i = j + 1; i < n; i++) {
            double s = a[i * n + j];
            for (int p = 0; p < j; p++)
                s -= a[i * n + p] * a[j * n + p];
            a[i * n + j] = s / d;
        }
    }
    return 0;
}

void linalg_cholesky_solve(const double *l, int n, double *b)
{
    /* Forward substitution with L, then backward with L^T. */
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int p = 0; p < i; p++)
            s -= l[i * n + p] * b[p];
        b[i] = s / l[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int p = i + 1; p < n; p++)
            s -= l[p * n + i] * b[p];
        b[i] = s / l[i * n + i];
    }
}

int linalg_lu_solve(double *a, int n, double *b, double pivot_tol)
{
    double scale = 0.0;

    for (int i = 0; i < n * n; i++)
        scale = fmax(scale, fabs(a[i]));

    for (int col = 0; col < n; col++) {
        int piv = col;

        for (int i = col + 1; i < n; i++)
            if (fabs(a[i * n + col]) > fabs(a[piv * n + col]))
                piv = i;
        if (!(fabs(a[piv * n + col]) > pivot_tol * scale))
            return -1;

        if (piv != col) {
            for (int p = 0; p < n; p++) {
                double t = a[col * n + p];
                a[col * n + p] = a[piv * n + p];
                a[piv * n + p] = t;
            }
            double t = b[col];
            b[col] = b[piv];
            b[piv] = t;
        }

        for (int i = col + 1; i < n; i++) {
            double f = a[i * n + col] / a[col * n + col];
            for (int p = col; p < n; p++)
                a[i * n + p] -= f * a[col * n + p];
            b[i] -= f * b[col];
        }
    }

    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int p = i + 1; p < n; p++)
            s -= a[i * n + p] * b[p];
        b[i] = s / a[i * n + i];
    }
    return 0;
}

double linalg_dot(const double *x, const double *y, int n)
{
    double s = 0.0;

    for (int i = 0; i < n; i++)
        s += x[i] * y[i];
    return s;
}

void linalg_matvec(const double *a, int n, const double *x, double *y)
{
    for (int i = 0; i < n; i++)
        y[i] = linalg_dot(a + (size_t)i * n, x, n);
}

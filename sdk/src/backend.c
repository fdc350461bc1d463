/*
 * The backend registry.  Only the CPU backend exists in this release; a CUDA
 * build registers its table here (and only here), chosen at run time.
 */
#include "backend.h"

const mtl_backend *mtl_backend_default(void)
{
    return &mtl_cpu_backend;
}

/*
 * The backend registry: the one place that knows which backends this build
 * has.  Only the CPU backend exists in this release.  A CUDA backend adds
 * its table (sdk/src/cuda/, built when CMake sets MTL_HAVE_CUDA) and the
 * choice between the two here; nothing else in the library changes.
 */
#include "backend.h"

const mtl_backend *mtl_backend_default(void)
{
    return &mtl_cpu_backend;
}

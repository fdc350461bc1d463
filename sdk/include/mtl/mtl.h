/* mtl/mtl.h - the whole public SDK of mtl. */
#ifndef MTL_MTL_H
#define MTL_MTL_H

#include "mtl/version.h"
#include "mtl/status.h"
#include "mtl/rng.h"
#include "mtl/tensor.h"
#include "mtl/nn.h"
#include "mtl/conv.h"
#include "mtl/optim.h"
#include "mtl/plugin.h"
#include "mtl/method.h"
#include "mtl/task.h"

#endif /* MTL_MTL_H */

// The C++ side of shaders/include/params.h, with the size checks that keep both in step.
#pragma once
#include "shaders/include/params.h"

namespace attnscope::gpu {
static_assert(sizeof(BlockStatsParams) == 20 * 4);
static_assert(sizeof(StatsMergeParams) == 4 * 4);
static_assert(sizeof(TileReduceParams) == 8 * 4);
static_assert(sizeof(AttnOutputParams) == 20 * 4);
static_assert(sizeof(EmbedParams) == 8 * 4);
static_assert(sizeof(ProjectParams) == 4 * 4);
static_assert(sizeof(FmaPeakParams) == 4 * 4);
static_assert(sizeof(RopeParams) == 8 * 4);
}  // namespace attnscope::gpu

// Push-constant structs shared by C++ and GLSL: one definition, so the two sides can never
// disagree about a field. Only 32-bit scalars, so std430/push-constant layout equals the
// C++ layout; the C++ side static_asserts the sizes (compute/gpu_params.h).
#ifndef ATTNSCOPE_PARAMS_H
#define ATTNSCOPE_PARAMS_H

#ifdef __cplusplus
#include <cstdint>
namespace attnscope::gpu {
using uint = uint32_t;
#endif

// Specialization constant ids: GLSL declares `layout(constant_id = SPEC_...)`, C++ sets them
// by the same names in ComputePipelineDesc::constants.
#define SPEC_LOCAL_SIZE_X 0u   // local_size_x_id: invocations per workgroup along x
#define SPEC_KEYS_PER_TILE 1u  // block_stats.comp, shared-memory path: keys staged per tile
#define SPEC_LANES_PER_ROW 2u  // stats_merge.comp: invocations that share one row's blocks

// Mask kinds (MaskKind in compute/attention_params.h uses the same numbers).
#define MASK_NONE 0u
#define MASK_CAUSAL 1u
#define MASK_WINDOW_CAUSAL 2u
#define MASK_WINDOW_BOTH 3u

// block_stats.comp: per (query row, column block) the max logit and the sum of
// exp(logit - max) over the block's unmasked keys: online softmax in pieces.
struct BlockStatsParams {
  uint rowBegin;    // first query row of this dispatch
  uint rowCount;    // query rows in this dispatch
  uint qSkip;       // floats from the Q binding's start to row rowBegin
  uint kCol0;       // first key present in the K binding
  uint kSkip;       // floats from the K binding's start to key kCol0
  uint colBegin;    // this dispatch sees keys [colBegin, colEnd) only (a chunk of K)
  uint colEnd;
  uint blockFirst;  // workgroup y covers blocks blockFirst + y * blocksPerGroup, ...
  uint blockCount;  // blocks per row: the partials' row stride
  uint partRow0;    // partial row of query i is i - partRow0
  uint accumulate;  // 1: merge with what the partials hold; 0: overwrite
  uint maskKind;
  uint window;
  uint n;           // keys in the whole map
  float logitScale; // scale / temperature; with a soft cap, the scale alone
  uint blockEnd;    // one past the last block of this dispatch
  uint blocksPerGroup;  // blocks one workgroup walks through with its query rows loaded once
  uint queryBegin;  // rows below it were not captured: no keys (see keyRange)
  float softcap;    // C of C tanh(s / C) (SOFTCAP variants only)
  float capScale;   // 1 / temperature, applied after the cap (SOFTCAP variants only)
};

// stats_merge.comp: row max and row sum from a row's partials over all its blocks.
struct StatsMergeParams {
  uint rowCount;
  uint blockCount;
  uint partRow0Offset;  // partial row of the first row
  uint statsOffset;     // stats index of the first row
};

// tile_reduce.comp: texels from partials and row stats, max and mean of p over each texel.
struct TileReduceParams {
  uint texRowFirst;  // first texel row of this dispatch
  uint texRowCount;
  uint texColCount;  // = blocks per row
  uint rowBegin;     // rows [rowBegin, rowEnd) are in the partials and stats now
  uint rowEnd;
  uint partRow0;     // partial row of query i is i - partRow0
  uint statsRow0;    // stats index of query i is i - statsRow0
  uint pad0;
};

// attn_output.comp: O_i = sum_j p_ij v_j for rows of one dispatch, over one key chunk.
struct AttnOutputParams {
  uint rowBegin;
  uint rowCount;
  uint qSkip;
  uint kCol0;
  uint kSkip;
  uint vSkip;
  uint colBegin;
  uint colEnd;
  uint statsRow0;
  uint accumulate;
  uint maskKind;
  uint window;
  uint n;
  float logitScale;  // as in BlockStatsParams
  uint queryBegin;
  float softcap;
  float capScale;
  uint pad0;
  uint pad1;
  uint pad2;
};

// embed.comp: token embedding + sinusoidal positional encoding for rows of a sequence.
struct EmbedParams {
  uint rowBegin;
  uint rowCount;
  uint dModel;
  uint seed;
  uint vocab;       // synthetic tokens are 1..vocab; 0 is the BOS token
  uint bosFirst;    // 1: position 0 holds BOS
  uint peOnly;      // 1: positional encoding alone (no embedding)
  float embScale;
};

// project.comp: Y = X W + b for rows of X.
struct ProjectParams {
  uint rowCount;
  uint dModel;
  uint dOut;
  uint ySkip;  // floats from the Y binding's start to the chunk's first row
};

// rope.comp: rotary position embedding applied in place to rows of Q or K.
struct RopeParams {
  uint rowBegin;    // position of the first row
  uint rowCount;
  uint dp;          // padded row length in floats
  uint pairs;       // rotary pairs (rotary dimensions / 2)
  uint halves;      // 1: pairs (c, c + pairs) as in rotate_half (Llama, NeoX); 0: (2c, 2c + 1) (GPT-J)
  uint xSkip;       // floats from the binding's start to the first row
  uint pad0, pad1;
};

// fma_peak.comp: the device's FP32 FMA rate.
struct FmaPeakParams {
  uint iterations;
  float seed;
  uint pad0;
  uint pad1;
};

#ifdef __cplusplus
}  // namespace attnscope::gpu
#endif
#endif

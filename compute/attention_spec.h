// What attention map to evaluate: size, mask, scale and temperature.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "shaders/include/params.h"

namespace attnscope {

enum class MaskKind : uint32_t {
  None = MASK_NONE,
  Causal = MASK_CAUSAL,
  WindowCausal = MASK_WINDOW_CAUSAL,  // key j for query i when j <= i and i - j < W
  WindowBoth = MASK_WINDOW_BOTH,      // key j for query i when |i - j| < W
};

MaskKind parseMask(const std::string& name, bool hasWindow);
const char* maskName(MaskKind m);

struct AttentionSpec {
  uint32_t n = 0;            // tokens: queries and keys (the map is n x n)
  uint32_t d = 0;            // head dimension
  MaskKind mask = MaskKind::None;
  uint32_t window = 0;       // for the window masks
  std::optional<double> scale;  // default 1/sqrt(d)
  std::optional<double> softcap;  // C: logits become C tanh(s / C) before the temperature
  double temperature = 1.0;
  // Queries exist for rows [queryBegin, n) only (a capture of the last n - queryBegin
  // queries against all n keys); rows below have no keys. Positions stay absolute, so the
  // causal mask of row i is still j <= i.
  uint32_t queryBegin = 0;

  double effectiveScale() const { return scale ? *scale : 1.0 / std::sqrt(double(d)); }
  // What the dot product is multiplied by before the exponential: scale / temperature, or
  // with a soft cap the scale alone (the cap comes between scale and temperature).
  double logitScale() const { return softcap ? effectiveScale() : effectiveScale() / temperature; }
  // The logit of a dot product q.k: s = q.k scale, then C tanh(s / C) when capped, then / T.
  double logit(double dot) const {
    double s = dot * effectiveScale();
    if (softcap) s = *softcap * std::tanh(s / *softcap);
    return s / temperature;
  }
  uint32_t queries() const { return n - queryBegin; }
  bool operator==(const AttentionSpec&) const = default;
  // Throws Error with one clear line when something is off.
  void validate() const;

  // Key range [lo, hi) that query i may attend to (the CPU twin of keyRange in common.glsl).
  void keyRange(uint64_t i, uint64_t& lo, uint64_t& hi) const;
  // Unmasked cells in a rectangle: the work the passes really do.
  uint64_t unmaskedCells(uint64_t rowBegin, uint64_t rowEnd, uint64_t colBegin,
                         uint64_t colEnd) const;
};

// Head dimensions are padded to a multiple of 4 on the device (zeros change no dot product),
// so shaders read vec4s and unroll over a compile-time dimension.
inline uint32_t paddedDim(uint32_t d) { return (d + 3u) / 4u * 4u; }

// Real models use 64 to 256; up to 1024 works (checked against the reference) so the √d
// lesson can show saturation at large d. Past 256 the fast path keeps a query in spilled
// registers: correct, not fast.
constexpr uint32_t kMaxHeadDim = 1024;
// n in [1, kMaxTokens] and d in [1, kMaxHeadDim], or Error with the one-line reason: shared
// by every kind of input.
void validateHeadShape(uint32_t n, uint32_t d);
// Bytes of one online-softmax state on the device: vec4(m, l, t, 0), see common.glsl.
constexpr uint64_t kStatsBytes = 16;
constexpr uint32_t kMaxTokens = 1u << 28;

}  // namespace attnscope

#include "compute/attention_spec.h"

#include <algorithm>

#include "engine/error.h"

namespace attnscope {

MaskKind parseMask(const std::string& name, bool hasWindow) {
  if (name == "none") {
    // A window on no mask could mean a two-sided window or a mistake; never guess.
    if (hasWindow)
      throw Error("--window needs a windowed mask: --mask window (causal sliding window) or --mask window-both "
                  "(two-sided); --mask none has no window");
    return MaskKind::None;
  }
  if (name == "causal") return hasWindow ? MaskKind::WindowCausal : MaskKind::Causal;
  if (name == "window" || name == "sliding") return MaskKind::WindowCausal;
  if (name == "window-both" || name == "two-sided" || name == "local")
    return MaskKind::WindowBoth;
  throw Error("unknown mask '" + name +
              "': use none, causal, window (causal sliding window) or window-both (two-sided)");
}

const char* maskName(MaskKind m) {
  switch (m) {
    case MaskKind::None: return "none";
    case MaskKind::Causal: return "causal";
    case MaskKind::WindowCausal: return "window";
    case MaskKind::WindowBoth: return "window-both";
  }
  return "?";
}

void validateHeadShape(uint32_t n, uint32_t d) {
  if (n == 0) throw Error("the number of tokens must be at least 1 (got 0)");
  if (n > kMaxTokens)
    throw Error("too many tokens: " + std::to_string(n) + " (at most " +
                std::to_string(kMaxTokens) + ")");
  if (d == 0) throw Error("the head dimension must be at least 1 (got 0)");
  if (d > kMaxHeadDim)
    throw Error("head dimension " + std::to_string(d) + " is larger than the supported " +
                std::to_string(kMaxHeadDim));
}

void AttentionSpec::validate() const {
  validateHeadShape(n, d);
  if ((mask == MaskKind::WindowCausal || mask == MaskKind::WindowBoth) && window < 1)
    throw Error("the window must be at least 1 token (got " + std::to_string(window) + ")");
  if (!(temperature > 0.0) || !std::isfinite(temperature))
    throw Error("the temperature must be a positive number (got " + std::to_string(temperature) +
                ")");
  if (scale && (!std::isfinite(*scale) || *scale == 0.0))
    throw Error("the scale must be a finite non-zero number");
  if (softcap && (!std::isfinite(*softcap) || !(*softcap > 0.0) || *softcap > 1e30))
    throw Error("the soft cap must be a positive number (got " + std::to_string(*softcap) + ")");
  if (queryBegin >= n)
    throw Error("the queries start at row " + std::to_string(queryBegin) + " but there are only " +
                std::to_string(n) + " tokens");
  double ls = logitScale();
  if (!std::isfinite(ls) || std::abs(ls) > 1e30 || std::abs(ls) < 1e-30)
    throw Error("scale / temperature = " + std::to_string(ls) + " is out of range");
}

void AttentionSpec::keyRange(uint64_t i, uint64_t& lo, uint64_t& hi) const {
  lo = 0;
  hi = n;
  if (i < queryBegin) {
    hi = 0;
    return;
  }
  switch (mask) {
    case MaskKind::None: break;
    case MaskKind::Causal: hi = std::min<uint64_t>(i + 1, n); break;
    case MaskKind::WindowCausal:
      hi = std::min<uint64_t>(i + 1, n);
      lo = i + 1 > window ? i + 1 - window : 0;
      break;
    case MaskKind::WindowBoth:
      lo = i + 1 > window ? i + 1 - window : 0;
      hi = std::min<uint64_t>(i + window, n);
      break;
  }
}

uint64_t AttentionSpec::unmaskedCells(uint64_t rowBegin, uint64_t rowEnd, uint64_t colBegin,
                                      uint64_t colEnd) const {
  uint64_t total = 0;
  for (uint64_t i = rowBegin; i < rowEnd; ++i) {
    uint64_t lo, hi;
    keyRange(i, lo, hi);
    lo = std::max(lo, colBegin);
    hi = std::min(hi, colEnd);
    if (hi > lo) total += hi - lo;
  }
  return total;
}

}  // namespace attnscope

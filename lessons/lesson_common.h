// Helpers the lessons share (inside lessons/ only).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compute/attention_spec.h"
#include "lessons/lesson.h"
#include "lessons/slide.h"

namespace attnscope::lessons {

AttentionSpec specFor(uint32_t n, uint32_t d, MaskKind mask, std::optional<double> scale, double temperature = 1);
// 1 000 000 with thin spaces between thousands.
std::string groupedNumber(double v);
std::string byteText(double b);
std::vector<double> toDouble(const std::vector<float>& v);
std::vector<std::string> indexLabels(const std::string& prefix, uint32_t n);
// Transposed copy of an [rows][cols] matrix.
std::vector<double> transpose(const std::vector<float>& m, uint32_t rows, uint32_t cols);
// Matrices side by side across the content area, with operators between them.
void row(Slide& s, const std::vector<MatrixView>& ms, const std::vector<std::string>& ops);
// Attention(Q, K, V) = softmax(QK^T / sqrt(d) + M) . V with part `on` highlighted.
std::vector<FormulaPart> attentionFormula(int on);

}  // namespace attnscope::lessons

// Attention output O = P V, sinusoidal positional encodings, and the lesson's worked example.
//
// Tolerances:
//   O = P V               |gpu - ref| <= 2e-5 * max(1, |ref|)
//   positional encoding   |gpu - ref| <= 2e-6 (angles reduced exactly; sin/cos in float32)
//   worked example        the lesson's printed values to two decimals (|x - lesson| < 0.005)
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "compute/attn_output_pass.h"
#include "compute/rope.h"
#include "compute/synthetic.h"
#include "tests/gpu_fixture.h"
#include "shaders/include/hash.h"

namespace attnscope::test {
namespace {

class OutputAndEncoding : public GpuTest {};

TEST_F(OutputAndEncoding, AttentionOutputMatchesReference) {
  Gpu& g = gpu();
  for (uint32_t d : {1u, 3u, 64u, 128u})
    for (MaskKind mask : {MaskKind::None, MaskKind::Causal, MaskKind::WindowCausal}) {
      const uint32_t n = 257;
      ref::Matrix q = ref::randomMatrix(n, d, 1.5, 71 + d), k = ref::randomMatrix(n, d, 1.5, 72 + d);
      ref::Matrix v = ref::randomMatrix(n, d, 1.0, 73 + d);
      HeadData head = upload(g, q, k, &v);
      AttentionSpec spec;
      spec.n = n;
      spec.d = d;
      spec.mask = mask;
      spec.window = 16;
      std::vector<float> o = computeAttentionOutput(*g.ctx, *g.kernels, head, spec, 0, n);
      for (uint32_t i = 0; i < n; ++i) {
        std::vector<double> want = ref::outputRow(q, k, v, spec, i);
        for (uint32_t c = 0; c < d; ++c)
          ASSERT_NEAR(o[size_t(i) * d + c], want[c], 2e-5 * std::max(1.0, std::abs(want[c])))
              << "O[" << i << "][" << c << "] d=" << d << " mask=" << maskName(mask);
      }
    }
}

TEST_F(OutputAndEncoding, AttentionOutputWithSoftCapAndLateQueries) {
  // O = P V where P comes from soft-capped logits, and for a capture of the last queries.
  Gpu& g = gpu();
  const uint32_t n = 300, d = 8;
  ref::Matrix q = ref::randomMatrix(n, d, 3.0, 81), k = ref::randomMatrix(n, d, 3.0, 82);
  ref::Matrix v = ref::randomMatrix(n, d, 1.0, 83);
  HeadData head = upload(g, q, k, &v);
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  spec.mask = MaskKind::Causal;
  spec.scale = 1.0;
  spec.softcap = 4.0;
  spec.temperature = 0.8;
  spec.queryBegin = 120;
  std::vector<float> o = computeAttentionOutput(*g.ctx, *g.kernels, head, spec, 120, n);
  for (uint32_t i = 120; i < n; ++i) {
    std::vector<double> want = ref::outputRow(q, k, v, spec, i);
    for (uint32_t c = 0; c < d; ++c)
      ASSERT_NEAR(o[size_t(i - 120) * d + c], want[c], 2e-5 * std::max(1.0, std::abs(want[c]))) << "O[" << i << "][" << c << "]";
  }
}

TEST_F(OutputAndEncoding, OutputAcrossKeyChunks) {
  Gpu& g = gpu();
  const uint32_t n = 700, d = 8;
  ref::Matrix q = ref::randomMatrix(n, d, 1.5, 81), k = ref::randomMatrix(n, d, 1.5, 82);
  ref::Matrix v = ref::randomMatrix(n, d, 1.0, 83);
  HeadData head = upload(g, q, k, &v);
  head.setKeysPerChunkForTesting(256);
  AttentionSpec spec;
  spec.n = n;
  spec.d = d;
  std::vector<float> o = computeAttentionOutput(*g.ctx, *g.kernels, head, spec, 100, 600);
  for (uint32_t i = 100; i < 600; ++i) {
    std::vector<double> want = ref::outputRow(q, k, v, spec, i);
    for (uint32_t c = 0; c < d; ++c)
      ASSERT_NEAR(o[size_t(i - 100) * d + c], want[c], 2e-5 * std::max(1.0, std::abs(want[c])));
  }
}

TEST_F(OutputAndEncoding, SinusoidalEncodingIsExactAtLargePositions) {
  Gpu& g = gpu();
  for (uint32_t dModel : {2u, 64u, 512u}) {
    for (uint32_t begin : {0u, 12345u, 999000u}) {
      uint32_t end = begin + 200;
      std::vector<float> pe = computePositionalEncoding(*g.ctx, *g.kernels, begin, end, dModel);
      double worst = 0;
      for (uint32_t p = begin; p < end; ++p)
        for (uint32_t c = 0; c < dModel; ++c)
          worst = std::max(worst, std::abs(pe[size_t(p - begin) * dModel + c] -
                                           ref::positionalEncoding(p, c, dModel)));
      EXPECT_LE(worst, 2e-6) << "dModel " << dModel << " positions from " << begin;
    }
  }
}

TEST_F(OutputAndEncoding, SyntheticInputsMatchTheirDefinition) {
  // Q = (E + PE) W_q + b_q computed on the CPU from the same weights and hashes.
  Gpu& g = gpu();
  SyntheticSpec s;
  s.n = 300;
  s.d = 20;
  s.dModel = 32;
  s.heads = 4;
  s.seed = 7;
  for (Preset p : {Preset::Local, Preset::Sink, Preset::Mixed}) {
    s.preset = p;
    s.weightTexels = p != Preset::Sink;  // W through texels, and once through storage
    s.head = 2;
    HeadData head = generateHead(*g.ctx, *g.kernels, s);
    HeadWeights w = makeHeadWeights(s, s.head);
    std::vector<float> q = head.download(head.q()), k = head.download(head.k());
    for (uint32_t i : {0u, 1u, 150u, 299u}) {
      std::vector<double> x(s.dModel);
      uint32_t tok = gpu::syntheticToken(s.seed, i, s.vocab, 1);
      uint32_t th = gpu::hash2(s.seed, tok);
      for (uint32_t m = 0; m < s.dModel; ++m)
        x[m] = ref::positionalEncoding(i, m, s.dModel) +
               double(embeddingScale()) * gpu::hashUnit(gpu::hash2(th, m));
      for (uint32_t c = 0; c < s.d; ++c) {
        double wantQ = w.bq[c], wantK = w.bk[c];
        for (uint32_t m = 0; m < s.dModel; ++m) {
          wantQ += x[m] * w.wq[size_t(m) * w.dp + c];
          wantK += x[m] * w.wk[size_t(m) * w.dp + c];
        }
        ASSERT_NEAR(q[size_t(i) * s.d + c], wantQ, 1e-4 * std::max(1.0, std::abs(wantQ)));
        ASSERT_NEAR(k[size_t(i) * s.d + c], wantK, 1e-4 * std::max(1.0, std::abs(wantK)));
      }
    }
  }
}

TEST_F(OutputAndEncoding, PresetsShowTheirPatterns) {
  Gpu& g = gpu();
  SyntheticSpec s;
  s.n = 512;
  s.d = 64;
  AttentionSpec spec;
  spec.n = s.n;
  spec.d = s.d;
  spec.mask = MaskKind::Causal;
  auto rowOf = [&](Preset p, uint32_t i) {
    s.preset = p;
    HeadData head = generateHead(*g.ctx, *g.kernels, s);
    MapResult r = evaluate(g, head, spec, {i, i + 1, 0, s.n}, s.n, 1);
    std::vector<float> row(s.n);
    for (uint32_t j = 0; j < s.n; ++j) row[j] = r.at(j, 0, kChannelMean);
    return row;
  };
  const uint32_t i = 400;
  std::vector<float> sink = rowOf(Preset::Sink, i);
  EXPECT_GT(sink[0], 0.5f) << "the sink head puts most weight on the first token";
  std::vector<float> local = rowOf(Preset::Local, i);
  float nearMass = 0;
  for (uint32_t j = i - 8; j <= i; ++j) nearMass += local[j];
  EXPECT_GT(nearMass, 0.5f) << "the local head puts most weight on the last few tokens";
  EXPECT_GT(local[i - 1], local[i - 100]);
  std::vector<float> broad = rowOf(Preset::Broad, i);
  float top = *std::max_element(broad.begin(), broad.end());
  EXPECT_LT(top, 10.0f / (i + 1)) << "the broad head spreads its weight";
}

TEST_F(OutputAndEncoding, HundredThousandTokenRowsMatchReference) {
  // A real-size map: rows where the overview shows a sharp horizontal change, aggregated
  // over all 100 000 keys, against the reference built from the very Q and K on the GPU.
  Gpu& g = gpu();
  SyntheticSpec s;
  s.n = 100000;
  s.d = 64;
  s.withV = false;
  HeadData head = generateHead(*g.ctx, *g.kernels, s);
  ref::Matrix q{s.n, s.d, head.download(head.q())}, k{s.n, s.d, head.download(head.k())};
  AttentionSpec spec;
  spec.n = s.n;
  spec.d = s.d;
  spec.mask = MaskKind::Causal;
  MapRegion region{23640, 23760, 0, s.n};
  MapResult r = evaluate(g, head, spec, region, 500, 12);
  ref::Aggregate a = ref::aggregate(q, k, spec, r.rowBounds, r.colBounds);
  for (size_t t = 0; t < a.max.size(); ++t) {
    ASSERT_NEAR(r.texels[t * 4 + kChannelMax], a.max[t], 2e-5 * a.max[t] + 1e-9) << "max, texel " << t;
    ASSERT_NEAR(r.texels[t * 4 + kChannelMean], a.mean[t], 2e-5 * a.mean[t] + 1e-9) << "mean, texel " << t;
  }
}

TEST_F(OutputAndEncoding, RopeMatchesARotationInDoublePrecision) {
  // Tolerance: |gpu - ref| <= 3e-6 * max(1, |x|) (angles reduced exactly; sin/cos in float32).
  Gpu& g = gpu();
  for (bool halves : {true, false})
    for (auto [n, d, dims] : {std::tuple{4099u, 4u, 4u}, std::tuple{300u, 64u, 64u}, std::tuple{300u, 10u, 6u}}) {
      ref::Matrix q = ref::randomMatrix(n, d, 1.0, 161 + d), k = ref::randomMatrix(n, d, 1.0, 162 + d);
      HeadData head = upload(g, q, k);
      applyRope(*g.ctx, *g.kernels, head, {10000.0, dims, halves});
      std::vector<float> qr = head.download(head.q()), kr = head.download(head.k());
      uint32_t pairs = dims / 2;
      for (const auto& [in, out] : {std::pair{&q, &qr}, std::pair{&k, &kr}})
        for (uint32_t i = 0; i < n; ++i)
          for (uint32_t c = 0; c < d; ++c) {
            double want = in->at(i, c);
            if (c < dims) {
              uint32_t p = halves ? c % pairs : c / 2;
              uint32_t a = halves ? p : 2 * p, b = halves ? p + pairs : 2 * p + 1;
              long double angle = (long double)i * std::pow(10000.0L, -2.0L * p / dims);
              double cs = double(std::cos(angle)), sn = double(std::sin(angle));
              double va = in->at(i, a), vb = in->at(i, b);
              want = c == a ? va * cs - vb * sn : va * sn + vb * cs;
            }
            ASSERT_NEAR((*out)[size_t(i) * d + c], want, 3e-6 * std::max(1.0, std::abs(want)))
                << "row " << i << " dim " << c << " halves " << halves << " d " << d;
          }
    }
}

TEST_F(OutputAndEncoding, ThinkingMachinesWorkedExample) {
  // ../shared/seeds/004: tokens "Thinking", "Machines", d_k = 3, no mask.
  Gpu& g = gpu();
  ref::Matrix q{2, 3, {0.90f, 0.20f, 0.50f, 0.30f, 0.80f, 0.40f}};
  ref::Matrix k{2, 3, {0.70f, 0.40f, 0.60f, 0.20f, 0.90f, 0.30f}};
  ref::Matrix v{2, 3, {0.50f, 0.80f, 0.20f, 0.70f, 0.10f, 0.90f}};
  HeadData head = upload(g, q, k, &v);
  AttentionSpec spec;
  spec.n = 2;
  spec.d = 3;
  MapResult r = evaluate(g, head, spec, {0, 2, 0, 2}, 2, 2);
  const double scores[2][2] = {{0.58, 0.29}, {0.44, 0.52}};
  const double weights[2][2] = {{0.57, 0.43}, {0.48, 0.52}};
  const double outputs[2][3] = {{0.59, 0.50, 0.50}, {0.60, 0.44, 0.56}};
  for (uint32_t i = 0; i < 2; ++i)
    for (uint32_t j = 0; j < 2; ++j) {
      EXPECT_NEAR(r.at(j, i, kChannelLogit), scores[i][j], 0.005) << "score " << i << "," << j;
      EXPECT_NEAR(r.at(j, i, kChannelMean), weights[i][j], 0.005) << "weight " << i << "," << j;
    }
  std::vector<float> o = computeAttentionOutput(*g.ctx, *g.kernels, head, spec, 0, 2);
  for (uint32_t i = 0; i < 2; ++i)
    for (uint32_t c = 0; c < 3; ++c) EXPECT_NEAR(o[i * 3 + c], outputs[i][c], 0.005) << "output " << i << "," << c;
}

}  // namespace
}  // namespace attnscope::test

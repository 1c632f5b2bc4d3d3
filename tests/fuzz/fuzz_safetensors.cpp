// libFuzzer target: any bytes as a .safetensors file: the header parser, every tensor read
// whole and streamed a head at a time in both layouts, the layer finder, and the capture
// metadata (export_qk's JSON under __metadata__["attnscope"]) with the attention it implies.
#include <memory>
#include <vector>

#include "compute/capture_metadata.h"
#include "compute/head_source.h"
#include "compute/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attnscope;
  fuzz::MemFile mem(data, size);
  fuzz::expectOnlyErrors([&] {
    auto file = std::make_shared<const SafetensorsFile>(mem.path());
    findLayerTensors(file->tensors());
    fuzz::expectOnlyErrors([&] {
      if (auto meta = readCaptureMetadata(*file))
        for (const LayerMetadata& l : meta->layers)
          fuzz::expectOnlyErrors([&] { resolveAttention({}, &l, uint32_t(meta->tokens), l.headDim, uint32_t(meta->queryBegin)); });
    });
    for (const TensorInfo& t : file->tensors()) {
      fuzz::expectOnlyErrors([&] { file->read(t.name); });
      for (const char* layout : {"hnd", "nhd"})
        fuzz::expectOnlyErrors([&] {
          HeadSource s = HeadSource::fromTensor(file, t.name, "Q", layout);
          std::vector<float> rows(s.rows() * s.cols());
          for (uint32_t h = 0; h < s.heads() && h < 64; ++h) {
            s.selectHead(h);
            s.readRows(0, s.rows(), rows.data(), s.cols());
          }
        });
    }
  });
  return 0;
}

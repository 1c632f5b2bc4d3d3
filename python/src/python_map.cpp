#include "python/src/python_map.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include <unistd.h>

#include "compute/attn_output_pass.h"
#include "compute/kernels.h"
#include "compute/qk_sources.h"
#include "compute/row_stats_pass.h"
#include "compute/rope.h"
#include "compute/tokens.h"
#include "engine/commands.h"
#include "engine/error.h"
#include "viz/figure_renderer.h"
#include "viz/map_figure.h"
#include "viz/viewer.h"

namespace attnscope::python {

namespace {

ContextOptions contextOptions(const std::string& device) {
  ContextOptions o;
  o.device = device;
  o.validate = validationRequestedByEnvironment();
  return o;
}

std::string gib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f GiB", bytes / double(1ull << 30));
  return b;
}

HostMatrix readSource(const HeadSource& s, uint64_t rows, uint32_t firstRow) {
  HostMatrix m;
  m.n = uint32_t(rows);
  m.d = uint32_t(s.cols());
  m.values.assign(size_t(rows) * m.d, 0.0f);
  s.readRows(0, s.rows(), m.values.data() + size_t(firstRow) * m.d, m.d);
  return m;
}

// Row statistics of every row in pieces sized to take about `kPieceSeconds` each, so that
// Ctrl-C is seen within a piece on any device: the first piece is small, and each next one
// is sized from the device's measured rate (cells per second) and the mask's work per row.
// Bigger pieces keep enough rows per dispatch that the keys need not be split and merged.
constexpr double kPieceSeconds = 0.25;

void rowStatsInPieces(Context& ctx, Kernels& kernels, const HeadData& head, const AttentionSpec& spec, bool entropy,
                      const Buffer& out, const Interrupt& interrupt) {
  double perRow = 2.0 * head.dp() * double(spec.n);
  uint32_t rows = uint32_t(std::clamp(kernels.flopsPerStrip() / perRow, 1.0, double(spec.queries())));
  std::unique_ptr<RowStatsPass> pass;
  uint32_t passRows = 0;
  CommandStream stream(ctx);
  for (uint32_t r0 = spec.queryBegin; r0 < spec.n;) {
    uint32_t r1 = uint32_t(std::min<uint64_t>(spec.n, uint64_t(r0) + rows));
    if (!pass || r1 - r0 > passRows || r1 - r0 < passRows / 2) {
      passRows = r1 - r0;
      pass = std::make_unique<RowStatsPass>(ctx, kernels, spec.n, passRows, head.dp(), entropy);
    }
    auto t0 = std::chrono::steady_clock::now();
    Recording rec = stream.begin();
    pass->record(rec, head, spec, r0, r1, out, 0);
    stream.submitAndWait();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (interrupt) interrupt();
    double cellsPerSecond = double(std::max<uint64_t>(1, spec.unmaskedCells(r0, r1, 0, spec.n))) / std::max(secs, 1e-4);
    r0 = r1;
    // Rows from r0 on whose cells take about kPieceSeconds (at most 4x the last piece).
    double budget = cellsPerSecond * kPieceSeconds;
    uint64_t lo = r0, hi = std::min<uint64_t>(spec.n, r0 + uint64_t(rows) * 4);
    while (hi - lo > 1) {
      uint64_t mid = (lo + hi) / 2;
      if (double(spec.unmaskedCells(r0, mid, 0, spec.n)) <= budget) lo = mid; else hi = mid;
    }
    rows = uint32_t(std::max<uint64_t>(1, lo - r0));
  }
}

}  // namespace

Engine::Engine(const std::string& device) : selector_(device), session_(contextOptions(device)) {}

Engine::~Engine() { renderer_.reset(); }  // before the context it was made on

FigureRenderer& Engine::pngRenderer() {
  if (!renderer_)
    renderer_ = std::make_unique<FigureRenderer>(*session_.ctx, *session_.compiler, VK_FORMAT_R8G8B8A8_UNORM,
                                                 VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL);
  return *renderer_;
}

std::vector<DeviceListing> listDevices(const std::string& device) {
  Context ctx(contextOptions(device));
  std::vector<DeviceListing> out;
  for (const auto& d : ctx.allDevices())
    out.push_back({d.index, d.name, deviceTypeName(d.type),
                   std::to_string(VK_API_VERSION_MAJOR(d.apiVersion)) + "." +
                       std::to_string(VK_API_VERSION_MINOR(d.apiVersion)),
                   d.index == ctx.chosenIndex()});
  return out;
}

static AttentionRequest requestOf(const AttentionArgs& a) {
  AttentionRequest r;
  r.mask = a.mask;
  r.window = a.window;
  r.scale = a.scale;
  r.softcap = a.softcap;
  if (a.temperature) r.temperature = *a.temperature;
  r.overrideMetadata = a.overrideMetadata;
  return r;
}

ResolvedAttention resolveForArrays(const AttentionArgs& a, uint32_t n, uint32_t d) {
  ResolvedAttention r = resolveAttention(requestOf(a), nullptr, n, d, 0);
  r.spec.validate();
  return r;
}

MapInputs loadCapture(const std::string& path, std::optional<uint32_t> layer, uint32_t head,
                      const AttentionArgs& args, const std::string& tokensPath) {
  namespace fs = std::filesystem;
  std::string tokenFile = tokensPath;
  if (tokenFile.empty()) {
    // tools/export_qk.py writes OUT.tokens.json beside OUT.safetensors.
    fs::path p(path);
    fs::path sibling = p.parent_path() / (p.stem().string() + ".tokens.json");
    std::error_code ec;
    if (fs::exists(sibling, ec)) tokenFile = sibling.string();
  }
  std::vector<std::string> rawTokens;
  if (!tokenFile.empty()) rawTokens = readTokens(tokenFile);
  QKRequest req;
  req.qkvPath = path;
  req.layer = layer;
  req.head = head;
  req.overrideMetadata = args.overrideMetadata;
  if (!rawTokens.empty()) req.tokenCount = rawTokens.size();
  QKSources src = openQK(req, false);
  ResolvedAttention att = resolveAttention(requestOf(args), src.layerMetadata(), uint32_t(src.n()),
                                           uint32_t(src.d()), src.queryBegin);
  att.spec.validate();
  MapInputs in;
  in.attention = att;
  in.description = src.description + (src.heads > 1 ? ", head " + std::to_string(head) : "");
  if (!tokenFile.empty()) {
    checkTokenCount(rawTokens, src.n(), tokenFile);
    for (const std::string& t : rawTokens) in.tokens.push_back(visibleToken(t));
  }
  in.q = readSource(src.q, src.n(), src.queryBegin);  // rows below queryBegin stay zero: they have no keys
  in.k = readSource(src.k, src.n(), 0);
  if (src.v) in.v = readSource(*src.v, src.n(), 0);
  return in;
}

void checkFits(Engine& engine, uint32_t n, uint32_t d, bool withV) {
  Context& ctx = engine.ctx();
  double device = double(n) * paddedDim(d) * 4 * (withV ? 3 : 2) + double(n) * kStatsBytes;
  uint64_t budget = ctx.deviceLocalBudget();
  std::string what = std::string(withV ? "Q, K and V" : "Q and K") + " of " + std::to_string(n) + " tokens (d = " +
                     std::to_string(d) + ")";
  if (budget && device > 0.9 * double(budget))
    throw Error(what + " need " + gib(device) + " on " + ctx.caps().name + ", which has " + gib(double(budget)) +
                " free: use fewer tokens, or a device with more memory (attnscope.devices())");
  // The Map keeps a float32 copy on the host as well (the viewer uploads it again).
  double host = double(n) * d * 4 * (withV ? 3 : 2);
  long pages = sysconf(_SC_AVPHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages > 0 && pageSize > 0 && host > 0.8 * double(pages) * double(pageSize))
    throw Error(what + " need " + gib(host) + " of host memory as float32, and " + gib(double(pages) * pageSize) +
                " is free: use fewer tokens");
}

MapCore::MapCore(std::shared_ptr<Engine> engine, MapInputs inputs) : engine_(std::move(engine)), in_(std::move(inputs)) {
  const AttentionSpec& sp = spec();
  Context& ctx = engine_->ctx();
  checkFits(*engine_, sp.n, sp.d, hasV());
  std::lock_guard lock(engine_->mutex);
  head_ = HeadData::fromHost(ctx, sp.n, sp.d, in_.q.values.data(), in_.k.values.data(),
                             in_.v ? in_.v->values.data() : nullptr);
  const ResolvedAttention& a = in_.attention;
  if (a.rope) applyRope(ctx, engine_->kernels(), head_, {a.ropeBase, a.ropeDims, a.ropeHalves});
  if (!engine_->kernels().hasChoice(head_.dp())) engine_->session().prepareKernels(head_.dp());
}

MapCore::~MapCore() = default;

void MapCore::runJob(MapJob& job, const Interrupt& interrupt) {
  CommandStream stream(engine_->ctx());
  while (!job.done()) {
    Recording rec = stream.begin();
    job.recordNext(rec);
    stream.submitAndWait();
    if (interrupt) interrupt();
  }
}

Buffer& MapCore::wholeRowStats(const Interrupt& interrupt) {
  if (rowStatsReady_) return rowStats_;
  const AttentionSpec& sp = spec();
  Context& ctx = engine_->ctx();
  Kernels& kernels = engine_->kernels();
  if (!rowStats_)
    rowStats_ = Buffer(ctx, uint64_t(sp.n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal,
                       "python row stats");
  rowStatsInPieces(ctx, kernels, head_, sp, true, rowStats_, interrupt);
  rowStatsReady_ = true;
  return rowStats_;
}

std::vector<float> MapCore::cells(const MapRegion& region, bool logits, const Interrupt& interrupt) {
  validateRegion(region, spec().n);
  std::lock_guard lock(engine_->mutex);
  Buffer& stats = wholeRowStats(interrupt);
  std::vector<float> out(size_t(region.rows()) * region.cols());
  // One cell per texel, in tiles that keep the image small (1024^2 x 16 bytes = 16 MiB).
  const uint64_t tile = 1024;
  for (uint64_t r0 = region.rowBegin; r0 < region.rowEnd; r0 += tile)
    for (uint64_t c0 = region.colBegin; c0 < region.colEnd; c0 += tile) {
      MapRegion t{r0, std::min(r0 + tile, region.rowEnd), c0, std::min(c0 + tile, region.colEnd)};
      MapJobOptions opts;
      opts.rowStats = &stats;
      opts.rowStatsReady = true;
      MapJob job(engine_->ctx(), engine_->kernels(), head_, spec(), t, uint32_t(t.cols()), uint32_t(t.rows()), opts);
      runJob(job, interrupt);
      std::vector<float> texels = readbackImage(engine_->ctx(), job.image());
      for (uint64_t y = 0; y < t.rows(); ++y) {
        float* row = &out[size_t(t.rowBegin - region.rowBegin + y) * region.cols() + (t.colBegin - region.colBegin)];
        for (uint64_t x = 0; x < t.cols(); ++x) {
          row[x] = cellValue(&texels[(y * t.cols() + x) * 4], logits);
        }
      }
    }
  return out;
}

RowStatistics MapCore::rowStatistics(const Interrupt& interrupt) {
  std::lock_guard lock(engine_->mutex);
  const AttentionSpec& sp = spec();
  Buffer& stats = wholeRowStats(interrupt);
  std::vector<float> raw(size_t(sp.n) * 4);
  stats.download(raw.data(), raw.size() * 4);
  RowStatistics out;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out.maxLogit.assign(sp.n, nan);
  out.logSumExp.assign(sp.n, nan);
  out.entropy.assign(sp.n, nan);
  for (uint32_t i = sp.queryBegin; i < sp.n; ++i) {
    double m = raw[size_t(i) * 4], l = raw[size_t(i) * 4 + 1], t = raw[size_t(i) * 4 + 2];
    if (!(l > 0)) continue;  // no keys
    out.maxLogit[i] = m;
    out.logSumExp[i] = m + std::log(l);
    out.entropy[i] = std::max(0.0, std::log(l) - t / l);
  }
  return out;
}

std::vector<float> MapCore::output(uint32_t r0, uint32_t r1, const Interrupt& interrupt) {
  if (!hasV()) throw Error("this map has no V: give v= to attnscope.Map (or a capture with V) to compute O = PV");
  const AttentionSpec& sp = spec();
  if (!(r0 < r1 && r1 <= sp.n))
    throw Error("rows " + std::to_string(r0) + ":" + std::to_string(r1) + " are not inside the map's " +
                std::to_string(sp.n) + " rows");
  if (r0 < sp.queryBegin)
    throw Error("rows start before the first captured query (position " + std::to_string(sp.queryBegin) + ")");
  std::lock_guard lock(engine_->mutex);
  std::vector<float> out(size_t(r1 - r0) * sp.d);
  double perRow = 4.0 * head_.dp() * double(sp.n);  // statistics, then P V
  uint32_t rows = uint32_t(std::clamp(engine_->kernels().flopsPerStrip() / perRow, 1.0, double(r1 - r0)));
  for (uint32_t a = r0; a < r1; a += rows) {
    uint32_t b = std::min(r1, a + rows);
    std::vector<float> o = computeAttentionOutput(engine_->ctx(), engine_->kernels(), head_, sp, a, b);
    std::copy(o.begin(), o.end(), out.begin() + size_t(a - r0) * sp.d);
    if (interrupt) interrupt();
  }
  return out;
}

std::vector<double> MapCore::received(const Interrupt& interrupt) {
  std::lock_guard lock(engine_->mutex);
  const AttentionSpec& sp = spec();
  Buffer& stats = wholeRowStats(interrupt);
  if (!sp.softcap) return receivedByTransposedHead(stats, interrupt);
  // With a soft cap the logit is not linear in q.k, so the transposed head does not apply:
  // blocks of keys, each evaluated as texels of every query row in up to 64 bands. A texel's
  // mean times the cells it covers is the sum of its p_ij (masked cells count 0), and the
  // bands add up in double. Exact, but one key per texel column runs far below the kernel's
  // best rate.
  std::vector<double> out(sp.n, 0.0);
  const uint32_t keysPerJob = 2048, bands = 64;
  for (uint32_t c0 = 0; c0 < sp.n; c0 += keysPerJob) {
    MapRegion t{sp.queryBegin, sp.n, c0, std::min(sp.n, c0 + keysPerJob)};
    MapJobOptions opts;
    opts.rowStats = &stats;
    opts.rowStatsReady = true;
    MapJob job(engine_->ctx(), engine_->kernels(), head_, sp, t, uint32_t(t.cols()),
               uint32_t(std::min<uint64_t>(bands, t.rows())), opts);
    runJob(job, interrupt);
    std::vector<float> texels = readbackImage(engine_->ctx(), job.image());
    const auto& rb = job.rowBounds();
    const auto& cb = job.colBounds();
    for (uint32_t y = 0; y + 1 < rb.size(); ++y)
      for (uint32_t x = 0; x + 1 < cb.size(); ++x) {
        double cellsCovered = double(rb[y + 1] - rb[y]) * double(cb[x + 1] - cb[x]);
        out[cb[x]] += double(texels[(size_t(y) * job.width() + x) * 4 + kChannelMean]) * cellsCovered;
      }
  }
  return out;
}

std::vector<double> MapCore::receivedByTransposedHead(Buffer& stats, const Interrupt& interrupt) {
  // received_j = sum_i exp(s_ij - lse_i), and s_ij - lse_i = c (k_j . q_i + b_i) with
  // c = scale / T and b_i = -lse_i / c: the row statistics of a head whose queries are the
  // keys and whose keys are the queries, each given one more dimension (1 on the key side,
  // b_i on the query side), yield received_j = exp(m'_j) l'_j in one pass at the kernel's
  // best rate. Indices are reversed (x -> n - 1 - x) so that "query i sees key j when
  // j <= i" stays a causal mask; windows keep their width.
  const AttentionSpec& sp = spec();
  Context& ctx = engine_->ctx();
  const uint32_t n = sp.n, d = sp.d, d2 = d + 1;
  std::vector<float> raw(size_t(n) * 4);
  stats.download(raw.data(), raw.size() * 4);
  const double c = sp.logitScale();
  std::vector<float> q = head_.download(head_.q()), k = head_.download(head_.k());  // rotated when RoPE was applied
  std::vector<float> qt(size_t(n) * d2), kt(size_t(n) * d2);
  for (uint32_t x = 0; x < n; ++x) {
    uint32_t r = n - 1 - x;
    std::copy_n(&k[size_t(r) * d], d, &qt[size_t(x) * d2]);
    qt[size_t(x) * d2 + d] = 1.0f;
    std::copy_n(&q[size_t(r) * d], d, &kt[size_t(x) * d2]);
    double m = raw[size_t(r) * 4], l = raw[size_t(r) * 4 + 1];
    // Queries a capture does not hold (and any row without keys) give nothing: a bias that
    // makes every exp underflow to 0.
    double lse = r >= sp.queryBegin && l > 0 ? m + std::log(l) : 1e4;
    kt[size_t(x) * d2 + d] = float(-lse / c);
  }
  q = {};
  k = {};
  HeadData transposed = HeadData::fromHost(ctx, n, d2, qt.data(), kt.data(), nullptr);
  qt = {};
  kt = {};
  AttentionSpec st;
  st.n = n;
  st.d = d2;
  st.mask = sp.mask;
  st.window = sp.window;
  st.scale = c;
  Buffer out(ctx, uint64_t(n) * kStatsBytes, VK_BUFFER_USAGE_STORAGE_BUFFER_BIT, MemoryUse::DeviceLocal,
             "python received stats");
  rowStatsInPieces(ctx, engine_->kernels(), transposed, st, false, out, interrupt);
  std::vector<float> tr(size_t(n) * 4);
  out.download(tr.data(), tr.size() * 4);
  std::vector<double> received(n);
  for (uint32_t x = 0; x < n; ++x) {
    double m = tr[size_t(x) * 4], l = tr[size_t(x) * 4 + 1];
    received[n - 1 - x] = l > 0 ? std::exp(m) * l : 0.0;
  }
  return received;
}

std::vector<uint8_t> MapCore::image(const MapRegion& region, const HeatmapStyle& style, uint32_t width,
                                    uint32_t height, const Interrupt& interrupt) {
  validateRegion(region, spec().n);
  if (region.rowBegin < spec().queryBegin)
    throw Error("rows start before the first captured query (position " + std::to_string(spec().queryBegin) + ")");
  std::lock_guard lock(engine_->mutex);
  // The same job as `attnscope render` (its own row statistics, the plot's texels), so the
  // pixels are the command line's.
  FigureLayout layout = layoutFigure(width, height);
  MapJob job(engine_->ctx(), engine_->kernels(), head_, spec(), region, uint32_t(layout.plot.w), uint32_t(layout.plot.h));
  runJob(job, interrupt);
  std::vector<float> texels = readbackImage(engine_->ctx(), job.image());
  FigureSpec fig = mapFigureSpec(spec(), region, style, in_.description, &in_.tokens, job.width(), job.height(), width,
                                 height);
  return renderFigureRgba(engine_->ctx(), engine_->pngRenderer(), fig, job.image(), texels);
}

HeadLoader MapCore::hostHeadLoader() const {
  const MapInputs& in = in_;
  return [&in](Context& ctx, Kernels& kernels, uint32_t, uint32_t) {
    LoadedHead h{HeadData::fromHost(ctx, in.q.n, in.q.d, in.q.values.data(), in.k.values.data(), nullptr),
                 std::nullopt};
    const ResolvedAttention& a = in.attention;
    if (a.rope) applyRope(ctx, kernels, h.head, {a.ropeBase, a.ropeDims, a.ropeHalves});
    return h;
  };
}

void MapCore::view(const HeatmapStyle& style, uint32_t width, uint32_t height, const std::string& screenshot,
                   const std::string& script) {
  ViewerOptions o;
  o.style = style;
  o.width = width;
  o.height = height;
  o.screenshot = screenshot;
  o.script = script;
  o.title = "attention  " + in_.description;
  o.tokens = in_.tokens;
  // The viewer has a device context of its own (with a swapchain).
  int rc = runViewer(contextOptions(engine_->selector()), spec(), o, hostHeadLoader());
  if (rc != 0) throw Error("the viewer stopped with code " + std::to_string(rc));
}

}  // namespace attnscope::python

// attnscope serve: tiles over HTTP against the headless tile pass and the double reference,
// the access token, a corpus of hostile requests, cancellation and parameter changes.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "serve/http_server.h"
#include "tests/gpu_fixture.h"

namespace attnscope::test {
namespace {

using json = nlohmann::json;

struct Served {
  std::unique_ptr<TileService> service;
  std::unique_ptr<HttpServer> http;
  std::thread thread;
  int port = 0;
  std::string token = "0123456789abcdef0123456789abcdef";
  ~Served() {
    if (http) http->stop();
    if (thread.joinable()) thread.join();
    http.reset();
    service.reset();
  }
  httplib::Result get(const std::string& path) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(300, 0);
    return c.Get((path + (path.find('?') == std::string::npos ? "?" : "&") + "token=" + token).c_str());
  }
};

std::unique_ptr<Served> serveWith(TileServiceOptions o);

std::unique_ptr<Served> serve(const ref::Matrix& q, const ref::Matrix& k, const AttentionSpec& spec) {
  TileServiceOptions o;
  o.device.validate = true;
  o.spec = spec;
  o.heads = 2;
  o.loadHead = [&q, &k](Context& ctx, Kernels&, uint32_t, uint32_t head) {
    // Head 1 is the same head with Q and K swapped: a different map of the same size.
    const ref::Matrix& a = head == 0 ? q : k;
    const ref::Matrix& b = head == 0 ? k : q;
    return LoadedHead{HeadData::fromHost(ctx, a.rows, a.cols, a.v.data(), b.v.data(), nullptr), std::nullopt};
  };
  return serveWith(std::move(o));
}

std::unique_ptr<Served> serveWith(TileServiceOptions o) {
  auto s = std::make_unique<Served>();
  s->service = std::make_unique<TileService>(o);
  s->service->waitUntilStarted();
  ServeOptions h;
  h.port = 0;
  h.token = s->token;
  h.quiet = true;
  s->http = std::make_unique<HttpServer>(*s->service, h);
  s->port = s->http->bind();
  s->thread = std::thread([p = s->http.get()] { p->listen(); });
  return s;
}

struct DecodedTile {
  uint32_t w = 0, h = 0;
  uint64_t col0 = 0, row0 = 0, per = 0;
  std::vector<float> values;
};

DecodedTile decode(const httplib::Result& r) {
  DecodedTile t;
  EXPECT_TRUE(r) << "no response";
  if (!r) return t;
  EXPECT_EQ(r->status, 200) << r->body;
  std::istringstream hdr(r->get_header_value("X-Tile"));
  hdr >> t.w >> t.h >> t.col0 >> t.row0 >> t.per;
  EXPECT_EQ(r->body.size(), size_t(t.w) * t.h * 3 * 4);
  t.values.resize(r->body.size() / 4);
  std::memcpy(t.values.data(), r->body.data(), t.values.size() * 4);
  return t;
}

// The same cells computed headless, as `render`/`export` compute them: a MapJob over the
// tile's region with its own row statistics.
MapResult headless(const HeadData& head, const AttentionSpec& spec, const TileKey& key) {
  MapJobOptions o;
  o.cellsPerTexel = 1u << key.level;
  MapJob job(*gpu().ctx, *gpu().kernels, head, spec, tileRegion(key, spec.n), 0, 0, o);
  runToCompletion(gpu(), job);
  return {job.width(), job.height(), job.rowBounds(), job.colBounds(), readbackImage(*gpu().ctx, job.image())};
}

// Tile texels against the headless pass: the same kernels on the same cells. The server's
// row statistics come from its whole-map sweep once that is done, the headless pass makes
// its own with other key splits, so p may differ by a few float32 roundings of the logits:
// 1e-5 relative for p, 1e-5 for logits.
void expectSameAsHeadless(const DecodedTile& t, const MapResult& m, const TileKey& key) {
  ASSERT_EQ(t.w, m.width);
  ASSERT_EQ(t.h, m.height);
  for (uint32_t y = 0; y < t.h; ++y)
    for (uint32_t x = 0; x < t.w; ++x)
      for (int c = 0; c < 3; ++c) {
        float a = t.values[(size_t(y) * t.w + x) * 3 + c], b = m.at(x, y, c);
        float tol = c == 2 ? 1e-5f * std::max(1.0f, std::fabs(b)) : 1e-5f * std::fabs(b) + 1e-9f;
        ASSERT_NEAR(a, b, tol) << "level " << key.level << " tile " << key.tx << "," << key.ty << " texel " << x
                               << "," << y << " channel " << c;
      }
}

class Serve : public GpuTest {};

TEST_F(Serve, TilesEqualTheHeadlessPassAndTheReference) {
  const uint32_t n = 1500, d = 24;
  ref::Matrix q = ref::randomMatrix(n, d, 1.2, 71), k = ref::randomMatrix(n, d, 1.2, 72);
  AttentionSpec spec = causalSpec(n, d);
  auto s = serve(q, k, spec);
  HeadData head = upload(gpu(), q, k);
  json info = json::parse(s->get("/api/info")->body);
  EXPECT_EQ(info["spec"]["n"], n);
  uint32_t coarsest = info["coarsest_level"];
  EXPECT_EQ(coarsest, coarsestLevel(n));
  for (TileKey key : {TileKey{0, 0, 0}, TileKey{0, 5, 5}, TileKey{0, 1, 4}, TileKey{2, 1, 0}, TileKey{2, 0, 1},
                      TileKey{coarsest, 0, 0}}) {
    DecodedTile t = decode(s->get("/api/tile?level=" + std::to_string(key.level) + "&tx=" + std::to_string(key.tx) +
                                  "&ty=" + std::to_string(key.ty)));
    MapRegion r = tileRegion(key, n);
    EXPECT_EQ(t.col0, r.colBegin);
    EXPECT_EQ(t.row0, r.rowBegin);
    EXPECT_EQ(t.per, 1u << key.level);
    MapResult m = headless(head, spec, key);
    expectSameAsHeadless(t, m, key);
    // And against the double-precision reference: max and mean per texel.
    ref::Aggregate a = ref::aggregate(q, k, spec, m.rowBounds, m.colBounds);
    for (uint32_t y = 0; y < t.h; y += 7)
      for (uint32_t x = 0; x < t.w; x += 5) {
        size_t i = size_t(y) * t.w + x;
        EXPECT_NEAR(t.values[i * 3 + 0], a.max[i], 2e-6 + 1e-5 * a.max[i]);
        EXPECT_NEAR(t.values[i * 3 + 1], a.mean[i], 2e-6 + 1e-5 * a.mean[i]);
      }
  }
  // Row statistics once the sweep is done.
  for (int i = 0; i < 600 && !json::parse(s->get("/api/info")->body)["row_stats_ready"].get<bool>(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  json rs = json::parse(s->get("/api/rowstats?begin=100&end=103")->body);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(rs["entropy"][i].get<double>(), ref::rowEntropy(q, k, spec, 100 + i), 1e-5);
    EXPECT_NEAR(rs["max_logit"][i].get<double>(), ref::rowStats(q, k, spec, 100 + i).max, 1e-5);
  }
}

TEST_F(Serve, HundredThousandTokenTilesEqualTheHeadlessPass) {
  const uint32_t n = 100000, d = 64;
  ref::Matrix q = ref::randomMatrix(n, d, 1.0, 81), k = ref::randomMatrix(n, d, 1.0, 82);
  AttentionSpec spec = causalSpec(n, d);
  auto s = serve(q, k, spec);
  HeadData head = upload(gpu(), q, k);
  for (TileKey key : {TileKey{0, 156, 156}, TileKey{0, 100, 390}, TileKey{4, 9, 9}}) {
    DecodedTile t = decode(s->get("/api/tile?level=" + std::to_string(key.level) + "&tx=" + std::to_string(key.tx) +
                                  "&ty=" + std::to_string(key.ty)));
    expectSameAsHeadless(t, headless(head, spec, key), key);
    if (key.level == 0) {  // one row of cells against the reference
      uint32_t row = uint32_t(t.row0) + 17;
      std::vector<double> p = ref::probabilityRow(q, k, spec, row);
      for (uint32_t x = 0; x < t.w; ++x)
        ASSERT_NEAR(t.values[(17 * size_t(t.w) + x) * 3 + 1], p[t.col0 + x], 2e-6) << "row " << row << " col " << t.col0 + x;
    }
  }
}

TEST_F(Serve, EveryRequestNeedsTheToken) {
  ref::Matrix q = ref::randomMatrix(300, 8, 1.0, 1), k = ref::randomMatrix(300, 8, 1.0, 2);
  auto s = serve(q, k, causalSpec(300, 8));
  httplib::Client c("127.0.0.1", s->port);
  for (const char* path : {"/api/info", "/api/tile?level=0&tx=0&ty=0", "/", "/api/info?token=", "/api/info?token=0123",
                           "/api/info?token=0123456789abcdef0123456789abcdeF"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << path;
  }
  EXPECT_EQ(c.Post("/api/select?temperature=2")->status, 403);
  httplib::Headers bearer{{"Authorization", "Bearer " + s->token}};
  EXPECT_EQ(c.Get("/api/info", bearer)->status, 200);
  EXPECT_EQ(s->http->refusals(), 7u);
}

// A port in use is refused with the line saying so, not shared (SO_REUSEPORT would let the
// kernel split one port's connections between two servers of two different maps).
TEST_F(Serve, APortInUseIsRefusedNotShared) {
  ref::Matrix q = ref::randomMatrix(100, 8, 1.0, 1), k = ref::randomMatrix(100, 8, 1.0, 2);
  auto s = serve(q, k, causalSpec(100, 8));
  ServeOptions h;
  h.port = s->port;
  h.quiet = true;
  HttpServer second(*s->service, h);
  try {
    second.bind();
    ADD_FAILURE() << "a second server bound port " << s->port;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(s->port)), std::string::npos)
        << e.what();
  }
}

TEST_F(Serve, HostileRequestsGetA4xxAndOneLogLineEach) {
  ref::Matrix q = ref::randomMatrix(3000, 16, 1.0, 3), k = ref::randomMatrix(3000, 16, 1.0, 4);
  auto s = serve(q, k, causalSpec(3000, 16));
  std::ifstream corpus(std::string(ATTNSCOPE_CORPUS_DIR) + "/serve/hostile_requests.txt");
  ASSERT_TRUE(corpus) << "missing tests/corpus/serve/hostile_requests.txt";
  std::string line;
  uint64_t sent = 0;
  while (std::getline(corpus, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string method = line.substr(0, line.find(' ')), path = line.substr(line.find(' ') + 1);
    path += path.find('?') == std::string::npos ? "?token=" : "&token=";
    path += s->token;
    httplib::Client c("127.0.0.1", s->port);
    httplib::Result r = method == "GET" ? c.Get(path.c_str()) : method == "POST" ? c.Post(path.c_str())
                      : method == "PUT" ? c.Put(path.c_str()) : c.Delete(path.c_str());
    ++sent;
    if (r) {
      EXPECT_GE(r->status, 400) << line;
      EXPECT_LT(r->status, 500) << line << ": " << r->body;
      EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store") << line << ": a browser must not keep a refusal";
    }
  }
  EXPECT_GE(sent, 30u);
  // An oversized body, and bytes that are not HTTP at all.
  httplib::Client c("127.0.0.1", s->port);
  auto big = c.Post(("/api/view?client=1&x0=0&y0=0&x1=1&y1=1&token=" + s->token).c_str(), std::string(1 << 20, 'x'),
                    "application/octet-stream");
  if (big) {
    EXPECT_EQ(big->status, 413);
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(s->port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n";
  ASSERT_GT(write(fd, garbage, sizeof garbage - 1), 0);
  char buf[256];
  (void)!read(fd, buf, sizeof buf);
  close(fd);
  // Still serving, and each refusal was one log line.
  auto info = s->get("/api/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200);
  EXPECT_GE(s->http->refusals(), sent);
}

TEST_F(Serve, ANewerViewOrADeadlineCancelsQueuedTiles) {
  const uint32_t n = 30000;
  ref::Matrix q = ref::randomMatrix(n, 64, 1.0, 5), k = ref::randomMatrix(n, 64, 1.0, 6);
  auto s = serve(q, k, causalSpec(n, 64));
  TileService& svc = *s->service;
  uint64_t gen = svc.info().generation;
  TileKey whole{coarsestLevel(n), 0, 0};  // the whole map: seconds of work on lavapipe
  auto t0 = std::chrono::steady_clock::now();
  TileReply late = svc.tile(1, whole, gen, t0 + std::chrono::milliseconds(50));
  EXPECT_EQ(late.status, TileStatus::Cancelled);
  svc.setView(2, CellRect{0, 0, 100, 100});
  std::thread mover([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    svc.setView(2, CellRect{40000, 40000, 50000, 50000});  // far from tile (0, 0) of level 0
  });
  TileReply moved = svc.tile(2, TileKey{0, 0, 0}, gen, t0 + std::chrono::seconds(120));
  mover.join();
  // Either the tile was done before the view moved, or its request was dropped.
  EXPECT_TRUE(moved.status == TileStatus::Ready || moved.status == TileStatus::Cancelled);
  TileReply again = svc.tile(3, TileKey{0, 1, 1}, gen, std::chrono::steady_clock::now() + std::chrono::seconds(120));
  EXPECT_EQ(again.status, TileStatus::Ready) << "the service still computes after cancellations";
}

TEST_F(Serve, AClientThatFallsSilentCostsNothingMore) {
  const uint32_t n = 30000;
  ref::Matrix q = ref::randomMatrix(n, 64, 1.0, 9), k = ref::randomMatrix(n, 64, 1.0, 10);
  TileServiceOptions o;
  o.device.validate = true;
  o.spec = causalSpec(n, 64);
  o.clientTimeoutSeconds = 0.3;
  o.loadHead = [&](Context& ctx, Kernels&, uint32_t, uint32_t) {
    return LoadedHead{HeadData::fromHost(ctx, n, 64, q.v.data(), k.v.data(), nullptr), std::nullopt};
  };
  TileService svc(o);
  svc.waitUntilStarted();
  uint64_t gen = svc.info().generation;
  svc.setView(7, CellRect{0, 0, double(n), double(n)});
  // Client 7 asks for tiles and then says nothing more: its waiters are still there (as an
  // HTTP thread would be for a closed socket), but the work stops within a piece of the timeout.
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> waiters;
  std::vector<TileStatus> got(4);
  for (uint32_t i = 0; i < 4; ++i)
    waiters.emplace_back([&, i] { got[i] = svc.tile(7, TileKey{5, i, 3}, gen, t0 + std::chrono::seconds(60)).status; });
  for (auto& w : waiters) w.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int cancelled = 0;
  for (TileStatus s : got) cancelled += s == TileStatus::Cancelled;
  EXPECT_GT(cancelled, 0) << "four 8192-cell tiles at 30k tokens take longer than 0.3 s on any device we test on";
  EXPECT_LT(secs, 30.0);
  // Another client is served as before.
  EXPECT_EQ(svc.tile(8, TileKey{0, 2, 2}, gen, std::chrono::steady_clock::now() + std::chrono::seconds(60)).status,
            TileStatus::Ready);
}

TEST_F(Serve, SelectingHeadOrParametersMakesOldTilesStale) {
  ref::Matrix q = ref::randomMatrix(700, 16, 1.5, 7), k = ref::randomMatrix(700, 16, 1.5, 8);
  AttentionSpec spec = causalSpec(700, 16);
  auto s = serve(q, k, spec);
  HeadData head = upload(gpu(), q, k);
  DecodedTile before = decode(s->get("/api/tile?level=0&tx=1&ty=1&gen=1"));
  httplib::Client c("127.0.0.1", s->port);
  auto sel = c.Post(("/api/select?temperature=0.5&token=" + s->token).c_str());
  ASSERT_TRUE(sel);
  ASSERT_EQ(sel->status, 200) << sel->body;
  uint64_t gen = json::parse(sel->body)["generation"];
  EXPECT_EQ(gen, 2u);
  auto stale = s->get("/api/tile?level=0&tx=1&ty=1&gen=1");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 409);
  EXPECT_EQ(stale->get_header_value("Cache-Control"), "no-store");
  DecodedTile after = decode(s->get("/api/tile?level=0&tx=1&ty=1&gen=2"));
  AttentionSpec hot = spec;
  hot.temperature = 0.5;
  expectSameAsHeadless(after, headless(head, hot, TileKey{0, 1, 1}), TileKey{0, 1, 1});
  EXPECT_NE(before.values, after.values);
  // Head 1 (Q and K swapped).
  sel = c.Post(("/api/select?head=1&token=" + s->token).c_str());
  ASSERT_EQ(sel->status, 200) << sel->body;
  DecodedTile other = decode(s->get("/api/tile?level=0&tx=1&ty=1&gen=3"));
  HeadData swapped = upload(gpu(), k, q);
  expectSameAsHeadless(other, headless(swapped, hot, TileKey{0, 1, 1}), TileKey{0, 1, 1});
}

// A capture's layers bring their own attention (Gemma 2 alternates a sliding window with a
// full causal mask): switching layer uses the new layer's own parameters, and what a client
// set (here the temperature, then the mask) stays set across switches and is what the tiles
// and /api/info use.
TEST_F(Serve, ALayersOwnParametersHoldUnlessAClientChangesThem) {
  const uint32_t n = 600, d = 16;
  ref::Matrix q = ref::randomMatrix(n, d, 1.5, 17), k = ref::randomMatrix(n, d, 1.5, 18);
  AttentionSpec full = causalSpec(n, d), sliding = full;
  sliding.mask = MaskKind::WindowCausal;
  sliding.window = 50;
  TileServiceOptions o;
  o.device.validate = true;
  o.spec = full;
  o.layers = {3, 4};
  o.layer = 3;
  o.loadHead = [&](Context& ctx, Kernels&, uint32_t layer, uint32_t) {
    return LoadedHead{HeadData::fromHost(ctx, n, d, q.v.data(), k.v.data(), nullptr), layer == 4 ? sliding : full};
  };
  auto s = serveWith(o);
  HeadData head = upload(gpu(), q, k);
  httplib::Client c("127.0.0.1", s->port);
  auto select = [&](const std::string& query) {
    auto r = c.Post(("/api/select?" + query + "&token=" + s->token).c_str());
    EXPECT_TRUE(r && r->status == 200) << query << ": " << (r ? r->body : "no answer");
    return r ? json::parse(r->body)["generation"].get<uint64_t>() : 0;
  };
  // /api/info says the spec of the generation's head once it is loaded (a tile of it has come).
  auto expectTileAndInfo = [&](uint64_t gen, const AttentionSpec& want, const char* step) {
    TileKey key{0, 1, 1};
    DecodedTile t = decode(s->get("/api/tile?level=0&tx=1&ty=1&gen=" + std::to_string(gen)));
    SCOPED_TRACE(step);
    expectSameAsHeadless(t, headless(head, want, key), key);
    json spec = json::parse(s->get("/api/info")->body)["spec"];
    EXPECT_EQ(spec["mask"], maskName(want.mask));
    EXPECT_DOUBLE_EQ(spec["temperature"].get<double>(), want.temperature);
    if (want.mask == MaskKind::WindowCausal) {
      EXPECT_EQ(spec["window"], want.window);
    }
  };
  expectTileAndInfo(1, full, "layer 3 as loaded");
  expectTileAndInfo(select("layer=4"), sliding, "layer 4: its own sliding window");
  AttentionSpec hot = sliding;
  hot.temperature = 2;
  expectTileAndInfo(select("temperature=2"), hot, "layer 4 at T = 2");
  AttentionSpec fullHot = full;
  fullHot.temperature = 2;
  expectTileAndInfo(select("layer=3"), fullHot, "back to layer 3: its own mask, the client's T");
  AttentionSpec none = fullHot;
  none.mask = MaskKind::None;
  expectTileAndInfo(select("mask=none"), none, "no mask, set by the client");
  expectTileAndInfo(select("layer=4"), [&] { AttentionSpec x = sliding; x.mask = MaskKind::None; x.temperature = 2; return x; }(),
                    "layer 4 keeps the client's mask");
  // A change that does not fit is refused with the reason, and the generation stays.
  auto bad = c.Post(("/api/select?temperature=0&token=" + s->token).c_str());
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400) << bad->body;
  EXPECT_EQ(json::parse(s->get("/api/info")->body)["generation"], 6u);
}

}  // namespace
}  // namespace attnscope::test

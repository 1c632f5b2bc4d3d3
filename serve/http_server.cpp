#include "serve/http_server.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "engine/error.h"

namespace attnscope {

using json = nlohmann::json;

namespace {

// A refused request: its status and the reason for the log line and the body.
struct Refusal : std::exception {
  Refusal(int s, std::string w) : status(s), why(std::move(w)) {}
  const char* what() const noexcept override { return why.c_str(); }
  int status;
  std::string why;
};

constexpr size_t kMaxBody = 64 * 1024;  // no route takes a body; anything larger is refused

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

// A whole non-negative decimal integer no larger than `max`, or a 400.
uint64_t uintParam(const httplib::Request& req, const char* name, uint64_t max, std::optional<uint64_t> fallback = {}) {
  if (!req.has_param(name)) {
    if (fallback) return *fallback;
    throw Refusal{400, std::string("missing ") + name};
  }
  std::string v = req.get_param_value(name);
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || v.size() > 20 || ec != std::errc() || end != v.data() + v.size())
    throw Refusal{400, std::string(name) + " is not a non-negative integer"};
  if (out > max) throw Refusal{400, std::string(name) + " = " + v + " is more than " + std::to_string(max)};
  return out;
}

double numberParam(const httplib::Request& req, const char* name) {
  std::string v = param(req, name);
  double out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || v.size() > 40 || ec != std::errc() || end != v.data() + v.size() || !std::isfinite(out))
    throw Refusal{400, std::string(name) + " is not a finite number"};
  return out;
}

bool sameToken(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;  // constant time: a guess learns nothing from how long the refusal took
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(a[i] ^ b[i]);
  return diff == 0;
}

std::string printable(const std::string& s, size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) out += (c >= 32 && c < 127) ? c : '?';
  return s.size() > max ? out + "..." : out;
}

json specJson(const AttentionSpec& s) {
  json j{{"n", s.n}, {"d", s.d}, {"mask", maskName(s.mask)}, {"scale", s.effectiveScale()},
         {"temperature", s.temperature}, {"query_begin", s.queryBegin}};
  j["window"] = s.window ? json(s.window) : json(nullptr);
  j["softcap"] = s.softcap ? json(*s.softcap) : json(nullptr);
  return j;
}

}  // namespace

std::string randomToken() {
  std::random_device rd;  // the system's random source (getrandom / /dev/urandom)
  char buf[33];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + i * 8, 9, "%08x", unsigned(rd()));
  return buf;
}

HttpServer::HttpServer(TileService& service, ServeOptions options)
    : service_(service), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  if (options_.token.empty()) options_.token = randomToken();
  // Tile requests wait for the device: enough threads that waiting ones never starve /api/info.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_payload_max_length(kMaxBody);
  // SO_REUSEADDR only: a restarted server may take its port back from TIME_WAIT, but a second
  // live one must not share it. cpp-httplib's default also sets SO_REUSEPORT, with which a
  // second `serve --port P` (or a second notebook map) bound too and the kernel split the
  // connections between two different maps.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof yes);
  });
  server_->set_read_timeout(10, 0);
  server_->set_write_timeout(30, 0);
  routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  port_ = options_.port == 0 ? server_->bind_to_any_port(options_.host)
                             : (server_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port_ <= 0)
    throw Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                ": the port is taken or the address is not this machine's; choose another with --port or --host");
  return port_;
}

// cpp-httplib ignores a stop() that comes before its listen loop is running, and that loop
// would then run forever: listen() does not start after a stop(), and a stop() that comes
// while listen() is starting waits for the loop to run, then stops it.
void HttpServer::listen() {
  {
    std::lock_guard lock(listenMutex_);
    if (stopRequested_) return;
    listenState_ = 1;
  }
  server_->listen_after_bind();
  listenState_ = 2;
}

void HttpServer::stop() {
  if (!server_) return;
  {
    std::lock_guard lock(listenMutex_);
    stopRequested_ = true;
  }
  while (listenState_ == 1 && !server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_->stop();
}

std::string HttpServer::url() const {
  std::string host = options_.host == "0.0.0.0" || options_.host.empty() ? "127.0.0.1" : options_.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // an IPv6 address
  return "http://" + host + ":" + std::to_string(port_) + "/?token=" + options_.token;
}

void HttpServer::routes() {
  auto& s = *server_;
  auto refuse = [this](const httplib::Request& req, httplib::Response& res, int status, const std::string& why) {
    ++refusals_;
    res.status = status;
    // Never kept by a browser: Chromium holds a 410 fresh forever when nothing says
    // otherwise, so a tile cancelled once (the view had moved on) came back as that 410 on
    // every retry of the same URL, and a browser test waited 300 s on one tile.
    res.set_header("Cache-Control", "no-store");
    res.set_content(why + "\n", "text/plain");
    if (!options_.quiet)
      std::fprintf(stderr, "attnscope serve: %d %s %s from %s: %s\n", status, printable(req.method, 8).c_str(),
                   printable(req.path).c_str(), req.remote_addr.c_str(), why.c_str());
  };

  // Every request carries the token, whatever it asks for.
  s.set_pre_routing_handler([this, refuse](const httplib::Request& req, httplib::Response& res) {
    std::string given = param(req, "token");
    std::string auth = req.get_header_value("Authorization");
    if (given.empty() && auth.rfind("Bearer ", 0) == 0) given = auth.substr(7);
    if (given.empty()) {
      refuse(req, res, 403, "no access token: open the URL attnscope serve printed (it ends in ?token=...)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!sameToken(given, options_.token)) {
      refuse(req, res, 403, "wrong access token");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_exception_handler([refuse](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const Refusal& r) {
      refuse(req, res, r.status, r.why);
    } catch (const Error& e) {
      refuse(req, res, 400, e.what());
    } catch (const std::exception& e) {
      refuse(req, res, 500, std::string("internal error: ") + e.what());
    } catch (...) {
      refuse(req, res, 500, "internal error");
    }
  });
  s.set_error_handler([this, refuse](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) refuse(req, res, 404, "no such route");
    else if (res.status == 413) refuse(req, res, 413, "the request body is too large");
    else if (res.status >= 400 && res.body.empty()) refuse(req, res, res.status, "bad request");
  });

  s.Get("/api/info", [this](const httplib::Request&, httplib::Response& res) {
    ServiceInfo i = service_.info();
    json j{{"spec", specJson(i.spec)},
           {"heads", i.heads},
           {"head", i.head},
           {"layers", i.layers},
           {"layer", i.layer},
           {"coarsest_level", i.coarsestLevel},
           {"sweep_level", i.sweepLevel},
           {"tile_texels", kTileTexels},
           {"sweep_progress", i.sweepProgress},
           {"row_stats_ready", i.rowStatsReady},
           {"generation", i.generation},
           {"device", i.device},
           {"title", i.title},
           {"tokens", service_.tokens().size()},
           {"tiles_computed", i.tilesComputed},
           {"tiles_cached", i.tilesCached},
           {"queued", i.queued}};
    res.set_content(j.dump(), "application/json");
  });

  s.Get("/api/tile", [this](const httplib::Request& req, httplib::Response& res) {
    ServiceInfo i = service_.info();
    TileKey key;
    key.level = uint32_t(uintParam(req, "level", i.coarsestLevel));
    uint64_t tiles = (uint64_t(i.spec.n) + tileCells(key.level) - 1) / tileCells(key.level);
    key.tx = uint32_t(uintParam(req, "tx", tiles - 1));
    key.ty = uint32_t(uintParam(req, "ty", tiles - 1));
    uint64_t gen = uintParam(req, "gen", UINT64_MAX, i.generation);
    uint64_t client = uintParam(req, "client", UINT64_MAX, 0);
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(int64_t(options_.tileTimeoutSeconds * 1000));
    TileReply r = service_.tile(client, key, gen, deadline);
    switch (r.status) {
      case TileStatus::Ready: break;
      case TileStatus::Stale: throw Refusal{409, "the parameters changed (generation " + std::to_string(gen) + " is old): ask /api/info"};
      case TileStatus::Cancelled: throw Refusal{410, "cancelled: " + r.error};
      case TileStatus::Stopped: throw Refusal{503, r.error};
      case TileStatus::Failed: throw Refusal{500, r.error};
    }
    const TileData& t = *r.tile;
    res.set_header("X-Tile", std::to_string(t.w) + " " + std::to_string(t.h) + " " + std::to_string(t.col0) + " " +
                                 std::to_string(t.row0) + " " + std::to_string(t.per));
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_content(std::string(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float)),
                    "application/octet-stream");
  });

  s.Post("/api/view", [this](const httplib::Request& req, httplib::Response& res) {
    uint64_t client = uintParam(req, "client", UINT64_MAX);
    CellRect v{numberParam(req, "x0"), numberParam(req, "y0"), numberParam(req, "x1"), numberParam(req, "y1")};
    if (!(v.x0 < v.x1 && v.y0 < v.y1)) throw Refusal{400, "the view needs x0 < x1 and y0 < y1"};
    std::optional<uint32_t> level;
    if (req.has_param("level")) level = uint32_t(uintParam(req, "level", service_.info().coarsestLevel));
    service_.setView(client, v, level);
    res.status = 204;
  });

  s.Get("/api/tokens", [this](const httplib::Request& req, httplib::Response& res) {
    const auto& tokens = service_.tokens();
    uint64_t begin = uintParam(req, "begin", tokens.size(), 0);
    uint64_t end = uintParam(req, "end", tokens.size(), tokens.size());
    if (begin > end) throw Refusal{400, "begin is after end"};
    if (end - begin > 100000) throw Refusal{400, "at most 100000 tokens per request"};
    json j = json::array();
    for (uint64_t t = begin; t < end; ++t) j.push_back(tokens[t]);
    res.set_content(j.dump(), "application/json");
  });

  s.Get("/api/rowstats", [this](const httplib::Request& req, httplib::Response& res) {
    uint32_t n = service_.info().spec.n;
    uint64_t begin = uintParam(req, "begin", n, 0), end = uintParam(req, "end", n, n);
    if (begin >= end) throw Refusal{400, "an empty range of rows"};
    if (end - begin > 1000000) throw Refusal{400, "at most 1000000 rows per request"};
    std::vector<float> st = service_.rowStats(uint32_t(begin), uint32_t(end));
    if (st.empty()) throw Refusal{409, "the whole-map sweep is not finished: row statistics come from it"};
    json m = json::array(), lse = json::array(), ent = json::array();
    for (size_t i = 0; i < end - begin; ++i) {
      double mi = st[i * 4], l = st[i * 4 + 1], t = st[i * 4 + 2];
      bool ok = l > 0;
      m.push_back(ok ? json(mi) : json(nullptr));
      lse.push_back(ok ? json(mi + std::log(l)) : json(nullptr));
      ent.push_back(ok ? json(std::max(0.0, std::log(l) - t / l)) : json(nullptr));
    }
    res.set_content(json{{"begin", begin}, {"max_logit", m}, {"logsumexp", lse}, {"entropy", ent}}.dump(),
                    "application/json");
  });

  s.Get("/api/strips", [this](const httplib::Request&, httplib::Response& res) {
    TileService::Strips st = service_.strips();
    if (st.block == 0) throw Refusal{409, "the whole-map sweep is not finished: the strips come from it"};
    auto pair = [&](int c, int l) { return json::array({st.range[c][l][0], st.range[c][l][1]}); };
    json ranges{{"max", {{"lin", pair(0, 0)}, {"log", pair(0, 1)}}}, {"mean", {{"lin", pair(1, 0)}, {"log", pair(1, 1)}}}};
    res.set_content(json{{"block", st.block}, {"received", st.received}, {"entropy", st.entropy}, {"ranges", ranges}}.dump(),
                    "application/json");
  });

  s.Post("/api/select", [this](const httplib::Request& req, httplib::Response& res) {
    ServiceInfo i = service_.info();
    uint32_t head = uint32_t(uintParam(req, "head", i.heads - 1, i.head));
    uint32_t layer = i.layer;
    if (req.has_param("layer")) {
      layer = uint32_t(uintParam(req, "layer", UINT32_MAX));
      if (!i.layers.empty() && std::find(i.layers.begin(), i.layers.end(), layer) == i.layers.end())
        throw Refusal{400, "layer " + std::to_string(layer) + " is not in the file"};
      if (i.layers.empty() && layer != 0) throw Refusal{400, "the input has one layer"};
    }
    // Only what the request names changes; the rest stays the layer's own (a capture's
    // metadata) or what earlier requests set.
    SpecOverrides change;
    if (req.has_param("mask") || req.has_param("window")) {
      std::string mask = req.has_param("mask") ? param(req, "mask") : std::string(maskName(i.spec.mask));
      bool hasWindow = req.has_param("window");
      change.mask = parseMask(mask, hasWindow);
      if (hasWindow) change.window = uint32_t(uintParam(req, "window", i.spec.n));
    }
    if (req.has_param("scale")) change.scale = numberParam(req, "scale");
    if (req.has_param("temperature")) change.temperature = numberParam(req, "temperature");
    if (req.has_param("softcap")) {
      if (param(req, "softcap") == "none") change.softcap = std::optional<double>();
      else change.softcap = numberParam(req, "softcap");
    }
    AttentionSpec spec = change.appliedTo(i.spec);
    spec.validate();  // a 400 with the reason, before anything changes
    uint64_t gen = service_.select(layer, head, change);
    res.set_content(json{{"generation", gen}, {"spec", specJson(service_.info().spec)}}.dump(), "application/json");
  });

  // The browser client: index.html gets the token written into it; other files are served as
  // they are. Only names from the folder itself: no paths.
  s.Get(R"(/([A-Za-z0-9_.-]*))", [this](const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    if (name.empty()) name = "index.html";
    if (name.find("..") != std::string::npos) throw Refusal{404, "no such file"};
    namespace fs = std::filesystem;
    fs::path file = fs::path(options_.webDir) / name;
    std::error_code ec;
    if (options_.webDir.empty() || !fs::is_regular_file(file, ec)) throw Refusal{404, "no such file"};
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string body = ss.str();
    std::string type = "application/octet-stream";
    auto ends = [&](const char* ext) { return name.size() >= std::strlen(ext) && name.compare(name.size() - std::strlen(ext), std::string::npos, ext) == 0; };
    if (ends(".html")) {
      type = "text/html; charset=utf-8";
      for (size_t at; (at = body.find("__ATTNSCOPE_TOKEN__")) != std::string::npos;) body.replace(at, 19, options_.token);
    } else if (ends(".js")) {
      type = "text/javascript; charset=utf-8";
    } else if (ends(".css")) {
      type = "text/css; charset=utf-8";
    } else if (ends(".json")) {
      type = "application/json";
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(body, type.c_str());
  });
}

}  // namespace attnscope

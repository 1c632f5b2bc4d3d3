#include "python/src/map_server.h"

#include "compute/rope.h"
#include "engine/error.h"
#include "serve/http_server.h"
#include "serve/tile_service.h"

namespace attnscope::python {

MapServer::MapServer(MapCore& map, const std::string& host, int port, const std::string& webDir) : host_(host) {
  TileServiceOptions so;
  so.device.device = map.engine().selector();
  so.device.validate = validationRequestedByEnvironment();
  so.spec = map.spec();
  so.tokens = map.tokens();
  so.title = map.description();
  // The service's device context is its own (its worker thread records on it): it gets its
  // own upload of the same host Q and K, with the rotary embedding applied there.
  const MapInputs& in = map.inputs();
  so.loadHead = [&in](Context& ctx, Kernels& kernels, uint32_t, uint32_t) {
    LoadedHead h{HeadData::fromHost(ctx, in.q.n, in.q.d, in.q.values.data(), in.k.values.data(), nullptr),
                 std::nullopt};
    const ResolvedAttention& a = in.attention;
    if (a.rope) applyRope(ctx, kernels, h.head, {a.ropeBase, a.ropeDims, a.ropeHalves});
    return h;
  };
  service_ = std::make_unique<TileService>(so);
  service_->waitUntilStarted();
  ServeOptions ho;
  ho.host = host;
  ho.port = port;
  ho.webDir = webDir;
  // A notebook's kernel has no terminal a user reads: refusals are the page's business.
  ho.quiet = true;
  http_ = std::make_unique<HttpServer>(*service_, ho);
  port_ = http_->bind();
  token_ = http_->token();
  listener_ = std::thread([this] { http_->listen(); });
}

MapServer::~MapServer() { stop(); }

void MapServer::stop() {
  if (!http_) return;
  // The service first: handlers waiting for tiles answer at once, so the HTTP server's
  // threads are free to finish.
  service_->stop();
  http_->stop();
  if (listener_.joinable()) listener_.join();
  http_.reset();
  service_.reset();
}

std::string MapServer::url() const {
  std::string h = host_ == "0.0.0.0" || host_.empty() ? "127.0.0.1" : host_;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(port_) + "/?token=" + token_;
}

}  // namespace attnscope::python

#include "python/src/map_server.h"

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
  // The service's device context is its own (its worker thread records on it).
  so.loadHead = map.hostHeadLoader();
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
  url_ = http_->url();
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

}  // namespace attnscope::python

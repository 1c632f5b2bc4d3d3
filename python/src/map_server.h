// `attnscope.serve(map)` and `attnscope.show(map)`: the browser viewer of `attnscope serve`
// for a Map made in Python — the same tile service (a device context of its own, with its
// own copy of the map's Q and K, and one worker thread) and the same HTTP server and client
// files, listening on a thread of its own while the interpreter goes on. Jupyter shows the
// page in an output cell's iframe.
#pragma once
#include <memory>
#include <string>
#include <thread>

#include "python/src/python_map.h"

namespace attnscope {
class TileService;
class HttpServer;
}  // namespace attnscope

namespace attnscope::python {

class MapServer {
 public:
  // Starts the service (device, upload, the whole-map sweep in the background) and listens on
  // host:port (0: any free port). `map` must outlive the server (the binding keeps it alive):
  // a head, layer or parameter change in the page uploads its Q and K again.
  MapServer(MapCore& map, const std::string& host, int port, const std::string& webDir);
  ~MapServer();  // stop()
  MapServer(const MapServer&) = delete;
  MapServer& operator=(const MapServer&) = delete;

  // Stops listening, cancels the tiles under way and frees the device. Idempotent.
  void stop();
  bool running() const { return bool(http_); }
  int port() const { return port_; }
  const std::string& host() const { return host_; }
  const std::string& token() const { return token_; }
  const std::string& url() const { return url_; }  // with the token

 private:
  std::string host_, token_, url_;
  int port_ = 0;
  std::unique_ptr<TileService> service_;
  std::unique_ptr<HttpServer> http_;
  std::thread listener_;
};

}  // namespace attnscope::python

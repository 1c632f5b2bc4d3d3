// `attnscope serve`'s HTTP side (cpp-httplib): an access token on every request, the tile
// service's tiles as compact binary float32 values (the browser applies the colormap, so lin
// or log and the colour range change without fetching again), the map's description, tokens
// and row statistics as JSON, and the browser client's files. Every refused request gets a
// 4xx and one log line; nothing a client sends can stop the server.
//
//   GET  /api/info                                  the map, the device, the sweep's progress
//   GET  /api/tile?level=L&tx=X&ty=Y&gen=G&client=C  float32 [h][w][3] (max p, mean p, max logit);
//                                                    X-Tile: "w h col0 row0 cellsPerTexel"
//   POST /api/view?client=C&x0=&y0=&x1=&y1=         C's view in cells: orders and cancels its tiles
//   GET  /api/tokens?begin=A&end=B                  JSON array of printable tokens
//   GET  /api/rowstats?begin=A&end=B                JSON {max_logit, logsumexp, entropy} once swept
//   POST /api/select?layer=&head=&mask=&window=&scale=&temperature=&softcap=
//                                                   switches head, layer or parameters (new generation)
// The token goes in `?token=` or `Authorization: Bearer`.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "serve/tile_service.h"

namespace httplib {
class Server;
}

namespace attnscope {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8765;           // 0: any free port
  std::string token;         // required on every request
  std::string webDir;        // the browser client's files; empty: none served
  double tileTimeoutSeconds = 120;
  bool quiet = false;        // no log lines (tests of the hostile corpus count them instead)
};

// A random token of 32 hex digits from the system's random source.
std::string randomToken();

class HttpServer {
 public:
  HttpServer(TileService& service, ServeOptions options);
  ~HttpServer();
  // Binds (port 0: any free port) and returns the port; throws Error when it cannot.
  int bind();
  // Serves until stop(); call after bind().
  void listen();
  void stop();
  std::string url() const;  // with the token
  const std::string& token() const { return options_.token; }
  uint64_t refusals() const { return refusals_; }

 private:
  void routes();
  TileService& service_;
  ServeOptions options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::atomic<uint64_t> refusals_{0};
  std::mutex listenMutex_;
  bool stopRequested_ = false;          // under listenMutex_
  std::atomic<int> listenState_{0};     // 0 not started, 1 listen() under way, 2 returned
};

}  // namespace attnscope

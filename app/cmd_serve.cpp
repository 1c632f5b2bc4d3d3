#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "app/commands.h"
#include "app/progress.h"
#include "engine/error.h"
#include "engine/paths.h"
#include "serve/http_server.h"

namespace attnscope {

void addServeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "Serve the map to browsers: the engine computes tiles on this machine's device (no display needed)");
  struct Opts {
    DeviceOptions device;
    InputOptions input;
    AttentionOptions attention;
    std::string host = "127.0.0.1";
    int port = 8765;
  };
  auto o = std::make_shared<Opts>();
  o->device.add(*cmd);
  o->input.add(*cmd, 100000);
  o->attention.add(*cmd);
  cmd->add_option("--port", o->port, "TCP port (0: any free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("--host", o->host,
                  "Address to listen on: loopback by default; reach a remote server with ssh -L PORT:localhost:PORT "
                  "(another address still needs the token)")
      ->capture_default_str();
  cmd->callback([o] {
    ViewInput in = openViewInput(o->input, o->attention);
    TileServiceOptions so;
    so.device = o->device.context();
    so.spec = in.spec;
    so.loadHead = in.loader;
    so.heads = in.heads;
    so.head = in.head;
    so.layers = in.layers;
    so.layer = in.layer;
    so.tokens = in.tokens;
    so.title = in.title;
    TileService service(so);
    service.waitUntilStarted();
    ServeOptions ho;
    ho.host = o->host;
    ho.port = o->port;
    // The browser client: $ATTNSCOPE_WEB_DIR, else share/attnscope/web beside the installed
    // program, else the build tree's.
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> candidates;
    if (const char* env = std::getenv("ATTNSCOPE_WEB_DIR"); env && *env) candidates.push_back(env);
    candidates.push_back(fs::read_symlink("/proc/self/exe", ec).parent_path() / ".." / "share" / "attnscope" / "web");
    candidates.push_back(ATTNSCOPE_BUILD_WEB_DIR);
    for (const fs::path& c : candidates)
      if (fs::exists(c / "index.html", ec) && fs::exists(c / "app.js", ec)) {
        ho.webDir = c.string();
        break;
      }
    HttpServer http(service, ho);
    int port = http.bind();
    ServiceInfo info = service.info();
    std::printf("attnscope serve: %u tokens on %s, listening on %s:%d\n", info.spec.n, info.device.c_str(),
                o->host.c_str(), port);
    std::printf("open %s\n", http.url().c_str());
    if (ho.webDir.empty())
      std::printf("(the browser client is not built: ./setup.sh build compiles it; the HTTP API alone is served)\n");
    std::printf("from another machine: ssh -L %d:localhost:%d THIS_HOST, then open the URL there; Ctrl-C stops\n",
                port, port);
    std::fflush(stdout);
    installCancelHandler();
    std::atomic<bool> listening{true};
    std::thread watcher([&] {
      while (listening && !cancelRequested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      service.stop();  // handlers waiting for tiles answer at once, freeing the server's threads
      http.stop();
    });
    http.listen();
    listening = false;
    watcher.join();
    if (!cancelRequested()) throw Error("the server stopped unexpectedly");  // listen() failed by itself
    std::printf("attnscope serve: stopped\n");
  });
}

}  // namespace attnscope

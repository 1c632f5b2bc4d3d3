// attnscope._core: the nanobind bindings of python_map.h. What belongs to Python lives here:
// arrays in (numpy or torch, through the buffer protocol or DLPack, read through their
// strides without a copy on the Python side), arrays out (numpy, owning their memory),
// exceptions (attnscope.Error with the command line's one-line messages, ValueError for
// wrong arrays, KeyboardInterrupt for Ctrl-C), and the GIL (released during GPU work).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstring>
#include <regex>

#include "compute/half.h"
#include "compute/kernels.h"
#include "compute/synthetic.h"
#include "compute/tokens.h"
#include "engine/error.h"
#include "engine/paths.h"
#include "python/src/map_server.h"
#include "python/src/python_map.h"
#include "viz/figure_renderer.h"
#include "viz/map_figure.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace attnscope::python {
namespace {

using AnyArray = nb::ndarray<nb::ro, nb::device::cpu>;

// The command line's messages name its options (--window W, --override-metadata); from
// Python they are keyword arguments (window=W, override_metadata=True).
std::string pythonWording(const std::string& message) {
  // "--mask window-both" -> "mask='window-both'", "--window W" -> "window=W",
  // "--override-metadata" -> "override_metadata=True", any other "--name" -> "name=...".
  static const std::regex option("--([a-z][a-z-]*)( (none|causal|window-both|window|sliding|[A-Z])\\b)?");
  std::string out;
  size_t last = 0;
  for (auto it = std::sregex_iterator(message.begin(), message.end(), option); it != std::sregex_iterator(); ++it) {
    out += message.substr(last, it->position() - last);
    std::string name = (*it)[1].str();
    std::replace(name.begin(), name.end(), '-', '_');
    std::string value = (*it)[3].str();
    if (name == "override_metadata") out += "override_metadata=True";
    else if (value.empty()) out += name + "=...";
    else if (value.size() == 1) out += name + "=" + value;
    else out += name + "='" + value + "'";
    last = it->position() + it->length();
  }
  return out + message.substr(last);
}

// Ctrl-C: the signal handler only sets a flag; checking it needs the GIL for a moment.
void checkInterrupt() {
  nb::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw nb::python_error();
}

const char* dtypeText(nb::dlpack::dtype t) {
  using C = nb::dlpack::dtype_code;
  if (t.code == uint8_t(C::Float)) return t.bits == 64 ? "float64" : t.bits == 32 ? "float32" : t.bits == 16 ? "float16" : "float";
  if (t.code == uint8_t(C::Bfloat)) return "bfloat16";
  if (t.code == uint8_t(C::Int)) return "int";
  if (t.code == uint8_t(C::UInt)) return t.bits == 8 ? "uint8 or bool" : "uint";
  if (t.code == uint8_t(C::Bool)) return "bool";
  if (t.code == uint8_t(C::Complex)) return "complex";
  return "an unknown type";
}

enum class Element { F32, F16, BF16, F64 };

// One head of q, k or v as the array holds it: [n, d] rows through strides, not yet read.
struct HeadView {
  std::string name;
  uint64_t n = 0, d = 0;
  const uint8_t* base = nullptr;
  int64_t rowStride = 0, colStride = 0;  // elements
  Element element = Element::F32;
};

// Checks the shape and dtype of q, k or v: [n, d], or [heads, n, d] with `head`; any
// strides; float32, float16, bfloat16 (torch), or float64 (numpy's default, rounded to
// float32).
HeadView inspect(const AnyArray& a, const char* what, std::optional<uint32_t> head) {
  std::string name(what);
  auto shapeText = [&] {
    std::string s = "[";
    for (size_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + "]";
  };
  if (a.ndim() != 2 && a.ndim() != 3)
    throw nb::value_error((name + " has shape " + shapeText() + ": give [n, d], or [heads, n, d] with head=").c_str());
  size_t axis = a.ndim() == 3 ? 1 : 0;
  int64_t headStride = 0;
  if (a.ndim() == 3) {
    uint32_t h = head.value_or(0);
    if (!head && a.shape(0) != 1)
      throw nb::value_error((name + " has shape " + shapeText() + " (" + std::to_string(a.shape(0)) +
                             " heads): choose one with head=").c_str());
    if (h >= a.shape(0))
      throw nb::value_error((name + " has " + std::to_string(a.shape(0)) + " heads (shape " + shapeText() +
                             "): head=" + std::to_string(h) + " does not exist").c_str());
    headStride = a.stride(0) * int64_t(h);
  } else if (head && *head != 0) {
    throw nb::value_error((name + " has shape " + shapeText() + ", one head: head=" + std::to_string(*head) +
                           " needs [heads, n, d]").c_str());
  }
  uint64_t n = a.shape(axis), d = a.shape(axis + 1);
  if (n == 0 || d == 0) throw nb::value_error((name + " is empty (shape " + shapeText() + ")").c_str());
  if (n > kMaxTokens)
    throw nb::value_error((name + " has " + std::to_string(n) + " rows: attnscope takes at most " +
                           std::to_string(kMaxTokens) + " tokens").c_str());
  if (d > kMaxHeadDim)
    throw nb::value_error((name + " has d = " + std::to_string(d) + ": the head dimension must be 1 to " +
                           std::to_string(kMaxHeadDim)).c_str());
  nb::dlpack::dtype t = a.dtype();
  using C = nb::dlpack::dtype_code;
  bool f32 = t.code == uint8_t(C::Float) && t.bits == 32, f16 = t.code == uint8_t(C::Float) && t.bits == 16,
       f64 = t.code == uint8_t(C::Float) && t.bits == 64, bf16 = t.code == uint8_t(C::Bfloat) && t.bits == 16;
  if (!(f32 || f16 || f64 || bf16) || t.lanes != 1)
    throw nb::value_error((name + " has dtype " + dtypeText(t) +
                           ": give float32, float16 or bfloat16 (or float64, rounded to float32)").c_str());
  HeadView h;
  h.name = name;
  h.n = n;
  h.d = d;
  h.element = f32 ? Element::F32 : f16 ? Element::F16 : bf16 ? Element::BF16 : Element::F64;
  h.base = static_cast<const uint8_t*>(a.data()) + headStride * int64_t(t.bits / 8);
  h.rowStride = a.stride(axis);
  h.colStride = a.stride(axis + 1);
  return h;
}

// The head as [n][d] float32; NaN and Inf are refused with their row and column.
HostMatrix toHost(const HeadView& h) {
  const std::string& name = h.name;
  uint64_t n = h.n, d = h.d;
  bool f32 = h.element == Element::F32, f64 = h.element == Element::F64, f16 = h.element == Element::F16;
  int64_t rs = h.rowStride, cs = h.colStride;
  int64_t elem = f32 ? 4 : f64 ? 8 : 2;
  const uint8_t* base = h.base;
  HostMatrix m;
  m.n = uint32_t(n);
  m.d = uint32_t(d);
  m.values.resize(size_t(n) * d);
  for (uint64_t i = 0; i < n; ++i) {
    float* out = &m.values[size_t(i) * d];
    for (uint64_t j = 0; j < d; ++j) {
      const uint8_t* p = base + (int64_t(i) * rs + int64_t(j) * cs) * elem;
      float v;
      if (f32) std::memcpy(&v, p, 4);
      else if (f64) { double x; std::memcpy(&x, p, 8); v = float(x); }
      else { uint16_t h; std::memcpy(&h, p, 2); v = f16 ? halfToFloat(h) : bf16ToFloat(h); }
      if (!std::isfinite(v))
        throw nb::value_error((name + "[" + std::to_string(i) + ", " + std::to_string(j) + "] is " +
                               (std::isnan(v) ? "NaN" : "infinite") +
                               (f64 && std::isfinite(*reinterpret_cast<const double*>(p)) ? " as float32" : "") +
                               ": attention needs finite values").c_str());
      out[j] = v;
    }
  }
  return m;
}

template <typename T>
nb::ndarray<nb::numpy, T> toNumpy(std::vector<T>&& values, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), shape.size(), shape.begin(), owner);
}

MapRegion regionOf(uint64_t r0, uint64_t r1, uint64_t c0, uint64_t c1) { return {r0, r1, c0, c1}; }

// Cells a rectangle may hold in one call: 2^30 float32 = 4 GiB.
constexpr uint64_t kMaxCellsPerCall = uint64_t(1) << 30;

}  // namespace
}  // namespace attnscope::python

NB_MODULE(_core, m) {
  using namespace attnscope;
  using namespace attnscope::python;
  // Maps a notebook still holds when the interpreter exits are not leaks worth a report.
  nb::set_leak_warnings(false);
  m.doc() = "attnscope's engine: exact attention maps computed by Vulkan compute shaders";

  static nb::exception<Error> error(m, "Error", PyExc_RuntimeError);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Cancelled&) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    } catch (const Error& e) {
      PyErr_SetString(error.ptr(), pythonWording(e.what()).c_str());
    }
  });

  m.def("_set_resource_root", [](const std::string& root) { setResourceRoot(root); },
        "Where the package's shaders/ and data/ are (set at import).");

  m.def("_validation_messages", [] { return nb::make_tuple(Context::validationMessageCount(), Context::lastValidationMessage()); },
        "Validation-layer messages seen so far and the last one (tests assert none).");

  m.def("devices", [](const std::string& device) {
    std::vector<DeviceListing> list;
    {
      nb::gil_scoped_release release;
      list = listDevices(device);
    }
    nb::list out;
    for (const auto& d : list) {
      nb::dict e;
      e["index"] = d.index;
      e["name"] = d.name;
      e["type"] = d.type;
      e["vulkan"] = d.vulkan;
      e["chosen"] = d.chosen;
      out.append(e);
    }
    return out;
  }, "device"_a = "");

  nb::class_<Engine>(m, "Engine")
      .def("__init__", [](Engine* self, const std::string& device) {
        nb::gil_scoped_release release;
        new (self) Engine(device);
      }, "device"_a = "")
      .def_prop_ro("device_name", [](Engine& e) { return e.ctx().caps().name; });

  m.def("resolve_attention", [](uint32_t n, uint32_t d, std::optional<std::string> mask, std::optional<uint32_t> window,
                                std::optional<double> scale, std::optional<double> temperature,
                                std::optional<double> softcap) {
    AttentionArgs a{mask, window, scale, softcap, temperature, false};
    AttentionSpec s = resolveForArrays(a, n, d).spec;
    return nb::make_tuple(maskName(s.mask), s.window, s.effectiveScale(), s.temperature, s.softcap);
  });

  nb::class_<MapCore>(m, "MapCore")
      .def_static("from_arrays",
          [](std::shared_ptr<Engine> engine, const AnyArray& q, const AnyArray& k, std::optional<AnyArray> v,
             std::optional<uint32_t> head, std::optional<std::string> mask, std::optional<uint32_t> window,
             std::optional<double> scale, std::optional<double> temperature, std::optional<double> softcap,
             std::optional<std::vector<std::string>> tokens, const std::string& description) {
            HeadView hq = inspect(q, "q", head), hk = inspect(k, "k", head);
            std::optional<HeadView> hv;
            if (v) hv = inspect(*v, "v", head);
            if (hq.d != hk.d)
              throw nb::value_error(("q has d = " + std::to_string(hq.d) + " and k has d = " + std::to_string(hk.d) +
                                     ": q and k need the same head dimension").c_str());
            if (hq.n != hk.n)
              throw nb::value_error(("q has " + std::to_string(hq.n) + " rows and k has " + std::to_string(hk.n) +
                                     ": give one query per key (an n x n map)").c_str());
            if (hv && hv->n != hk.n)
              throw nb::value_error(("v has " + std::to_string(hv->n) + " rows and k has " + std::to_string(hk.n) +
                                     ": one value per key").c_str());
            if (hv && hv->d != hq.d)
              throw nb::value_error(("v has d = " + std::to_string(hv->d) + " and q has d = " + std::to_string(hq.d) +
                                     ": attnscope takes V with the head dimension of Q and K").c_str());
            AttentionArgs a{mask, window, scale, softcap, temperature, false};
            MapInputs in;
            in.attention = resolveForArrays(a, uint32_t(hq.n), uint32_t(hq.d));
            checkFits(*engine, uint32_t(hq.n), uint32_t(hq.d), bool(hv));  // before any copy
            in.q = toHost(hq);
            in.k = toHost(hk);
            if (hv) in.v = toHost(*hv);
            if (tokens) {
              checkTokenCount(*tokens, in.q.n, "tokens=");
              for (const auto& t : *tokens) in.tokens.push_back(visibleToken(t));
            }
            in.description = description;
            nb::gil_scoped_release release;
            return new MapCore(std::move(engine), std::move(in));
          },
          "engine"_a, "q"_a, "k"_a, "v"_a.none(), "head"_a.none(), "mask"_a.none(), "window"_a.none(),
          "scale"_a.none(), "temperature"_a.none(), "softcap"_a.none(), "tokens"_a.none(), "description"_a)
      .def_static("from_capture",
          [](std::shared_ptr<Engine> engine, const std::string& path, std::optional<uint32_t> layer, uint32_t head,
             std::optional<std::string> mask, std::optional<uint32_t> window, std::optional<double> scale,
             std::optional<double> temperature, std::optional<double> softcap, bool overrideMetadata,
             const std::string& tokensPath) {
            nb::gil_scoped_release release;
            AttentionArgs a{mask, window, scale, softcap, temperature, overrideMetadata};
            return new MapCore(std::move(engine), loadCapture(path, layer, head, a, tokensPath));
          },
          "engine"_a, "path"_a, "layer"_a.none(), "head"_a, "mask"_a.none(), "window"_a.none(), "scale"_a.none(),
          "temperature"_a.none(), "softcap"_a.none(), "override_metadata"_a, "tokens_path"_a)
      .def_prop_ro("n", [](MapCore& c) { return c.spec().n; })
      .def_prop_ro("d", [](MapCore& c) { return c.spec().d; })
      .def_prop_ro("mask", [](MapCore& c) { return std::string(maskName(c.spec().mask)); })
      .def_prop_ro("window", [](MapCore& c) { return c.spec().window ? std::optional<uint32_t>(c.spec().window) : std::nullopt; })
      .def_prop_ro("scale", [](MapCore& c) { return c.spec().effectiveScale(); })
      .def_prop_ro("softcap", [](MapCore& c) { return c.spec().softcap; })
      .def_prop_ro("temperature", [](MapCore& c) { return c.spec().temperature; })
      .def_prop_ro("query_begin", [](MapCore& c) { return c.spec().queryBegin; })
      .def_prop_ro("has_v", &MapCore::hasV)
      .def_prop_ro("tokens", &MapCore::tokens)
      .def_prop_ro("description", &MapCore::description)
      .def_prop_ro("device_name", [](MapCore& c) { return c.engine().ctx().caps().name; })
      .def("cells", [](MapCore& c, uint64_t r0, uint64_t r1, uint64_t c0, uint64_t c1, bool logits) {
        MapRegion r = regionOf(r0, r1, c0, c1);
        validateRegion(r, c.spec().n);
        if (r.rows() * r.cols() > kMaxCellsPerCall)
          throw nb::value_error(("the rectangle has " + std::to_string(r.rows() * r.cols()) +
                                 " cells (" + std::to_string(r.rows() * r.cols() * 4 >> 20) +
                                 " MiB as float32): ask for at most 2^30 cells at a time, or render() it").c_str());
        std::vector<float> out;
        {
          nb::gil_scoped_release release;
          out = c.cells(r, logits, checkInterrupt);
        }
        return toNumpy(std::move(out), {size_t(r.rows()), size_t(r.cols())});
      })
      .def("row_stats", [](MapCore& c) {
        RowStatistics s;
        {
          nb::gil_scoped_release release;
          s = c.rowStatistics(checkInterrupt);
        }
        size_t n = c.spec().n;
        return nb::make_tuple(toNumpy(std::move(s.maxLogit), {n}), toNumpy(std::move(s.logSumExp), {n}),
                              toNumpy(std::move(s.entropy), {n}));
      })
      .def("output", [](MapCore& c, uint32_t r0, uint32_t r1) {
        std::vector<float> out;
        {
          nb::gil_scoped_release release;
          out = c.output(r0, r1, checkInterrupt);
        }
        return toNumpy(std::move(out), {size_t(r1 - r0), size_t(c.spec().d)});
      })
      .def("received", [](MapCore& c) {
        std::vector<double> out;
        {
          nb::gil_scoped_release release;
          out = c.received(checkInterrupt);
        }
        return toNumpy(std::move(out), {size_t(c.spec().n)});
      })
      .def("image", [](MapCore& c, uint64_t r0, uint64_t r1, uint64_t c0, uint64_t c1, uint32_t width, uint32_t height,
                       const std::string& agg, const std::string& colormap, const std::string& scale,
                       std::optional<double> vmin, std::optional<double> vmax) {
        HeatmapStyle style = makeHeatmapStyle(agg, colormap, scale, vmin, vmax, width, height);
        std::vector<uint8_t> px;
        {
          nb::gil_scoped_release release;
          px = c.image(regionOf(r0, r1, c0, c1), style, width, height, checkInterrupt);
        }
        return toNumpy(std::move(px), {size_t(height), size_t(width), 4});
      }, "r0"_a, "r1"_a, "c0"_a, "c1"_a, "width"_a, "height"_a, "agg"_a, "colormap"_a, "scale"_a, "vmin"_a.none(),
         "vmax"_a.none())
      .def("view", [](MapCore& c, uint32_t width, uint32_t height, const std::string& agg, const std::string& colormap,
                      const std::string& scale, std::optional<double> vmin, std::optional<double> vmax,
                      const std::string& screenshot, const std::string& script) {
        HeatmapStyle style = makeHeatmapStyle(agg, colormap, scale, vmin, vmax, width, height);
        nb::gil_scoped_release release;
        c.view(style, width, height, screenshot, script);
      }, "width"_a, "height"_a, "agg"_a, "colormap"_a, "scale"_a, "vmin"_a.none(), "vmax"_a.none(), "screenshot"_a,
         "script"_a);

  // The browser viewer's server: keeps its Map alive (the page may ask for the head again).
  nb::class_<MapServer>(m, "MapServer")
      .def("__init__",
           [](MapServer* self, MapCore& map, const std::string& host, int port, const std::string& webDir) {
             nb::gil_scoped_release release;
             new (self) MapServer(map, host, port, webDir);
           },
           "map"_a, "host"_a, "port"_a, "web_dir"_a, nb::keep_alive<1, 2>())
      .def("stop", [](MapServer& s) {
        nb::gil_scoped_release release;
        s.stop();
      })
      .def_prop_ro("running", &MapServer::running)
      .def_prop_ro("port", &MapServer::port)
      .def_prop_ro("host", &MapServer::host)
      .def_prop_ro("token", &MapServer::token)
      .def_prop_ro("url", &MapServer::url);
  m.def("build_web_dir", [] { return std::string(ATTNSCOPE_BUILD_WEB_DIR); },
        "Where the build tree keeps the compiled browser client (a wheel carries its own).");

  m.def("encode_png", [](nb::ndarray<const uint8_t, nb::ndim<3>, nb::c_contig, nb::device::cpu> rgba) {
    if (rgba.shape(2) != 4) throw nb::value_error("encode_png takes an RGBA array of shape [height, width, 4]");
    std::vector<uint8_t> png = encodePng(uint32_t(rgba.shape(1)), uint32_t(rgba.shape(0)), rgba.data());
    return nb::bytes(reinterpret_cast<const char*>(png.data()), png.size());
  });

  m.def("synthetic", [](std::shared_ptr<Engine> engine, uint32_t n, const std::string& preset, uint32_t d,
                        uint32_t heads, uint32_t head, uint32_t seed) {
    SyntheticSpec s;
    s.preset = parsePreset(preset);
    s.n = n;
    s.d = d;
    s.heads = heads;
    s.head = head;
    s.seed = seed;
    s.withV = true;
    s.validate();
    std::vector<float> q, k, v;
    {
      nb::gil_scoped_release release;
      std::lock_guard lock(engine->mutex);
      HeadData h = generateHead(engine->ctx(), engine->kernels(), s);
      q = h.download(h.q());
      k = h.download(h.k());
      v = h.download(h.v());
    }
    return nb::make_tuple(toNumpy(std::move(q), {n, d}), toNumpy(std::move(k), {n, d}), toNumpy(std::move(v), {n, d}));
  });
}

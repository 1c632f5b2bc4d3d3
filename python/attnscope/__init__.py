"""attnscope: exact attention maps softmax(QKᵀ·scale/T) from Q and K, computed by Vulkan
compute shaders on any GPU or on a plain CPU (Mesa's lavapipe), never storing the n × n matrix.

    import attnscope, numpy as np
    q, k, v = attnscope.synthetic(100_000)           # or your own [n, d] arrays / torch tensors
    m = attnscope.Map(q, k, v, mask="causal")
    m                                                  # in Jupyter: the whole map, exact mean per pixel
    m.probs(slice(40_000, 40_064), slice(39_950, 40_064))   # exact p_ij of a rectangle
    png = m.render(rows=(40_000, 41_000), cols=(39_000, 41_000), agg="max")

Everything runs in the same C++ engine as the `attnscope` command line (not a subprocess):
the same kernels, the same figures, the same one-line error messages.
"""
from __future__ import annotations

import atexit as _atexit
import html as _html
import os as _os
import weakref as _weakref
from typing import Any, Optional, Sequence, Tuple, Union

from . import _core

__all__ = ["Map", "Error", "RowStats", "Server", "devices", "load", "view", "serve", "show", "synthetic", "__version__"]
__version__ = "0.1.0"

Error = _core.Error
Error.__doc__ = "A problem attnscope found (bad input, a device it cannot use): one line saying what and what to do."

_HERE = _os.path.dirname(_os.path.abspath(__file__))
_core._set_resource_root(_HERE)  # the wheel keeps shaders/ and data/ beside this file

_engines: dict = {}


def _engine(device: Optional[Union[int, str]]) -> "_core.Engine":
    key = "" if device is None else str(device)
    if key not in _engines:
        _engines[key] = _core.Engine(key)
    return _engines[key]


def devices() -> list:
    """The Vulkan devices attnscope can use, as dicts (index, name, type, vulkan, chosen).

    The chosen one is what ``Map(..., device=None)`` uses: the best GPU, else the CPU device
    (lavapipe). Pass ``device=`` an index or part of a name to choose another."""
    return _core.devices("")


def _as_array(x: Any, name: str) -> Any:
    """numpy arrays pass as they are; torch tensors are detached and, when on a GPU, copied
    to the host (the engine reads host memory). Both are read through their strides, without a copy."""
    if x is None:
        return None
    mod = type(x).__module__
    if mod.startswith("torch"):
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        return x
    if hasattr(x, "__array_interface__") or hasattr(x, "__dlpack__") or hasattr(x, "__array__"):
        if not hasattr(x, "__array_interface__") and not hasattr(x, "__dlpack__"):
            import numpy as np
            x = np.asarray(x)
        return x
    if isinstance(x, (list, tuple)):
        raise TypeError(f"{name} is a Python {type(x).__name__}: give a numpy array or a torch tensor of shape [n, d]")
    raise TypeError(f"{name} is a {type(x).__name__}: give a numpy array or a torch tensor of shape [n, d]")


def _span(s: Any, n: int, what: str) -> Tuple[int, int]:
    """rows/cols as None (all), a slice with step 1, a (begin, end) pair or one index."""
    if s is None:
        return 0, n
    if isinstance(s, slice):
        if s.step not in (None, 1):
            raise ValueError(f"{what}={s!r}: attnscope computes contiguous rectangles (step 1)")
        b, e, _ = s.indices(n)
        return b, e
    if isinstance(s, (tuple, list)) and len(s) == 2:
        b, e = int(s[0]), int(s[1])
    elif isinstance(s, int) or hasattr(s, "__index__"):
        b = int(s)
        if b < 0:
            b += n
        e = b + 1
    else:
        raise TypeError(f"{what}={s!r}: give a slice, a (begin, end) pair or an index")
    if not (0 <= b < e <= n):
        raise ValueError(f"{what}={s!r} is not a non-empty range inside the map's {n} {what}")
    return b, e


class RowStats(tuple):
    """Per query row: ``max_logit`` (the largest logit), ``logsumexp`` (log Σ_j exp s_ij) and
    ``entropy`` (of the row's softmax, in nats, 0 to log n). float64 arrays of length n;
    NaN for rows without keys (queries a capture does not hold)."""
    __slots__ = ()

    def __new__(cls, max_logit, logsumexp, entropy):
        return tuple.__new__(cls, (max_logit, logsumexp, entropy))

    max_logit = property(lambda self: self[0])
    logsumexp = property(lambda self: self[1])
    entropy = property(lambda self: self[2])

    def __repr__(self) -> str:
        return f"RowStats(n={len(self[0])}, max_logit=..., logsumexp=..., entropy=...)"


class Map:
    """One attention head's map softmax(q kᵀ · scale / temperature), evaluated exactly on demand.

    q, k (and v): numpy arrays or torch tensors of shape [n, d], or [heads, n, d] with
    ``head=``; float32, float16 or bfloat16 (float64 is rounded to float32). Any strides.
    mask: "causal" (default), "none", "window" (causal sliding window of ``window`` keys) or
    "window-both" (|i − j| < window). scale: default 1/√d. softcap: logits become
    C·tanh(s/C) before the temperature (Gemma 2). tokens: one string per position, for
    labels. device: an index or part of a name from :func:`devices`.

    Nothing of size n² is ever stored: a 100 000-token map needs Q and K (and the pictures
    asked for), not the 40 GB matrix."""

    def __init__(self, q: Any, k: Any, v: Any = None, *, head: Optional[int] = None,
                 mask: str = "causal", window: Optional[int] = None, scale: Optional[float] = None,
                 temperature: float = 1.0, softcap: Optional[float] = None,
                 tokens: Optional[Sequence[str]] = None, device: Optional[Union[int, str]] = None,
                 title: Optional[str] = None) -> None:
        qa, ka, va = _as_array(q, "q"), _as_array(k, "k"), _as_array(v, "v")
        if tokens is not None:
            tokens = [str(t) for t in tokens]
        if title is None:
            shape = "x".join(str(s) for s in getattr(qa, "shape", ()))
            kind = "torch" if type(qa).__module__.startswith("torch") else "numpy"
            title = f"{kind} q [{shape}]" + (f", head {head}" if head is not None else "")
        self._core = _core.MapCore.from_arrays(
            _engine(device), qa, ka, va, head, mask, window, scale, float(temperature), softcap, tokens, title)

    @classmethod
    def _from_core(cls, core: "_core.MapCore") -> "Map":
        m = cls.__new__(cls)
        m._core = core
        return m

    # --- what the map is -----------------------------------------------------------------
    n = property(lambda self: self._core.n, doc="Tokens: the map is n × n.")
    d = property(lambda self: self._core.d, doc="Head dimension.")
    mask = property(lambda self: self._core.mask, doc="none, causal, window or window-both.")
    window = property(lambda self: self._core.window, doc="Window width of the window masks, else None.")
    scale = property(lambda self: self._core.scale, doc="The scale applied to q·k (default 1/√d).")
    temperature = property(lambda self: self._core.temperature)
    softcap = property(lambda self: self._core.softcap)
    tokens = property(lambda self: list(self._core.tokens), doc="Printable tokens (empty without any).")
    device = property(lambda self: self._core.device_name, doc="The Vulkan device computing this map.")

    def __repr__(self) -> str:
        extra = f", window={self.window}" if self.window else ""
        cap = f", softcap={self.softcap:g}" if self.softcap else ""
        return (f"attnscope.Map(n={self.n}, d={self.d}, mask={self.mask!r}{extra}, scale={self.scale:.6g}, "
                f"temperature={self.temperature:g}{cap}, device={self.device!r})")

    # --- exact numbers -------------------------------------------------------------------
    def probs(self, rows: Any = None, cols: Any = None):
        """The exact probabilities p_ij of a rectangle as a float32 numpy array [rows, cols]
        (masked cells 0). rows/cols: slices, (begin, end) pairs or indices; at most 2^30 cells."""
        r0, r1 = _span(rows, self.n, "rows")
        c0, c1 = _span(cols, self.n, "cols")
        return self._core.cells(r0, r1, c0, c1, False)

    def logits(self, rows: Any = None, cols: Any = None):
        """The logits s_ij = q_i·k_j · scale (soft-capped, divided by the temperature) of a
        rectangle, float32 [rows, cols]; masked cells are -inf."""
        r0, r1 = _span(rows, self.n, "rows")
        c0, c1 = _span(cols, self.n, "cols")
        return self._core.cells(r0, r1, c0, c1, True)

    def row_stats(self) -> RowStats:
        """Every row's max logit, log-sum-exp and entropy (see :class:`RowStats`), exact, in
        one pass over the map that never stores it."""
        return RowStats(*self._core.row_stats())

    def output(self, rows: Any = None):
        """The attention output O_i = Σ_j p_ij v_j for the rows asked, float32 [rows, d]. Needs v."""
        r0, r1 = _span(rows, self.n, "rows")
        return self._core.output(r0, r1)

    def received(self):
        """The attention each key receives from all queries, Σ_i p_ij, exact (float64, length n).
        Attention sinks stand out; a uniform map gives about n/2 per key under a causal mask."""
        return self._core.received()

    # --- pictures ------------------------------------------------------------------------
    def image(self, rows: Any = None, cols: Any = None, width: int = 1024, height: int = 1024, agg: str = "mean",
              colormap: str = "viridis", scale: str = "log", vmin: Optional[float] = None,
              vmax: Optional[float] = None):
        """The figure ``attnscope render`` draws of the same view, as an RGBA uint8 numpy array
        [height, width, 4]: each pixel the exact max or mean of the cells it covers, with
        axes, token labels when cells are wide, and a colour bar."""
        r0, r1 = _span(rows, self.n, "rows")
        c0, c1 = _span(cols, self.n, "cols")
        return self._core.image(r0, r1, c0, c1, int(width), int(height), agg, colormap, scale, vmin, vmax)

    def render(self, rows: Any = None, cols: Any = None, width: int = 1024, height: int = 1024, agg: str = "mean",
               colormap: str = "viridis", scale: str = "log", vmin: Optional[float] = None,
               vmax: Optional[float] = None) -> bytes:
        """The same figure as :meth:`image`, as PNG bytes (``open(f, "wb").write(m.render())``)."""
        return _core.encode_png(self.image(rows, cols, width, height, agg, colormap, scale, vmin, vmax))

    def _repr_png_(self) -> bytes:
        return self.render(width=720, height=720)

    def view(self, width: int = 1280, height: int = 800, **style: Any) -> None:
        """Opens the native viewer on this map (see :func:`view`)."""
        view(self, width=width, height=height, **style)

    def show(self, height: int = 720, **kwargs: Any) -> None:
        """The browser viewer in a Jupyter output cell (see :func:`show`)."""
        show(self, height=height, **kwargs)


def load(path: str, layer: Optional[int] = None, head: int = 0, *, mask: Optional[str] = None,
         window: Optional[int] = None, scale: Optional[float] = None, temperature: Optional[float] = None,
         softcap: Optional[float] = None, override_metadata: bool = False, tokens: Optional[str] = None,
         device: Optional[Union[int, str]] = None) -> Map:
    """A Map of one head of one layer of a capture written by tools/export_qk.py (or any
    .safetensors file whose tensors are named like q/k/v per layer).

    The capture's metadata (mask, window, scale, soft cap, rotary state) is applied; an
    argument that contradicts it is an error unless ``override_metadata=True``. Tokens come
    from ``tokens`` (a .json list or one token per line), else from the capture's own
    FILE.tokens.json when it exists."""
    p = _os.fspath(path)
    if not _os.path.exists(p):
        raise FileNotFoundError(f"no such file: '{p}'")
    if tokens is not None and not _os.path.exists(tokens):
        raise FileNotFoundError(f"no such token file: '{tokens}'")
    core = _core.MapCore.from_capture(_engine(device), p, layer, int(head), mask, window, scale, temperature, softcap,
                                      bool(override_metadata), tokens or "")
    return Map._from_core(core)


def view(m: Map, width: int = 1280, height: int = 800, *, agg: str = "mean", colormap: str = "viridis",
         scale: str = "log", vmin: Optional[float] = None, vmax: Optional[float] = None,
         screenshot: Optional[str] = None, script: Optional[str] = None) -> None:
    """Opens the native viewer (the window of ``attnscope view``) on a map and returns when it
    is closed. Needs a display: raises :class:`Error` without one (on a server, use
    ``render``/``image`` instead). ``screenshot=PNG`` writes the settled view and closes;
    ``script=JSON`` replays a camera path as ``attnscope view --script`` does."""
    if not (_os.environ.get("DISPLAY") or _os.environ.get("WAYLAND_DISPLAY")):
        raise Error("no display (neither DISPLAY nor WAYLAND_DISPLAY is set): attnscope.view needs a desktop session; "
                    "use Map.render() or Map.image() for pictures instead")
    m._core.view(int(width), int(height), agg, colormap, scale, vmin, vmax, screenshot or "", script or "")


def synthetic(n: int, preset: str = "mixed", d: int = 64, *, heads: int = 1, head: int = 0, seed: int = 1,
              device: Optional[Union[int, str]] = None):
    """Q, K, V (float32 numpy arrays [n, d]) of a synthetic head, as the command line's
    ``--preset`` builds them: token embeddings plus sinusoidal positions, projected per head.
    presets: local (previous tokens), sink (the first token), broad, mixed."""
    return _core.synthetic(_engine(device), int(n), preset, int(d), int(heads), int(head), int(seed))


# --- the browser viewer (attnscope serve, inside this process) ------------------------------

_live_servers: "_weakref.WeakSet[Server]" = _weakref.WeakSet()


def _web_dir() -> str:
    """The browser client: the wheel's own copy beside this file, else the build tree's."""
    for d in (_os.path.join(_HERE, "web"), _core.build_web_dir()):
        if _os.path.isfile(_os.path.join(d, "index.html")) and _os.path.isfile(_os.path.join(d, "app.js")):
            return d
    return ""


class Server:
    """The browser viewer of one :class:`Map`, served by this Python process: the tiles,
    strips, hover readout and controls of ``attnscope serve``, computed on a device context of
    the server's own (with its own copy of Q and K) by a thread that leaves the interpreter
    free. Made by :func:`serve`; :func:`show` puts it in a notebook cell.

    ``url`` carries the access token every request needs. The server listens on loopback
    unless ``host=`` said otherwise; it stops with :meth:`stop`, when its map and every
    reference to it are gone, or when Python exits."""

    def __init__(self, core: "_core.MapServer", has_client: bool) -> None:
        self._core = core
        self.has_client = has_client
        _live_servers.add(self)

    url = property(lambda self: self._core.url, doc="The page, with its access token.")
    port = property(lambda self: self._core.port)
    host = property(lambda self: self._core.host)
    token = property(lambda self: self._core.token, doc="Required on every request (?token= or a Bearer header).")
    running = property(lambda self: self._core.running)

    def stop(self) -> None:
        """Stops listening, cancels the tiles under way and frees the device (idempotent)."""
        self._core.stop()

    def frame_url(self) -> str:
        """The page's address as a notebook's browser reaches it. With ATTNSCOPE_PROXY_URL set
        (for example ``/proxy/{port}/`` under jupyter-server-proxy, when the browser is not on
        the kernel's machine) the page goes through that proxy; else it is :attr:`url`."""
        proxy = _os.environ.get("ATTNSCOPE_PROXY_URL")
        if proxy:
            return proxy.format(port=self.port) + "?token=" + self.token
        return self.url

    def _iframe(self, height: int = 720) -> str:
        src = _html.escape(self.frame_url(), quote=True)
        return (f'<iframe src="{src}" width="100%" height="{int(height)}" style="border: 1px solid #ddd" '
                f'title="attnscope viewer"></iframe>')

    def _repr_html_(self) -> str:
        return self._iframe()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"attnscope.Server({self.url!r}, {state})"

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(m: Map, *, port: int = 0, host: str = "127.0.0.1") -> Server:
    """Serves the browser viewer of a map from this process and returns its :class:`Server`
    (``.url`` to open, ``.stop()``). One server per map: asking again returns the running one,
    and any number of tabs or cells may show it. port 0 takes any free port; a host other
    than loopback still needs the token. The whole-map sweep starts at once, in the
    background."""
    if not isinstance(m, Map):
        raise TypeError(f"serve() takes an attnscope.Map, not a {type(m).__name__}")
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"port={port} is not a TCP port: give 0 (any free one) to 65535")
    old = getattr(m, "_server", None)
    if old is not None and old.running and host == old.host and port in (0, old.port):
        return old
    web = _web_dir()
    s = Server(_core.MapServer(m._core, str(host), int(port), web), bool(web))
    m._server = s
    return s


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and hasattr(ip, "kernel")


def show(m: Map, *, height: int = 720, port: int = 0, host: str = "127.0.0.1") -> None:
    """The browser viewer of a map in a Jupyter output cell: zoom with the wheel about the
    cursor, drag to pan, hover a cell for i, j, tokens, p and the logit, switch the mask,
    window, temperature or soft cap. The page is served by :func:`serve` (one server per map,
    kept until the map goes); the browser must reach the kernel's machine, directly or through
    ``ATTNSCOPE_PROXY_URL`` (see :meth:`Server.frame_url`). Outside a notebook it prints the URL."""
    s = serve(m, port=port, host=host)
    if not s.has_client:
        raise Error("this attnscope was built without its browser client (web/node_modules was missing): "
                    "run `npm ci` in web/ (./setup.sh does) and build or pip install again")
    if _in_notebook():
        from IPython.display import HTML, display
        display(HTML(s._iframe(height)))
    else:
        print(f"attnscope: the viewer is at {s.url}")


@_atexit.register
def _stop_servers() -> None:
    for s in list(_live_servers):
        s.stop()

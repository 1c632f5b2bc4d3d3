"""`pip install .` as a user runs it, into a fresh virtual environment, then the installed
package used from outside the repository: it must list lavapipe and compute a map with the
shaders, data and browser client the wheel carries (not the source tree's).

The build backend (scikit-build-core, nanobind: python/requirements-dev.txt) comes from the
test's own Python instead of PyPI (--no-build-isolation), so the test needs no network, and
the CMake build folder is kept under the build tree so a rerun only rebuilds what changed.

    .venv/bin/python tests/python/test_pip_install.py [BUILD_DIR]
"""
import os
import shutil
import site
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

CHECK = r"""
import os, numpy as np, attnscope
pkg = os.path.dirname(attnscope.__file__)
assert "site-packages" in pkg, pkg
for f in ("shaders/include/common.glsl", "data/colormaps.json", "py.typed", "_core.pyi", "web/index.html", "web/app.js"):
    assert os.path.exists(os.path.join(pkg, f)), f + " is missing from the wheel"
devs = attnscope.devices()
print(devs)
assert any("llvmpipe" in d["name"] for d in devs)
rng = np.random.default_rng(0)
q, k = rng.standard_normal((50, 8), np.float32), rng.standard_normal((50, 8), np.float32)
s = q.astype(np.float64) @ k.T.astype(np.float64) / np.sqrt(8)
s[np.triu_indices(50, 1)] = -np.inf
p = np.exp(s - s.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
err = np.abs(attnscope.Map(q, k).probs() - p).max()
assert err < 2e-6, err
assert attnscope.Map(q, k).render(width=256, height=256)[:4] == b"\x89PNG"
# The browser viewer, its page from the wheel's own copy of the client.
import urllib.request
assert attnscope._web_dir() == os.path.join(pkg, "web"), attnscope._web_dir()
with attnscope.serve(attnscope.Map(q, k)) as srv:
    page = urllib.request.urlopen(srv.url, timeout=60).read()
    assert srv.token.encode() in page, page[:200]
    js = urllib.request.urlopen(srv.url.replace("/?token=", "/app.js?token="), timeout=60).read()
    assert js == open(os.path.join(pkg, "web", "app.js"), "rb").read()
print("installed package OK, max |p - reference| =", err, "; viewer served at", srv.url.split("?")[0])
"""


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    venv = os.path.join(build, "pip-test-venv")
    shutil.rmtree(venv, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--system-site-packages", venv], check=True)  # numpy from Debian
    py = os.path.join(venv, "bin", "python")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(site.getsitepackages()))  # the build backend
    t0 = time.time()
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                        "--disable-pip-version-check", "-q", f"--config-settings=build-dir={build}/pip-build", ROOT],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"pip install . failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    print(f"pip install . took {time.time() - t0:.0f} s")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ATTNSCOPE_SHADER_DIR", "ATTNSCOPE_DATA_DIR")}
    with tempfile.TemporaryDirectory() as elsewhere:
        r = subprocess.run([py, "-c", CHECK], cwd=elsewhere, env=env, capture_output=True, text=True)
    print(r.stdout)
    if r.returncode != 0 or "Validation" in r.stderr:
        sys.exit(f"the installed package failed:\n{r.stderr[-3000:]}")
    shutil.rmtree(venv, ignore_errors=True)


if __name__ == "__main__":
    main()

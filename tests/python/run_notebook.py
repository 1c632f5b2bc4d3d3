"""Executes a notebook (docs/attnscope.ipynb) cell by cell in a Jupyter kernel of this Python
(nbclient and ipykernel from Debian), from the notebook's folder, as a reader would. Fails on
the first cell that raises, and when a cell meant to show a picture shows none.

    PYTHONPATH=build/python .venv/bin/python tests/python/run_notebook.py docs/attnscope.ipynb [--write OUT.ipynb]
"""
import json
import os
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient


def main():
    path = os.path.abspath(sys.argv[1])
    out = sys.argv[sys.argv.index("--write") + 1] if "--write" in sys.argv else None
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as jupyter:
        # A kernel spec that runs this interpreter (Debian's names /usr/bin/python3, which
        # does not see the virtual environment).
        spec = os.path.join(jupyter, "kernels", "attnscope-test")
        os.makedirs(spec)
        with open(os.path.join(spec, "kernel.json"), "w") as f:
            json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                       "display_name": "attnscope test", "language": "python"}, f)
        os.environ["JUPYTER_PATH"] = jupyter
        # The kernel runs in the notebook's folder: relative entries would point elsewhere.
        if os.environ.get("PYTHONPATH"):
            os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep))
        os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger notice
        client = NotebookClient(nb, timeout=900, kernel_name="attnscope-test",
                                resources={"metadata": {"path": os.path.dirname(path)}})
        t0 = time.time()
        client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, c in enumerate(code):
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                sys.exit(f"cell {i + 1} raised {o.get('ename')}: {o.get('evalue')}")
    pictures = sum(1 for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    shows = sum(1 for c in code if "render(" in c.source or c.source.rstrip().split("\n")[-1].startswith("m "))
    print(f"{len(code)} code cells ran in {time.time() - t0:.1f} s; {pictures} pictures")
    for c in code:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                print("  " + o["text"].rstrip().replace("\n", "\n  "))
    if pictures < shows:
        sys.exit(f"{shows} cells should show a picture, {pictures} did")
    # attnscope.show(...) puts the browser viewer in the cell: an iframe with its access token.
    for i, c in enumerate(code):
        if "attnscope.show(" in c.source:
            html = "".join(o.get("data", {}).get("text/html", "") for o in c.get("outputs", []))
            if "<iframe" not in html or "?token=" not in html:
                sys.exit(f"cell {i + 1} calls attnscope.show but shows no viewer: {html[:200]!r}")
            print(f"  cell {i + 1} shows the viewer: {html[:120]}...")
    if out:
        nbformat.write(nb, out)


if __name__ == "__main__":
    main()

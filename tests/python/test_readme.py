"""The README's real-model walkthrough, run as written: the shell block after the marker
`<!-- walkthrough -->` in README.md, with MODEL set to a tiny random Qwen2 saved like a
downloaded one (the README's MODEL= line is replaced; ./setup.sh lines were run already by
the test command itself), in a scratch folder that links build/, tools/ and .venv/. The
viewer line runs under Xvfb with --screenshot so that it ends by itself.

    ATTNSCOPE_BINARY=build/app/attnscope .venv/bin/python tests/python/test_readme.py
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import tiny_models  # noqa: E402


def walkthrough():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- walkthrough -->\s*```sh\n(.*?)```", text, re.S)
    if not m:
        raise AssertionError("README.md has no '<!-- walkthrough -->' shell block")
    lines = []
    for line in m.group(1).splitlines():
        line = line.split("  #")[0].rstrip()  # the README's comments
        if line:
            lines.append(line)
    return lines


class Readme(unittest.TestCase):
    def test_the_real_model_walkthrough_runs_as_written(self):
        lines = walkthrough()
        self.assertTrue(any("export_qk.py" in l for l in lines))
        self.assertTrue(any(l.startswith("MODEL=") for l in lines))
        with tempfile.TemporaryDirectory() as tmp:
            model = tiny_models.build("qwen2", os.path.join(tmp, "Qwen2-tiny"))
            for name, target in (("build", os.path.join(ROOT, "build")), ("tools", os.path.join(ROOT, "tools")),
                                 (".venv", sys.prefix)):
                os.symlink(target, os.path.join(tmp, name))
            with open(os.path.join(tmp, "essay.txt"), "w") as f:
                f.write(tiny_models.text(400))
            env = {**os.environ, "MODEL": model}
            for line in lines:
                if line.startswith("./setup.sh"):
                    continue
                if line.startswith("MODEL="):
                    continue  # MODEL is the tiny model
                if " view " in line:
                    line = ("xvfb-run -a -s '-screen 0 1600x1000x24' " + line +
                            f" --screenshot {shlex.quote(os.path.join(tmp, 'view.png'))}")
                r = subprocess.run(["bash", "-c", line], cwd=tmp, env=env, capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, f"README line failed: {line}\n{r.stderr}")
                self.assertNotIn("validation", r.stderr, line)
            for made in ("essay.safetensors", "essay.tokens.json", "essay-layer0-head3.png", "essay-layer0.npy",
                         "essay-end.safetensors", "essay-end.png", "view.png"):
                self.assertTrue(os.path.exists(os.path.join(tmp, made)), made)


if __name__ == "__main__":
    unittest.main()

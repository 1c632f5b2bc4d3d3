#!/usr/bin/python3
"""Regenerates data/colormaps.json: 256 sRGB entries per colormap.

viridis, magma, inferno, plasma and cividis are the perceptually uniform maps by
Stéfan van der Walt, Nathaniel Smith and Jamie Nuñez (CC0); their tables are read from
Debian's python3-matplotlib. grayscale is computed here.

    /usr/bin/python3 tools/make_colormaps.py > data/colormaps.json
"""
import json

from matplotlib import colormaps

maps = {}
for name in ["viridis", "magma", "inferno", "plasma", "cividis"]:
    cmap = colormaps[name]
    maps[name] = [[round(c * 255) for c in cmap(i / 255)[:3]] for i in range(256)]
maps["grayscale"] = [[i, i, i] for i in range(256)]
print(json.dumps({"note": "256 sRGB entries per map, low to high; see tools/make_colormaps.py",
                  "colormaps": maps}, separators=(",", ":")))

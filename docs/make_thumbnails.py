"""Small copies of the paper figures for the README: python docs/make_thumbnails.py [FIGURES_DIR].

FIGURES_DIR defaults to results/jansen_rit_C_rms/figures/paper (made by `snakemake --cores N` on config/config.yaml);
the thumbnails go to docs/figures/, 360 px wide, 64 colours (a few kB each).
"""

import sys
from pathlib import Path

from PIL import Image

from eegfit.plots import PAPER_FIGURES

source = Path(sys.argv[1] if len(sys.argv) > 1 else "results/jansen_rit_C_rms/figures/paper")
target = Path(__file__).parent / "figures"
target.mkdir(exist_ok=True)
for name in PAPER_FIGURES:
    image = Image.open(source / f"{name}.png").convert("RGB")
    width = 360
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(target / f"{name}.png",
                                                                    optimize=True)

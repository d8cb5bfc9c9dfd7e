"""Package-wide defaults, in a module that imports nothing, so that the command line can build its
parser (and answer --help) without loading torch or the models."""

DEFAULT_MODEL = "confopt"  # the learned model that beats ETKDG+MMFF on held-out COV/MAT (README)

START_TIMEOUT = 5.0  # seconds per ETKDG attempt; a molecule past it is reported, not evaluated (strained,
# stereo-specified QM9 cages can take minutes: ~7% of QM9 molecules pass 1 s)

MMFF_MAX_ITERS = 2000  # MMFF94 polish of generated conformers (generate --mmff, optimize --model rdkit-mmff):
# rough samples need more than RDKit's default 200 steps to reach their minimum

"""conformer_kernels is a drop-in for other projects: importing it and running its ops needs torch
and numpy only (RDKit only where a Mol is passed); the heavy dependencies of `conformers` stay out."""
import subprocess
import sys

BLOCKED = ("rdkit", "scipy", "networkx", "yaml", "matplotlib", "torchdiffeq", "conformers")

SCRIPT = f"""
import sys
for name in {BLOCKED!r}:
    sys.modules[name] = None  # any import of it now fails
import torch
import conformer_kernels as ck
P = torch.randn(4, 6, 3, dtype=torch.float64)
assert ck.rmsd(P, P + 0.1).shape == (4,)
index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
assert ck.vector_aggregation(torch.randn(3, 3), index, torch.ones(4)).shape == (3, 3)
assert ck.automorphisms((torch.tensor([6, 6, 6]), torch.tensor([[0, 1], [1, 2]]))).shape == (2, 3)  # a plain graph
print("ok")
"""


def test_import_and_ops_need_only_torch_and_numpy():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-2000:]

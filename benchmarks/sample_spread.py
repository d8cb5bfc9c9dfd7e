"""How far apart a model's samples of one molecule are (issue 17: is DMCG's latent used?).

For each model: the mean pairwise heavy-atom symmetric RMSD (A) of n raw samples per molecule
(model.sample, no stereo policy or MMFF). For DMCG models also the spread due to z alone: one
prior start, z drawn `--z-draws` times, decoded, mean pairwise RMSD. A model whose decoder ignores
z has a z spread near 0 however large its KL.

    .venv/bin/python benchmarks/sample_spread.py rdkit dmcg runs/dmcg_fb05/best.pt
"""
import argparse

import numpy as np
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformers.models import load_model
from conformers.models.base import sample_copies
from conformers.models.common import BondGraph

QM9_SIZED = ("CC(C)C(O)CC#N", "OCC1CCC(=O)N1", "CCOC(=O)C(C)O", "CCCC(=O)NCCO", "CC(O)CC(=O)OCC")


def mean_pairwise_rmsd(X: torch.Tensor, perms: torch.Tensor) -> float:
    """X (K, N, 3) heavy-atom conformers of one molecule: the mean RMSD over its K(K-1)/2 pairs."""
    D = ck.rmsd_matrix(X, X, perms=perms).numpy()
    return float(D[np.triu_indices(len(X), 1)].mean())


def sample_spread(model, mol: Chem.Mol, n: int) -> float:
    out = Chem.RemoveHs(model.sample([mol], n, seed=0)[0])
    X = torch.tensor(np.stack([c.GetPositions() for c in out.GetConformers()]))
    return mean_pairwise_rmsd(X, ck.automorphisms(out))


@torch.no_grad()
def z_spread(model, mol: Chem.Mol, draws: int) -> float:
    """DMCG: one prior start, `draws` latents z ~ N(0, I) x sample_scale, decoded."""
    decoded = {}

    def run(batch):
        graph, generator = BondGraph.of(batch), torch.Generator().manual_seed(0)
        h, e, u, prior = model._prior(batch, graph, generator)
        zs = [torch.randn(graph.num_graphs, h.shape[1], generator=generator) * model.config["sample_scale"]
              for _ in range(draws)]
        decoded["x"] = torch.stack([model.decoder.run(graph, h, e, u, prior[-1], z)[3][-1] for z in zs])
        return decoded["x"][0]

    model.eval()
    sample_copies([mol], 1, ("bond",), run, None, torch.device("cpu"), None)
    return mean_pairwise_rmsd(decoded["x"].double(), ck.automorphisms(mol))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="registered model names or checkpoint paths")
    parser.add_argument("-n", type=int, default=20, help="samples per molecule")
    parser.add_argument("--z-draws", type=int, default=8)
    parser.add_argument("--smiles", nargs="+", default=list(QM9_SIZED))
    args = parser.parse_args()
    torch.set_num_threads(1)
    mols = [Chem.MolFromSmiles(s) for s in args.smiles]
    for name in args.models:
        model = load_model(name)
        spreads = " ".join(f"{sample_spread(model, m, args.n):.2f}" for m in mols)
        line = f"{name}: sample spread (A) {spreads}"
        if model.name == "dmcg":
            line += "; z alone " + " ".join(f"{z_spread(model, m, args.z_draws):.3f}" for m in mols)
        print(line)


if __name__ == "__main__":
    main()

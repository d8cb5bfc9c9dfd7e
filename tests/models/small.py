"""Small configurations of every trainable model and a real batch for each, shared by the
device and precision tests."""
import torch

from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, load_split, nci_xtb
from conformers.models import create_model

SMALL = {"dmcg": dict(dim=32, mlp_hidden=64, layers=2, heads=4),
         "confopt": dict(hidden=32, heads=4, blocks=1, layers=2),
         "confopt-generation": dict(hidden=32, heads=4, blocks=1, layers=2, samples=2),
         "confgf": dict(hidden=32, convs=2),
         "confvae": dict(hidden=16, latent=4, layers=2, inner_steps=10, solver="rk4", ode_steps=4)}


def small(name):
    torch.manual_seed(0)
    return create_model(name, **SMALL[name])


def batch_for(model, count=6):
    """``count`` items of nci-xtb qm9's train split, as ``model`` consumes them."""
    spec = model.data_spec
    cache_dir, split_file = nci_xtb("qm9")
    selection = Selection(spec.selection, k=spec.k, mass=spec.mass, ratio=spec.ratio)
    ds = ConformerDataset.from_split(MoleculeCache(cache_dir), load_split(split_file), "train", selection=selection,
                                     mode=spec.mode)
    return Collater(ds, spec.edges, spec.mols)([ds[k] for k in range(count)])

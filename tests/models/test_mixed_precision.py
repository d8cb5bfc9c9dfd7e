"""Every trainable model trains under bfloat16 autocast (what train.precision auto picks on this
CPU and on GPUs): the loss is finite, near the float32 loss of the same random draws, and every
gradient is finite. ConfOpt's closer check is in test_confopt.py."""
import pytest
import torch

from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, load_split, nci_xtb
from conformers.models import create_model

SMALL = {"dmcg": dict(dim=32, mlp_hidden=64, layers=2, heads=4),
         "confopt-generation": dict(hidden=32, heads=4, blocks=1, layers=2, samples=2),
         "confgf": dict(hidden=32, convs=2),
         "confvae": dict(hidden=16, latent=4, layers=2, inner_steps=10, solver="rk4", ode_steps=4)}


def _batch(model, count=6):
    spec = model.data_spec
    cache_dir, split_file = nci_xtb("qm9")
    selection = Selection(spec.selection, k=spec.k, mass=spec.mass, ratio=spec.ratio)
    ds = ConformerDataset.from_split(MoleculeCache(cache_dir), load_split(split_file), "train", selection=selection,
                                     mode=spec.mode)
    return Collater(ds, spec.edges, spec.mols)([ds[k] for k in range(count)])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_bfloat16_autocast_trains(name):
    torch.manual_seed(0)
    model = create_model(name, **SMALL[name]).eval()  # eval: no dropout, the same draws both ways
    batch = _batch(model)
    torch.manual_seed(1)
    with torch.no_grad():
        full = float(model(batch)["loss"])
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    out["loss"].float().backward()
    assert torch.isfinite(out["loss"]) and abs(float(out["loss"]) - full) <= 0.1 * abs(full) + 1e-3, (float(out["loss"]), full)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())

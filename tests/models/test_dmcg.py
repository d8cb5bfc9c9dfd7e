"""DMCG: a batch of real molecules trains (with and without the permutation term of l_RTP), the
coordinate updates re-centre, the KL weight follows its schedule, and sampling returns finite
conformers in the molecule's atom order, many molecules batched together."""
import math

import numpy as np
import pytest
import torch
from rdkit import Chem

from conformers.data import Collater, ConformerDataset, MoleculeCache, load_split, nci_xtb
from conformers.models import create_model
from conformers.models.dmcg.layers import recentred_update


@pytest.fixture(scope="module")
def batch():
    cache_dir, split_file = nci_xtb("drugs")
    ds = ConformerDataset.from_split(MoleculeCache(cache_dir), load_split(split_file), "train")
    return Collater(ds, ("bond",))([ds[k] for k in range(0, 60, 6)])  # 10 conformers of drug-like molecules


def small(**kw):
    torch.manual_seed(0)
    return create_model("dmcg", dim=32, mlp_hidden=64, layers=2, heads=4, **kw)


@pytest.mark.parametrize("permutation_loss", [True, False])
def test_forward_backward_and_training_on_real_molecules(batch, permutation_loss):
    model = small(permutation_loss=permutation_loss)
    out = model(batch)
    assert set(out) >= {"loss", "final", "prior", "kl"} and all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), \
        [name for name, g in grads.items() if g is None]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        torch.manual_seed(1)
        optimizer.zero_grad()
        loss = model(batch)["loss"]
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert np.mean(losses[-3:]) < losses[0]


def test_extended_encoder_reads_the_two_and_three_hop_pairs():
    """encoder_edges="extended": the data carry the extended graph, phi_3D embeds its edges by type
    (bond types, 2-hop, 3-hop) and trains with the rest; the prior and decoder are the bond-graph
    model's, so their weights load from it; a nonsense value is refused by name."""
    cache_dir, split_file = nci_xtb("drugs")
    ds = ConformerDataset.from_split(MoleculeCache(cache_dir), load_split(split_file), "train")
    model = small(encoder_edges="extended")
    assert model.data_spec.edges == ("bond", "extended")
    batch = Collater(ds, model.data_spec.edges)([ds[k] for k in range(0, 60, 6)])
    assert batch.extended_index.shape[1] > batch.bond_index.shape[1]
    out = model(batch)
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.encoder.parameters()
               if p.requires_grad and p is not model.encoder.global_state)
    assert model.encoder.edge_type_embedding.weight.grad.abs().sum() > 0
    bond_model = small()
    shared = {k: v for k, v in bond_model.state_dict().items() if not k.startswith(("encoder.", "latent."))}
    assert all(model.state_dict()[k].shape == v.shape for k, v in shared.items())
    with pytest.raises(ValueError, match="encoder_edges"):
        small(encoder_edges="full")


def test_bond_and_angle_terms_measure_local_geometry_only(batch):
    """Zero on the reference and unchanged by a rigid motion, positive for a stretched copy; with
    their weights on, they join the loss and its gradients."""
    from conformers.models.common import BondGraph
    from conformers.models.dmcg.model import local_geometry_errors

    graph, pos = BondGraph.of(batch), batch.pos
    rotation = torch.linalg.qr(torch.randn(3, 3, dtype=pos.dtype, generator=torch.Generator().manual_seed(0)))[0]
    for x in (pos, pos @ rotation.T + 2.0):
        assert all(float(v) < 1e-5 for v in local_geometry_errors(x, pos, graph))
    bond, angle = local_geometry_errors(pos * 1.1, pos, graph)
    assert float(bond) > 0.1 and float(angle) < 1e-5  # scaling keeps angles
    out = small(bond_weight=0.1, angle_weight=0.2)(batch)
    assert {"bond", "angle"} <= set(out) and torch.isfinite(out["loss"])
    out["loss"].backward()


def test_permutation_term_never_exceeds_identity(batch):
    """l_RTP minimises over the automorphisms, the identity among them: on the same prediction it
    is never larger than the 'No l_P' loss."""
    model = small()
    model.eval()
    x = model.generate_batch(batch, torch.Generator().manual_seed(0))
    with_p = model._rtp(x, batch, model._permutations(batch))
    model.config["permutation_loss"] = False
    without = model._rtp(x, batch, model._permutations(batch))
    assert float(with_p) <= float(without) + 1e-6


def test_coordinate_update_recentres_the_step():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 3)
    h, x = torch.randn(7, 8), torch.randn(7, 3)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    new = recentred_update(head, h, x, batch, 2)
    for b in range(2):
        torch.testing.assert_close(new[batch == b].mean(0), x[batch == b].mean(0))


def test_kl_weight_rises_on_a_cosine():
    model = small(beta_min=1e-4, beta_max=0.05)
    values = []
    for step in (0, 250, 500, 1000):
        model.set_training_progress(step, 1000)
        values.append(model.beta)
    assert values[0] == pytest.approx(1e-4) and values[-1] == pytest.approx(0.05)
    assert values[2] == pytest.approx(1e-4 + (0.05 - 1e-4) / 2)
    assert all(a < b for a, b in zip(values, values[1:]))
    model.set_training_progress(5000, 1000)  # clamped past the end
    assert model.beta == pytest.approx(0.05) and not math.isnan(model.beta)


def test_free_bits_floor_each_latent_dimension_in_the_loss(batch):
    """free_bits: each latent dimension's KL enters the loss as at least the floor; the logged KL
    stays the plain one. With a floor above every dimension's KL, the loss differs from the plain
    one by exactly beta * (dim * floor - KL)."""
    model = small()
    floored = small(free_bits=100.0)
    floored.load_state_dict(model.state_dict())
    for m in (model, floored):
        m.set_training_progress(500, 1000)
    torch.manual_seed(3)
    plain = model(batch)
    torch.manual_seed(3)
    out = floored(batch)
    assert out["kl"] == pytest.approx(float(plain["kl"]), rel=1e-5)
    expected = float(plain["loss"]) + model.beta * (32 * 100.0 - float(plain["kl"]))
    assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="free_bits"):
        small(free_bits=-1.0)


def test_sampling_batches_many_molecules_in_atom_order():
    model = small()
    mols = [Chem.MolFromSmiles(s) for s in ("OC(=O)c1ccccc1CCO", "CCN", "C")]
    mols.append(Chem.AddHs(Chem.MolFromSmiles("CC(=O)N")))  # with hydrogens: heavy atoms come back
    out = model.sample(mols, [4, 2, 1, 3], seed=0)
    assert [m.GetNumConformers() for m in out] == [4, 2, 1, 3]
    for mol, res in zip(mols, out):
        heavy = Chem.RemoveHs(mol)
        assert [a.GetAtomicNum() for a in res.GetAtoms()] == [a.GetAtomicNum() for a in heavy.GetAtoms()]
        assert all(np.isfinite(c.GetPositions()).all() for c in res.GetConformers())
    again = model.sample(mols, [4, 2, 1, 3], seed=0)[0]  # seeded: the same call gives the same conformers
    np.testing.assert_allclose(again.GetConformer(0).GetPositions(), out[0].GetConformer(0).GetPositions())
    spread = [c.GetPositions() for c in out[0].GetConformers()]
    assert not np.allclose(spread[0], spread[1])  # z differs between samples


def test_trains_from_the_shipped_config_and_samples_from_its_checkpoint(tmp_path):
    """configs/dmcg_qm9_small.yaml through `conformers train` (a few steps, small dims), then
    `conformers generate` from the run's best.pt."""
    import json
    import os

    from conformers.cli.main import main

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run = str(tmp_path / "run")
    overrides = ["model.dim=16", "model.mlp_hidden=32", "model.layers=2", "train.max_steps=4", "train.val_every=2",
                 "train.checkpoint_every=2", "data.val_max_batches=1", "train.progress=false",
                 f"data.cache={root}/data/nci-xtb/qm9", f"data.split={root}/data/nci-xtb/qm9/split.json"]
    args = ["train", "-c", os.path.join(root, "configs", "dmcg_qm9_small.yaml"), "-o", run]
    assert main(args + sum((["--set", o] for o in overrides), [])) == 0
    assert json.load(open(os.path.join(run, "final.json")))["step"] == 4
    out = str(tmp_path / "gen.sdf")
    assert main(["generate", "CCO", "c1ccccc1O", "-n", "3", "--model", os.path.join(run, "best.pt"), "-o", out]) == 0
    assert sum(m is not None for m in Chem.SDMolSupplier(out)) == 6

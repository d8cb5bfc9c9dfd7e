"""ConfOpt TwoAtom: fused and plain layers agree, updates are SE(3)- and permutation-equivariant,
both settings train on real molecules, sampling returns finite conformers in the input order."""
import numpy as np
import pytest
import torch
from rdkit import Chem

import conformer_kernels as ck
from conformer_kernels.testing import random_rotations
from conformers.data import Collater, ConformerDataset, MoleculeCache, Selection, load_split, nci_xtb
from conformers.models import create_model
from conformers.models.confopt.model import _copies


@pytest.fixture(scope="module")
def batch():
    cache_dir, split_file = nci_xtb("drugs")
    cache = MoleculeCache(cache_dir)
    ds = ConformerDataset.from_split(cache, load_split(split_file), "train", selection=Selection("relative"),
                                     mode="molecule")
    return Collater(ds, ("full",), mols=True)([ds[k] for k in range(4)])


def small(setting="optimization", **kw):
    torch.manual_seed(0)
    return create_model("confopt" if setting == "optimization" else "confopt-generation", hidden=32, heads=4, **kw)


@pytest.mark.parametrize("variant", ["twoatom", "extv", "threeatom"])
def test_fused_layers_equal_plain_pytorch(batch, variant):
    # float64: nine unrolled float32 layers of an untrained model amplify rounding to ~1e-3
    model = small(variant=variant).double()
    x0 = batch.ref_pos[:batch.ptr[-1]].double()  # any coordinates of the right size
    fused = model.optimize_batch(batch, x0.clone().requires_grad_())
    model.config["fused"] = False
    plain = model.optimize_batch(batch, x0.clone().requires_grad_())
    torch.testing.assert_close(fused, plain, rtol=1e-9, atol=1e-9)
    grads = []
    for flag in (True, False):
        model.config["fused"] = flag
        model.zero_grad()
        model.optimize_batch(batch, x0).square().sum().backward()
        # a None gradient is an exact zero: the key MLPs' last bias only shifts every score of a
        # row equally, which the softmax cancels, so the fused path never forms it
        grads.append({k: torch.zeros_like(p) if p.grad is None else p.grad.clone() for k, p in model.named_parameters()})
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-7, atol=1e-8, msg=k)


@pytest.mark.parametrize("variant", ["twoatom", "extv", "threeatom"])
def test_se3_and_permutation_equivariance(variant):
    model = small(variant=variant).double()  # float64: 9 unrolled layers amplify float32 rounding
    mol = Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1CCN")  # rotatable bonds: triplets are kept
    batch = _copies(mol, 1)
    x = torch.randn(mol.GetNumAtoms(), 3, dtype=torch.float64) * 2
    out = model.optimize_batch(batch, x)
    R, t = random_rotations(1, dtype=torch.float64)[0], torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(model.optimize_batch(batch, x @ R.T + t), out @ R.T + t, rtol=1e-9, atol=1e-9)
    order = list(np.random.default_rng(0).permutation(mol.GetNumAtoms()))
    permuted = Chem.RenumberAtoms(mol, [int(i) for i in order])  # new atom k is old atom order[k]
    out_perm = model.optimize_batch(_copies(permuted, 1), x[order])
    torch.testing.assert_close(out_perm, out[order], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("setting", ["optimization", "generation"])
def test_losses_train_on_real_molecules(batch, setting):
    model = small(setting)
    losses = model(batch)
    losses["loss"].backward()
    assert torch.isfinite(losses["loss"])
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(8):  # a few steps on one batch: the loss must come down
        optimizer.zero_grad()
        torch.manual_seed(1)
        loss = model(batch)["loss"]
        loss.backward()
        optimizer.step()
        first = first if first is not None else float(loss.detach())
    torch.manual_seed(1)
    assert float(model(batch)["loss"]) < first


@pytest.mark.parametrize("setting", ["optimization", "generation"])
def test_sample_and_optimize(setting):
    model = small(setting)
    mol = Chem.MolFromSmiles("OC(=O)c1ccccc1CCO")
    out = model.sample([mol, Chem.MolFromSmiles("CCCN")], [3, 2], seed=0)
    assert out[0].GetNumConformers() == 3 and out[1].GetNumConformers() == 2
    assert [a.GetAtomicNum() for a in out[0].GetAtoms()] == [a.GetAtomicNum() for a in mol.GetAtoms()]
    assert all(np.isfinite(c.GetPositions()).all() for c in out[0].GetConformers())
    refined = model.optimize([out[0]])[0]
    assert refined.GetNumConformers() == 3 and refined.GetNumAtoms() > mol.GetNumAtoms()  # with H


def test_rdkit_init_generation_starts_from_noisy_references_and_etkdg(batch, monkeypatch):
    """init=rdkit: training starts are references plus clamped noise (sigma <= noise_std, so within
    3 noise_std of a reference), sampling starts are ETKDG conformers without MMFF (stereo kept);
    unknown inits and negative noise are refused by name."""
    import conformers.models.confopt.model as confopt
    from conformers.metrics.stereo import stereo_matches

    refs = torch.randn(3, 7, 3)
    starts, drawn = confopt._noisy_references(refs, 50, 0.4)
    nearest = (starts[:, None] - refs[None]).abs().amax((-1, -2)).min(1).values
    assert starts.shape == (50, 7, 3) and float(nearest.max()) <= 1.2 + 1e-6 and float(nearest.max()) > 0
    assert float((starts - drawn).abs().max()) <= 1.2 + 1e-6  # each start within 3 sigma of its own reference
    model = small("generation", init="rdkit", noise_std=0.3)
    seen, etkdg_starts = {}, confopt.rdkit_mmff_starts

    def recorded(mol, count, seed, timeout=None, mmff=True):  # the real embedding, its mmff flag noted
        seen["mmff"] = mmff
        return etkdg_starts(mol, count, seed, timeout, mmff)

    monkeypatch.setattr(confopt, "rdkit_mmff_starts", recorded)
    losses = model(batch)
    assert torch.isfinite(losses["loss"])
    mol = Chem.MolFromSmiles("C[C@H](N)C(=O)O")
    out = model.sample([mol], 4, seed=0)[0]
    assert seen == {"mmff": False} and out.GetNumConformers() == 4
    coords = np.stack([c.GetPositions() for c in out.GetConformers()])
    assert stereo_matches(Chem.RemoveHs(mol), coords).mean() >= 0.75  # an untrained model moves little
    with pytest.raises(ValueError, match="init"):
        small("generation", init="mmff")
    with pytest.raises(ValueError, match="noise_std"):
        small("generation", init="rdkit", noise_std=-1)


def test_etkdg_training_starts_are_the_molecules_etkdg_conformers(batch):
    """etkdg_start_prob 1: every training start of the RDKit-init generation setting is one of the
    molecule's ETKDG conformers (no MMFF, seeded by its index, embedded once); 0 draws nothing more
    than the noisy references; out-of-range probabilities are refused by name."""
    import conformers.models.confopt.model as confopt

    model = small("generation", init="rdkit", etkdg_start_prob=1.0)
    assert model.data_spec.mols and not small("generation", init="rdkit").data_spec.mols
    refs = model._references(batch)
    torch.manual_seed(3)
    starts, _ = model._rdkit_init_starts(batch, 1, refs[1], 5)
    pool = confopt.rdkit_mmff_starts(batch.mols[1], confopt.INIT_POOL, seed=int(batch.index[1]), mmff=False)
    pool = torch.from_numpy(pool).float()
    assert starts.shape == (5,) + refs[1].shape[1:]
    assert all(any(torch.equal(start, p) for p in pool) for start in starts)
    assert (False, int(batch.index[1])) in model._pools  # embedded once
    plain_model = small("generation", init="rdkit", etkdg_start_prob=0.0)
    torch.manual_seed(3)
    plain = plain_model._rdkit_init_starts(batch, 1, refs[1], 5)
    torch.manual_seed(3)
    torch.testing.assert_close(plain, confopt._noisy_references(refs[1], 5, 0.5))
    assert torch.isfinite(model(batch)["loss"])
    with pytest.raises(ValueError, match="etkdg_start_prob"):
        small("generation", init="rdkit", etkdg_start_prob=1.5)


def test_nearest_match_scores_each_sample_against_its_closest_reference(batch):
    """match=nearest: each refined start's loss is its RMS distance-matrix error to the closest
    reference (a sample equal to one reference scores 0 whatever the others); unknown matches are
    refused by name."""
    import conformers.models.confopt.model as confopt

    refs = torch.randn(4, 6, 3, dtype=torch.float64)
    gen = torch.stack([refs[2], refs[0] + 0.1 * torch.randn(6, 3, dtype=torch.float64)])
    D = lambda x: torch.cdist(x, x)
    expected = torch.stack([min(((D(g) - D(r)).square().mean()).sqrt() for r in refs) for g in gen]).mean()
    torch.testing.assert_close(confopt._nearest_reference_error(gen, refs), expected, atol=1e-6, rtol=1e-6)  # clamp at 1e-12
    assert float(confopt._nearest_reference_error(gen[:1], refs)) < 1e-5
    model = small("generation", init="rdkit", etkdg_start_prob=1.0, match="nearest")
    loss = model(batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match="match"):
        small("generation", init="rdkit", match="closest")


def test_basin_match_scores_each_etkdg_start_against_the_reference_of_its_mmff_minimum(batch):
    """match=basin: the pool is _start_pool's ETKDG conformers; each one's target is the reference
    closest to its MMFF94 minimum (the distance-matrix error of that minimum to its target is the
    smallest over the references), or the minimum itself where no reference lies within
    basin_cutoff; training starts carry their pool row's target; the loss trains; basin without
    ETKDG starts, and a non-positive cutoff, are refused by name."""
    import conformers.models.confopt.model as confopt
    from conformers.data.embedding import etkdg_starts_and_minima

    model = small("generation", init="rdkit", etkdg_start_prob=1.0, match="basin", basin_cutoff=1e3)
    refs = model._references(batch)
    pool, targets = model._basin_pool(batch, 1, refs[1])
    expected = confopt.rdkit_mmff_starts(batch.mols[1], confopt.INIT_POOL, seed=int(batch.index[1]), mmff=False,
                                         timeout=10.0)
    torch.testing.assert_close(pool, torch.from_numpy(expected).float())
    _, minima = etkdg_starts_and_minima(batch.mols[1], confopt.INIT_POOL, seed=int(batch.index[1]), timeout=10.0)
    minima = torch.from_numpy(minima).float()
    assert float((minima - pool).abs().max()) > 0.01  # MMFF moved the starts
    cost = confopt.distance_matrix_error(minima[:, None], refs[1][None])  # (P, C)
    for row in range(len(pool)):
        assert any(torch.equal(targets[row], r) for r in refs[1])
        own = int(next(k for k, r in enumerate(refs[1]) if torch.equal(targets[row], r)))
        assert float(cost[row, own]) == pytest.approx(float(cost[row].min()))
    tight = small("generation", init="rdkit", etkdg_start_prob=1.0, match="basin", basin_cutoff=1e-6)
    torch.testing.assert_close(tight._basin_pool(batch, 1, refs[1])[1], minima)  # nothing within: the minima
    torch.manual_seed(5)
    starts, drawn_targets = model._rdkit_init_starts(batch, 1, refs[1], 5)
    for start, target in zip(starts, drawn_targets):
        row = next(k for k, p in enumerate(pool) if torch.equal(start, p))
        assert torch.equal(target, targets[row])
    loss = model(batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match="basin"):
        small("generation", init="random", match="basin")
    with pytest.raises(ValueError, match="basin_cutoff"):
        small("generation", init="rdkit", match="basin", basin_cutoff=0)


def test_relaxed_starts_are_the_mmff_minima_of_the_references(batch):
    """relaxed_start_prob = 1: every start is the MMFF94 relaxation of the reference drawn for it (its
    basin's MMFF minimum: near the reference, not equal to it, stereo kept); the logged start_loss
    is the unrefined starts' loss; probabilities outside [0, 1] are refused."""
    from rdkit.Chem import AllChem

    from conformers.data.embedding import mmff_relaxed
    from conformers.metrics.stereo import stereo_matches

    model = small(relaxed_start_prob=1.0, reference_input_prob=0.0)
    losses = model(batch)
    assert float(losses["start_loss"]) > 0 and torch.isfinite(losses["loss"])
    refs = model._references(batch)
    assert len(model._relaxed) == batch.num_graphs
    for (index, row), start in model._relaxed.items():
        b = [int(i) for i in batch.index].index(index)
        ref = refs[b][row]
        rmsd = float(ck.rmsd(start[None].double(), ref[None].double()))
        assert 0.005 < rmsd < 0.5  # relaxed in place: the same basin
    mol = Chem.AddHs(Chem.MolFromSmiles("C[C@H](N)C(=O)O"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    heavy = Chem.RemoveHs(mol)
    relaxed = mmff_relaxed(heavy, heavy.GetConformer().GetPositions())
    assert relaxed.shape == (heavy.GetNumAtoms(), 3) and stereo_matches(heavy, relaxed[None]).all()
    for bad in (-0.1, 1.5, "x"):
        with pytest.raises(ValueError, match="relaxed_start_prob"):
            small(relaxed_start_prob=bad)


def test_reference_switch_gives_the_same_model(batch):
    model = small()
    x0 = batch.ref_pos[:batch.ptr[-1]]
    out = model.optimize_batch(batch, x0)
    with ck.use_reference():
        torch.testing.assert_close(model.optimize_batch(batch, x0), out, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name, record_file", [("confopt", "confopt_refiner.json"), ("confopt-qm9", "confopt_qm9.json")])
def test_shipped_checkpoint_loads_with_its_record(name, record_file):
    """`confopt` (the refiner) and `confopt-qm9` (Table 1) ship weights with the record of how they
    were made and what they scored held out."""
    import json
    import os

    from conformers.models import load_model
    from conformers.models.confopt.model import SHIPPED

    record = json.load(open(os.path.join(SHIPPED, record_file)))
    assert {"config", "command", "training_data", "split", "steps", "wall_time_s", "held_out"} <= set(record)
    assert os.path.isfile(os.path.join(os.path.dirname(__file__), "..", "..", record["config"]))
    assert os.path.getsize(os.path.join(SHIPPED, record["weights"])) < 10 * 2 ** 20
    model = load_model(name)
    mol = Chem.AddHs(Chem.MolFromSmiles("OC(=O)c1ccccc1CCO"))
    from rdkit.Chem import AllChem
    AllChem.EmbedMultipleConfs(mol, 2, randomSeed=0)
    refined = model.optimize([Chem.RemoveHs(mol)])[0]
    assert refined.GetNumConformers() == 2
    assert all(np.isfinite(c.GetPositions()).all() for c in refined.GetConformers())


def test_bfloat16_autocast_gives_the_float32_loss_and_gradients(batch):
    """Mixed precision (the engine's precision=bfloat16/auto): GEMMs in bfloat16, the kernels in
    float32 (conformer_kernels casts under autocast); the loss and gradients agree to tolerance."""
    model = small()
    torch.manual_seed(3)
    full = model(batch)["loss"]
    grads = torch.autograd.grad(full, list(model.parameters()), allow_unused=True)
    torch.manual_seed(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(batch)["loss"]
    mixed_grads = torch.autograd.grad(mixed, list(model.parameters()), allow_unused=True)
    assert mixed.dtype == torch.float32 and all(p.dtype == torch.float32 for p in model.parameters())
    assert float(mixed) == pytest.approx(float(full), rel=0.03)
    flat = torch.cat([g.flatten() for g in grads if g is not None])
    flat_mixed = torch.cat([g.flatten() for g in mixed_grads if g is not None])
    assert float(torch.nn.functional.cosine_similarity(flat, flat_mixed, dim=0)) > 0.98


def test_kernels_refuse_bfloat16_outside_autocast():
    x = torch.randn(4, 3, dtype=torch.bfloat16)
    index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="float32 or float64"):
        ck.vector_aggregation(x, index, torch.ones(2, dtype=torch.bfloat16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = ck.vector_aggregation(x, index, torch.ones(2, dtype=torch.bfloat16))
    assert out.dtype == torch.float32


def test_optimize_batches_molecules_and_matches_one_at_a_time():
    """optimize() runs every molecule's conformers through the network together (in atom-budget
    groups); the result equals refining each molecule alone; a molecule without conformers fails
    alone."""
    from rdkit.Chem import AllChem

    model = small()
    mols = []
    for smiles, n in (("OC(=O)c1ccccc1CCO", 3), ("CCCN", 2), ("c1ccncc1C", 1)):
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
        AllChem.EmbedMultipleConfs(mol, n, randomSeed=1)
        mols.append(mol)
    empty = Chem.MolFromSmiles("CCO")
    together = model.optimize(mols + [empty], max_atoms=40)  # forces several groups
    assert isinstance(together[3], ValueError) and "no conformers" in str(together[3])
    for mol, out in zip(mols, together):
        alone = model.optimize([mol])[0]
        assert out.GetNumConformers() == mol.GetNumConformers()
        for a, b in zip(out.GetConformers(), alone.GetConformers()):
            np.testing.assert_allclose(a.GetPositions(), b.GetPositions(), atol=1e-4)


def test_unseen_elements_are_left_unrefined_with_a_warning():
    from rdkit.Chem import AllChem

    from conformers.models.confopt.model import UnseenElementWarning

    model = small(elements=[6, 7, 8])
    mol = Chem.AddHs(Chem.MolFromSmiles("CCP(C)C"))
    AllChem.EmbedMultipleConfs(mol, 2, randomSeed=1)
    with pytest.warns(UnseenElementWarning, match="not trained on P"):
        out = model.optimize([mol])[0]
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
    for a, b in zip(mol.GetConformers(), out.GetConformers()):
        np.testing.assert_allclose(a.GetPositions()[heavy], b.GetPositions()[heavy])  # as given
    with pytest.warns(UnseenElementWarning):
        assert model.sample([Chem.MolFromSmiles("CCP(C)C")], 2)[0].GetNumConformers() == 2
    assert model.unseen_elements(Chem.MolFromSmiles("CCO")) == []


def test_a_refined_conformer_that_lost_the_input_stereo_falls_back_to_its_etkdg_start(monkeypatch):
    """ETKDG starts embed the specified stereo; a refinement that inverts a centre (here forced: the
    network's output mirrored) is replaced by its start, so confopt(-generation) never returns the
    other enantiomer."""
    from conformers.metrics import stereo_matches

    model = small("generation", init="rdkit")
    monkeypatch.setattr(type(model), "optimize_batch", lambda self, batch, x0: x0 * x0.new_tensor([1.0, 1.0, -1.0]))
    mol = Chem.MolFromSmiles("C[C@H](N)C(=O)O")
    out = model.sample([mol], 3, seed=0)[0]
    xyz = np.stack([c.GetPositions() for c in out.GetConformers()])
    assert stereo_matches(mol, xyz).all()


def test_local_weight_adds_the_bond_and_angle_errors_against_every_reference(batch):
    """local_weight: the generation loss gains local_weight x (mean |bond length error| + mean
    |bond-angle cosine error|) of the samples against each reference; zero for samples that are
    references; its gradient is finite; outside the generation setting, or negative, it is refused."""
    from conformers.models.common import bond_angles, local_geometry_errors

    model = small("generation", init="rdkit", etkdg_start_prob=1.0, match="nearest", local_weight=2.0)
    refs = model._references(batch)
    assert float(model._local_geometry_error(batch, 1, refs[1][:1].clone(), refs[1][:1])) < 1e-5
    stretched = refs[1][:1] * 1.2
    heavy = Chem.RemoveHs(batch.mols[1])
    bonds = torch.tensor([[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in heavy.GetBonds()]).T
    i, j = bonds
    expected_bond = 0.2 * (refs[1][:, i] - refs[1][:, j]).norm(dim=-1).mean()  # stretched vs their own reference
    got = model._local_geometry_error(batch, 1, stretched, refs[1][:1])
    assert float(got) == pytest.approx(float(expected_bond), rel=1e-4)  # scaling keeps every angle
    bond, angle = local_geometry_errors(stretched[:, None], refs[1][None], bonds, bond_angles(bonds, heavy.GetNumAtoms()))
    assert float(model._local_geometry_error(batch, 1, stretched, refs[1])) == pytest.approx(float(bond + angle))
    no_bonds = torch.zeros(2, 0, dtype=torch.int64)  # a single heavy atom: nothing to score, not NaN
    assert [float(v) for v in local_geometry_errors(refs[1][:1, :1], refs[1][:1, :1], no_bonds,
                                                    bond_angles(no_bonds, 1))] == [0.0, 0.0]
    torch.manual_seed(0)
    out = model(batch)
    out["loss"].backward()
    assert float(out["local"]) > 0 and torch.isfinite(out["loss"])
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    with pytest.raises(ValueError, match="local_weight"):
        small("optimization", local_weight=1.0)
    with pytest.raises(ValueError, match="local_weight"):
        small("generation", init="rdkit", local_weight=-1.0)

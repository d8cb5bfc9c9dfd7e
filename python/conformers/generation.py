"""From user input (SMILES, .smi, .sdf) to an SDF of conformers, with any registered model."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

from .data.sdf import is_sdf, read_sdf_records
from .defaults import MMFF_MAX_ITERS
from .metrics.stereo import stereo_elements, stereo_matches, with_conformer, wrong_stereo_elements
from .stereo_repair import repaired

STEREO_POLICIES = ("auto", "keep", "fix", "drop")


@dataclass
class InputMolecule:
    name: str
    smiles: str
    mol: Chem.Mol | None     # heavy-atom graph with the input's stereo; None when it failed to parse
    error: str | None = None


@dataclass
class Generated:
    input: InputMolecule
    mol: Chem.Mol | None = None   # with explicit hydrogens and its conformers
    error: str | None = None
    seconds: float = 0.0
    stereo_wrong: int = 0         # conformers whose perceived stereo differs from the input
    stereo_fixed: int = 0         # ... of which mirrored into the right stereo ("fix")
    stereo_dropped: int = 0       # ... of which dropped (and drawn again)
    stereo_repaired: int = 0      # conformers of the result that are repairs of dropped ones ("fix")
    notes: list = field(default_factory=list)
    wrong_stereo: list = field(default_factory=list)  # dropped wrong-stereo conformers (one-conformer Mols), to repair


def _from_smiles(smiles: str, name: str | None) -> InputMolecule:
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return InputMolecule(name or smiles, smiles, None, f"invalid SMILES {smiles!r}")
    heavy = Chem.RemoveHs(mol)
    if heavy.GetNumAtoms() == 0 or all(a.GetAtomicNum() == 1 for a in heavy.GetAtoms()):
        return InputMolecule(name or smiles, smiles, None, f"{smiles!r} has no heavy atoms")
    problem = unsupported_structure(heavy)
    if problem:
        return InputMolecule(name or smiles, smiles, None, f"{smiles!r}: {problem}")
    return InputMolecule(name or smiles, Chem.MolToSmiles(heavy), heavy)


# Elements of organic molecules that ETKDG, MMFF94 and the models handle; anything else (metals,
# noble gases) is refused by name rather than embedded as if it were carbon.
ORGANIC_ELEMENTS = frozenset((1, 5, 6, 7, 8, 9, 14, 15, 16, 17, 34, 35, 53))


def unsupported_structure(mol: Chem.Mol) -> str | None:
    """Why ``mol`` cannot get one 3D conformer here (several fragments: a salt or mixture, whose
    pieces would land on top of each other; metals), or None."""
    fragments = Chem.GetMolFrags(mol, asMols=True)
    if len(fragments) > 1:
        largest = max(fragments, key=lambda f: f.GetNumHeavyAtoms())
        return (f"{len(fragments)} disconnected fragments (a salt or mixture); pass one molecule, e.g. its "
                f"largest fragment {Chem.MolToSmiles(largest)!r}")
    other = sorted({a.GetSymbol() for a in mol.GetAtoms() if a.GetAtomicNum() not in ORGANIC_ELEMENTS})
    if other:
        return f"contains {', '.join(other)}: metals and other inorganic elements are not supported"
    return None


def read_inputs(smiles: list[str] | None = None, path: str | None = None) -> list[InputMolecule]:
    """Molecules from SMILES arguments and/or a .smi (SMILES [name]) or .sdf file (title = name)."""
    out = [_from_smiles(s, None) for s in smiles or []]
    if path is None:
        return out
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no input file at {path}")
    if is_sdf(path):
        records = read_sdf_records(path)
        if not records:
            raise ValueError(f"{path} holds no molecules (empty SDF)")
        # consecutive records of one molecule (its conformers) are one input, not one per record
        for name, numbers, mol in group_sdf_records(records):
            if mol is None:
                out.append(InputMolecule(name, "", None, f"{path}: record {numbers[0]} is unreadable"))
                continue
            if mol.GetNumConformers() and mol.GetConformer().Is3D():
                Chem.AssignStereochemistryFrom3D(mol)  # stereo as drawn in 3D
            title = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
            out.append(_from_smiles(Chem.MolToSmiles(mol), title or None))
        return out
    from .data.build import read_smiles_file

    out += [_from_smiles(smiles, name) for name, smiles in read_smiles_file(path, unnamed=None)]
    if not out:
        raise ValueError(f"{path} holds no SMILES")
    return out


def group_sdf_records(mols: list) -> list[tuple[str, list, object]]:
    """Consecutive SDF records of one molecule (same title, atoms and bonds in the same order) as
    (name, record numbers, molecule carrying their conformers); unreadable records stand alone
    with molecule None."""
    groups = []
    for number, mol in enumerate(mols, 1):
        signature = None if mol is None else (mol.GetProp("_Name") if mol.HasProp("_Name") else "",
                                              Chem.MolToSmiles(mol, canonical=False),
                                              tuple(a.GetAtomicNum() for a in mol.GetAtoms()))
        if signature is not None and groups and groups[-1][3] == signature:
            groups[-1][2].AddConformer(Chem.Conformer(mol.GetConformer()), assignId=True)
            groups[-1][1].append(number)
            continue
        name = (signature[0] if signature else "") or f"record {number}"
        groups.append([name, [number], None if mol is None else Chem.Mol(mol), signature])
    return [(name, numbers, mol) for name, numbers, mol, _ in groups]


def not_3d(mol: Chem.Mol) -> str | None:
    """Why ``mol``'s conformers cannot be refined as 3D structures (a 2D drawing, or every atom at
    one point), or None; refining them would return a flat or arbitrary-stereo molecule."""
    for k, conf in enumerate(mol.GetConformers(), 1):
        if not conf.Is3D():
            return f"conformer {k} is 2D (a drawing, not 3D coordinates); generate 3D conformers from it instead"
        xyz = conf.GetPositions()
        if mol.GetNumAtoms() > 1 and float(np.ptp(xyz, axis=0).max()) < 1e-3:
            return f"conformer {k} has every atom at the same point (all-zero coordinates?)"
    return None


def _heavy_coordinates(mol: Chem.Mol) -> tuple[np.ndarray, list[int]]:
    heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() != 1]
    return np.stack([c.GetPositions()[heavy] for c in mol.GetConformers()]), heavy


def resolve_stereo_policy(policy: str) -> str:
    """The policy 'auto' stands for: 'fix'. A mirror image has the same internal distances, so a
    sample whose centres are all inverted is mirrored into the input's stereo at no cost in
    geometry (for distance-only models, ConfGF and ConfVAE, it is as much the model's sample; DMCG
    places atoms without reading chirality); a sample with some elements right and others wrong is
    dropped and replaced by new draws (REFILL_ROUNDS), and its repair (stereo_repair.py: wrong
    centres and double bonds turned by rigid rotations of acyclic branches) fills whatever the
    draws leave short, so the model's own samples come first."""
    if policy not in STEREO_POLICIES:
        raise ValueError(f"stereo must be one of {STEREO_POLICIES}, got {policy!r}")
    return "fix" if policy == "auto" else policy


MIRROR = np.array([1.0, 1.0, -1.0])


def apply_stereo_policy(result: Generated, policy: str) -> None:
    """Count conformers whose 3D stereo differs from the input; 'fix' mirrors a conformer when its
    mirror image is right (all centres inverted, E/Z kept) and otherwise drops it, keeping a copy in
    ``result.wrong_stereo`` for ``_fill_with_repairs``; 'drop' drops it; 'keep' keeps it (resolve
    'auto' first)."""
    template = result.input.mol
    if not any(stereo_elements(template)):
        return
    coords, heavy = _heavy_coordinates(result.mol)
    ok = stereo_matches(template, coords)
    result.stereo_wrong = int((~ok).sum())
    if policy == "keep" or ok.all():
        return
    mirrored_ok = stereo_matches(template, coords * MIRROR) if policy == "fix" else np.zeros_like(ok)
    for conf, good, mirror_good in zip(list(result.mol.GetConformers()), ok, mirrored_ok):
        if good:
            continue
        if mirror_good:
            conf.SetPositions(conf.GetPositions() * MIRROR)
            result.stereo_fixed += 1
            continue
        if policy == "fix":
            result.wrong_stereo.append(with_conformer(result.mol, conf.GetPositions()))
        result.mol.RemoveConformer(conf.GetId())
        result.stereo_dropped += 1
    if result.mol.GetNumConformers() == 0:
        result.error = f"every conformer had the wrong stereo ({result.stereo_wrong}); none kept with --stereo {policy}"
        result.mol = None


def _repaired(mol: Chem.Mol, template: Chem.Mol, xyz: np.ndarray) -> np.ndarray | None:
    """The repair (stereo_repair.repaired) of a wrong-stereo conformer or of its mirror image,
    whichever has fewer wrong elements to turn first; None when neither can be repaired."""
    heavy = template.GetNumAtoms()
    candidates = [(xyz, wrong_stereo_elements(template, xyz[:heavy])) for xyz in (xyz, xyz * MIRROR)]
    candidates.sort(key=lambda candidate: sum(map(len, candidate[1])))
    return next((out for out in (repaired(mol, template, c, wrong) for c, wrong in candidates) if out is not None), None)


def generate(inputs: list[InputMolecule], model, n: int | list[int], seed: int = 0, mmff: bool = False,
             stereo: str = "auto") -> list[Generated]:
    """Conformers of every parsable input (n per molecule, or a count per input), sampled by the
    model; hydrogens re-added at positions computed from the heavy-atom geometry (which they do not
    move), optional MMFF94. The list of ``generate_stream``'s results."""
    return list(generate_stream(inputs, model, n, seed=seed, mmff=mmff, stereo=stereo))


def generate_stream(inputs: list[InputMolecule], model, n: int | list[int], seed: int = 0, mmff: bool = False,
                    stereo: str = "auto"):
    """``generate``, one result at a time in input order: the model samples ``model.sample_chunk``
    molecules per call, so a caller that writes each result as it comes keeps everything finished
    when a later molecule fails, hangs or the run is interrupted."""
    policy = resolve_stereo_policy(stereo)  # a nonsense policy fails before any work
    counts = [n] * len(inputs) if isinstance(n, int) else list(n)
    if len(counts) != len(inputs) or min(counts, default=1) < 1:
        raise ValueError("n must be >= 1, one count per input molecule")
    chunk = max(1, int(getattr(model, "sample_chunk", 64)))
    for lo in range(0, len(inputs), chunk):
        yield from _generate_chunk(inputs[lo:lo + chunk], model, counts[lo:lo + chunk], seed, mmff, policy)


REFILL_ROUNDS = 3     # extra sampling rounds for molecules whose conformers were dropped
REFILL_SEED = 1_000_003  # round r samples with seed + r * REFILL_SEED: new draws, still reproducible


def _generate_chunk(inputs, model, counts, seed, mmff, policy) -> list[Generated]:
    """Sample every parsable input; conformers dropped by the overlap or stereo checks are replaced
    by new draws (twice the shortfall per round, up to REFILL_ROUNDS rounds), so a molecule gets
    the n it asked for unless the model keeps failing it; a shortfall is noted by name. ``policy``
    is a resolved stereo policy (not 'auto')."""
    results = [Generated(item, error=item.error) for item in inputs]
    need = {k: counts[k] for k, r in enumerate(results) if r.error is None}
    last_error, rounds = {}, dict.fromkeys(need, 0)
    start = time.perf_counter()
    for round_ in range(1 + REFILL_ROUNDS):
        todo = [k for k, missing in need.items() if missing > 0]
        if not todo:
            break
        asked = [need[k] if round_ == 0 else 2 * need[k] for k in todo]
        sampled = model.sample([results[k].input.mol for k in todo], asked, seed=seed + round_ * REFILL_SEED)
        for k, out in zip(todo, sampled):
            draw = _screen(results[k].input, out, mmff, policy)
            _absorb(results[k], draw, need[k])
            rounds[k] += 1
            if draw.error is not None:
                last_error[k] = draw.error
            failed = draw.mol is None and draw.stereo_wrong == 0 and not draw.notes  # the model's failure, not a check's
            need[k] = 0 if failed else counts[k] - (results[k].mol.GetNumConformers() if results[k].mol else 0)
    per_molecule = (time.perf_counter() - start) / max(len(need), 1)
    for k in need:
        result = results[k]
        result.seconds = per_molecule
        _fill_with_repairs(result, counts[k], mmff)
        have = result.mol.GetNumConformers() if result.mol is not None else 0
        which = f" (the last of {rounds[k]} sampling rounds)" if rounds[k] > 1 else ""
        if have == 0:
            result.mol, result.error = None, last_error.get(k, "the model returned no conformer") + which
        elif have < counts[k]:
            result.notes.append(f"{have} of {counts[k]} conformers: the rest failed the overlap or stereo checks or "
                                f"sampling in {rounds[k]} sampling rounds" + (f"; last error: {last_error[k]}" if k in last_error else ""))
    return results


def _fill_with_repairs(result: Generated, count: int, mmff: bool) -> None:
    """Top the result up to ``count`` conformers with repairs (``_repaired``) of its dropped
    wrong-stereo samples, in the order they were drawn, made only while it is short; with ``mmff``
    each repair is polished and kept only if the polish leaves its stereo right."""
    template = result.input.mol
    for dropped in result.wrong_stereo:
        if (result.mol.GetNumConformers() if result.mol is not None else 0) >= count:
            break
        fixed = _repaired(dropped, template, dropped.GetConformer().GetPositions())
        if fixed is None:
            continue
        repair = with_conformer(dropped, fixed)
        if mmff and AllChem.MMFFHasAllMoleculeParams(repair) and not _polished_keeps_stereo(repair, template):
            continue
        if result.mol is None:
            result.mol = repair
        else:
            result.mol.AddConformer(Chem.Conformer(repair.GetConformer()), assignId=True)
        result.stereo_repaired += 1
    result.wrong_stereo = []


def _screen(item: InputMolecule, out, mmff: bool, policy: str) -> Generated:
    """One round's sample of one molecule after the checks: hydrogens added, optional MMFF94,
    overlapping and wrong-stereo conformers dropped (or mirrored; dropped wrong-stereo ones are kept
    aside for repair); its error says why nothing is left."""
    draw = Generated(item)
    if isinstance(out, Exception):
        draw.error = f"{type(out).__name__}: {out}"
        return draw
    if out is None or out.GetNumConformers() == 0:
        draw.error = "the model returned no conformer"
        return draw
    coords, _ = _heavy_coordinates(out)
    finite = np.isfinite(coords).all(axis=(1, 2))
    if not finite.all():
        out = Chem.Mol(out)
        for conf, ok in zip(list(out.GetConformers()), finite):
            if not ok:
                out.RemoveConformer(conf.GetId())
        draw.notes.append(f"{int((~finite).sum())} conformers dropped: non-finite coordinates from the model")
        if out.GetNumConformers() == 0:
            draw.error = "the model returned non-finite coordinates"
            return draw
    mol = out if any(a.GetAtomicNum() == 1 for a in out.GetAtoms()) else Chem.AddHs(out, addCoords=True)
    if mmff and AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=MMFF_MAX_ITERS)
    draw.mol = mol
    drop_overlapping(draw)
    if draw.mol is not None:
        apply_stereo_policy(draw, policy)
    return draw


def _polished_keeps_stereo(repair: Chem.Mol, template: Chem.Mol) -> bool:
    """MMFF94-polish a repaired conformer in place (what --mmff did to the sample before its
    repair); False when the polish turns its stereo back."""
    AllChem.MMFFOptimizeMolecule(repair, maxIters=MMFF_MAX_ITERS)
    return bool(stereo_matches(template, _heavy_coordinates(repair)[0])[0])


def _absorb(result: Generated, draw: Generated, limit: int) -> None:
    """Add up to ``limit`` of a round's kept conformers to the molecule's result, and its counts."""
    result.stereo_wrong += draw.stereo_wrong
    result.stereo_fixed += draw.stereo_fixed
    result.stereo_dropped += draw.stereo_dropped
    result.wrong_stereo += draw.wrong_stereo
    result.notes += draw.notes
    if draw.mol is None or limit <= 0:
        return
    if result.mol is None:
        keep = [c.GetId() for c in draw.mol.GetConformers()][limit:]
        for conf_id in keep:
            draw.mol.RemoveConformer(conf_id)
        result.mol = draw.mol
        return
    for conf in list(draw.mol.GetConformers())[:limit]:
        result.mol.AddConformer(Chem.Conformer(conf), assignId=True)


MIN_ATOM_DISTANCE = 0.5  # A: a bonded X-H is ~1.0 A, so two atoms closer than this sit on top of each other


def drop_overlapping(result: Generated) -> None:
    """Drop the conformers in which two atoms (hydrogens included) lie closer than
    MIN_ATOM_DISTANCE: never written as if they were molecules (ETKDG embeds some hypervalent
    structures with atoms 0.2 A apart; a distance-based sampler can collapse atoms). Counted in
    the result's notes; the molecule fails by name when none is left."""
    from scipy.spatial.distance import pdist

    dropped = 0
    for conf in list(result.mol.GetConformers()):
        if result.mol.GetNumAtoms() > 1 and pdist(conf.GetPositions()).min() < MIN_ATOM_DISTANCE:
            result.mol.RemoveConformer(conf.GetId())
            dropped += 1
    if dropped:
        result.notes.append(f"{dropped} conformers dropped: two atoms closer than {MIN_ATOM_DISTANCE} A")
    if result.mol.GetNumConformers() == 0:
        result.error = f"every conformer had two atoms closer than {MIN_ATOM_DISTANCE} A ({dropped} dropped)"
        result.mol = None


def heavy_ensembles(results: list[Generated]) -> dict:
    """The successful results as evaluation ensembles (heavy atoms, keyed by input name)."""
    from .metrics.ensembles import Ensemble

    out = {}
    for r in results:
        if r.mol is not None:
            coords, _ = _heavy_coordinates(r.mol)
            out[r.input.name] = Ensemble(r.input.name, r.input.mol, coords)
    return out


class SDFStream:
    """An SDF written molecule by molecule: each result's conformers go to PATH.partial and are
    flushed as soon as it is added, so finished molecules are on disk before the next starts;
    ``close()`` renames the file to PATH (never a half-written PATH). Left open by an interruption,
    PATH.partial holds every finished molecule."""

    def __init__(self, path: str, model_name: str, seed: int):
        self.path, self.partial = path, path + ".partial"
        self.model_name, self.seed, self.written, self.molecules = model_name, seed, 0, 0
        self._file = open(self.partial, "w")
        self._writer = Chem.SDWriter(self._file)

    def add(self, result: Generated) -> None:
        if result.mol is None:
            return
        mol = result.mol
        for key, value in (("_Name", result.input.name), ("smiles", result.input.smiles), ("model", self.model_name),
                           ("seed", str(self.seed)), ("seconds_per_molecule", f"{result.seconds:.4f}")):
            mol.SetProp(key, value)
        for k, conf in enumerate(mol.GetConformers()):
            mol.SetProp("conformer_index", str(k))
            self._writer.write(mol, confId=conf.GetId())
            self.written += 1
        self._writer.flush()
        self._file.flush()
        os.fsync(self._file.fileno())
        self.molecules += 1

    def discard(self) -> None:
        """Close and remove the partial file (nothing worth keeping was written)."""
        self._writer.close()
        self._file.close()
        os.remove(self.partial)

    def close(self) -> int:
        """Finish the file at PATH; returns the conformers written."""
        self._writer.close()
        self._file.close()
        os.replace(self.partial, self.path)
        return self.written


def write_sdf(results: list[Generated], path: str, model_name: str, seed: int) -> int:
    """Every conformer of every successful molecule, titled by the input's name; atomically."""
    stream = SDFStream(path, model_name, seed)
    for result in results:
        stream.add(result)
    return stream.close()

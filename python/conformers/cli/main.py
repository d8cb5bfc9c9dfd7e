"""The `conformers` command line."""
from __future__ import annotations

import argparse
import os
import sys


def _generate(args) -> int:
    import torch
    from rdkit import Chem

    import conformer_kernels as ck
    from conformers.models import rdkit_baseline

    try:
        mol = rdkit_baseline.parse_smiles(args.smiles)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mol = rdkit_baseline.generate(mol, args.num, seed=args.seed, mmff=args.mmff)
    heavy = Chem.RemoveHs(mol)
    X = torch.stack([torch.tensor(c.GetPositions()) for c in heavy.GetConformers()])
    spread = ck.rmsd_matrix(X, X, ck.automorphisms(heavy))
    tmp = args.output + ".tmp"
    with Chem.SDWriter(tmp) as writer:
        for conf in mol.GetConformers():
            mol.SetProp("_Name", args.name or args.smiles)
            mol.SetProp("model", args.model)
            writer.write(mol, confId=conf.GetId())
    os.replace(tmp, args.output)  # never leave a half-written SDF behind
    off = spread[~torch.eye(len(X), dtype=torch.bool)]
    print(f"wrote {len(X)} conformers of {args.smiles} ({heavy.GetNumAtoms()} heavy atoms) to {args.output}; "
          f"model {args.model}; pairwise symmetric heavy-atom RMSD "
          + (f"mean {off.mean():.2f} A, min {off.min():.2f} A" if off.numel() else "n/a (one conformer)"))
    return 0


def _data_prepare(args) -> int:
    from conformers.data import prepare

    try:
        report = prepare(args.geom, args.name, args.out, workers=args.workers, hydrogens=args.hydrogens,
                         max_heavy_atoms=args.max_heavy_atoms, limit=args.limit, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in report["failures"]:
        print(f"skipped {failure['smiles']}: {failure['reason']} ({failure['detail']})", file=sys.stderr)
    rate = report["throughput"]["molecules_per_second"]
    print(f"{args.out}: kept {report['molecules_kept']} molecules / {report['conformers_kept']} conformers of "
          f"{report['entries']}; skipped {report['molecules_skipped']} {report['skipped_by_reason']}; "
          f"quirks handled {report['quirks_handled']}; {rate} molecules/s; report in {args.out}/report.json")
    return 0


def _data_split(args) -> int:
    from conformers.data import MoleculeCache, make_split, save_split

    try:
        cache = MoleculeCache(args.cache)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    split = make_split(cache.smiles, cache.num_conformers().tolist(), n_train=args.train, n_val=args.val,
                       n_test=args.test, seed=args.seed, min_train_conformers=args.min_train_conformers,
                       test_conformer_range=(args.test_min_conformers, args.test_max_conformers))
    save_split(split, args.out)
    print(f"{args.out}: train {len(split['train'])}, val {len(split['val'])}, test {len(split['test'])} "
          f"molecules (seed {args.seed}; no connectivity identity shared between splits)")
    return 0


def _data_build(args) -> int:
    from conformers.data.build import BuildSettings, build, read_smiles_file

    try:
        molecules = read_smiles_file(args.smiles) if os.path.isfile(args.smiles) else [
            (f"MOL{i}", s) for i, s in enumerate(args.smiles.split(","))]
        settings = BuildSettings(method=args.method, num_seeds=args.seeds, seed=args.seed,
                                 max_heavy_atoms=args.max_heavy_atoms)
        report = build(molecules, args.out, args.subset, settings, workers=args.workers,
                       time_budget=args.time_budget, progress=not args.quiet)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in report["failures"]:
        print(f"failed {failure['name']} {failure['smiles']}: {failure['reason']} ({failure['detail']})",
              file=sys.stderr)
    print(f"{args.out}: built {report['built']} of {report['molecules']} molecules ({report['failed']} failed, "
          f"{report['not_started_time_budget']} not started within the time budget); "
          f"summary_{args.subset}.json and {args.subset}/*.pickle in GEOM's rdkit_folder layout")
    return 0 if report["failed"] == 0 and report["not_started_time_budget"] == 0 else 1


def _count(text):
    """A split size: an integer count, a fraction in (0, 1), or 'all'."""
    if text == "all":
        return None
    value = float(text)
    return value if 0 < value < 1 else int(value)


def _add_data_commands(sub):
    data = sub.add_parser("data", help="prepare GEOM data, split it, build GEOM-like reference sets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    prep = dsub.add_parser("prepare", help="convert a GEOM rdkit_folder release into a streaming cache")
    prep.add_argument("--geom", required=True, help="folder with summary_<name>.json and <name>/*.pickle")
    prep.add_argument("--name", required=True, help="subset: qm9 or drugs (any summary_<name>.json works)")
    prep.add_argument("--out", required=True, help="cache folder (resumes if it exists)")
    prep.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    prep.add_argument("--hydrogens", action="store_true", help="keep all atoms (default: heavy atoms)")
    prep.add_argument("--max-heavy-atoms", type=int, default=None)
    prep.add_argument("--limit", type=int, default=None, help="only the first N molecules (by SMILES)")
    prep.add_argument("--quiet", action="store_true")
    prep.set_defaults(func=_data_prepare)
    split = dsub.add_parser("split", help="seeded train/val/test split by molecule, leakage-checked")
    split.add_argument("--cache", required=True)
    split.add_argument("--out", required=True, help="split JSON file")
    split.add_argument("--train", type=_count, default=40_000, help="count, fraction or 'all' (default 40000)")
    split.add_argument("--val", type=_count, default=5_000)
    split.add_argument("--test", type=_count, default=200)
    split.add_argument("--seed", type=int, default=2021)
    split.add_argument("--min-train-conformers", type=int, default=5, help="ConfGF: 5")
    split.add_argument("--test-min-conformers", type=int, default=1)
    split.add_argument("--test-max-conformers", type=int, default=None)
    split.set_defaults(func=_data_split)
    bld = dsub.add_parser("build", help="build GEOM-like conformer ensembles from SMILES")
    bld.add_argument("--smiles", required=True, help=".smi file (SMILES [name] per line) or comma-separated SMILES")
    bld.add_argument("--out", required=True)
    bld.add_argument("--method", choices=["mmff", "xtb"], default="mmff", help="xtb needs `pip install tblite`")
    bld.add_argument("--subset", default="drugs", help="summary_<subset>.json / <subset>/ (default drugs)")
    bld.add_argument("--seeds", type=int, default=30, help="ETKDG embeddings per molecule")
    bld.add_argument("--seed", type=int, default=0)
    bld.add_argument("--max-heavy-atoms", type=int, default=100)
    bld.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    bld.add_argument("--time-budget", type=float, default=None, help="seconds; start no molecule after it")
    bld.add_argument("--quiet", action="store_true")
    bld.set_defaults(func=_data_build)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conformers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate 3D conformers of a SMILES and write them to an SDF file")
    gen.add_argument("smiles")
    gen.add_argument("-n", "--num", type=int, default=10, help="number of conformers (default 10)")
    gen.add_argument("-o", "--output", default="conformers.sdf", help="output SDF path")
    gen.add_argument("--model", default="rdkit", choices=["rdkit"],
                     help="generator; the deep models (confopt, dmcg, confgf, confvae) are not shipped yet")
    gen.add_argument("--mmff", action="store_true", help="relax with MMFF94 (rdkit model)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--name", default=None, help="SDF title (default: the SMILES)")
    gen.set_defaults(func=_generate)
    _add_data_commands(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`conformers data prepare|split|build`."""
from __future__ import annotations

import os
import sys

from ._arguments import seed


def _data_prepare(args) -> int:
    from conformers.data import prepare
    from conformers.data.qm9 import prepare_qm9

    if (args.geom is None) == (args.qm9 is None):
        print("error: give either --geom FOLDER (with --name) or --qm9 [FOLDER]", file=sys.stderr)
        return 2
    if args.geom is not None and not args.name:
        print("error: --geom needs --name (the subset: qm9 or drugs)", file=sys.stderr)
        return 2
    try:
        if args.qm9 is not None:
            report = prepare_qm9(args.qm9 or None, args.out, workers=args.workers, hydrogens=args.hydrogens,
                                 starts=args.starts, limit=args.limit, split=args.split,
                                 starts_sample=_sample_sizes(args.starts_sample), progress=not args.quiet)
        else:
            report = prepare(args.geom, args.name, args.out, workers=args.workers, hydrogens=args.hydrogens,
                             max_heavy_atoms=args.max_heavy_atoms, limit=args.limit, progress=not args.quiet)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in report["failures"]:
        print(f"skipped {failure['smiles']}: {failure['reason']} ({failure['detail']})", file=sys.stderr)
    rate = report["throughput"]["molecules_per_second"]
    if "split" in report:
        print(f"split.json: " + ", ".join(f"{k} {v['kept']} of {v['indices']}" for k, v in report["split"].items()))
    print(f"{args.out}: kept {report['molecules_kept']} molecules / {report['conformers_kept']} conformers of "
          f"{report['entries']}; skipped {report['molecules_skipped']} {report['skipped_by_reason']}; "
          f"quirks handled {report['quirks_handled']}; {rate} molecules/s; report in {args.out}/report.json")
    return 0


def _data_split(args) -> int:
    from conformers.data import MoleculeCache, make_split, save_split

    try:
        cache = MoleculeCache(args.cache)
        split = make_split(cache.smiles, cache.num_conformers().tolist(), n_train=args.train, n_val=args.val,
                           n_test=args.test, seed=args.seed, min_train_conformers=args.min_train_conformers,
                           test_conformer_range=(args.test_min_conformers, args.test_max_conformers))
    except (FileNotFoundError, ValueError) as exc:  # a missing cache, nonsense split sizes
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
                                 max_heavy_atoms=args.max_heavy_atoms, embed_timeout=args.embed_timeout)
        report = build(molecules, args.out, args.subset, settings, workers=args.workers,
                       time_budget=args.time_budget, progress=not args.quiet)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in report["failures"]:
        print(f"failed {failure['name']} {failure['smiles']}: {failure['reason']} ({failure['detail']})",
              file=sys.stderr)
    for twin in report["duplicates"]:
        print(f"skipped {twin['name']} {twin['smiles']}: the same molecule as {twin['same_as']}", file=sys.stderr)
    print(f"{args.out}: built {report['built']} of {report['molecules']} molecules ({report['failed']} failed, "
          f"{len(report['duplicates'])} duplicates skipped, "
          f"{report['not_started_time_budget']} not started within the time budget); "
          f"summary_{args.subset}.json and {args.subset}/*.pickle in GEOM's rdkit_folder layout")
    return 0 if report["failed"] == 0 and report["not_started_time_budget"] == 0 else 1


def _data_merge(args) -> int:
    from conformers.data.merge import merge_caches

    try:
        use = [dict(p.split("=", 1) for p in item.split(",") if p) if item else {} for item in
               (args.use.split(";") if args.use else [""] * len(args.caches))]
        repeat = [int(r) for r in args.repeat.split(",")] if args.repeat else None
        report = merge_caches(args.caches, args.out, repeat=repeat, use=use, held_out=args.held_out or [])
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for row in report["per_source"]:
        print(f"{row['cache']}: train {row['train']} (dropped {row['train_dropped_held_out_elsewhere']} held out "
              f"in another source), val {row['val']}, test {row['test']}")
    print(f"{args.out}: {report['molecules']} molecules in {report['shards']} shards; split {report['split']}")
    return 0


def _sample_sizes(text):
    """'train=24000,val=2000' -> {'train': 24000, 'val': 2000}; None stays None."""
    if text is None:
        return None
    out = {}
    for part in text.split(","):
        name, sep, count = part.partition("=")
        if not sep or not count.strip().isdigit():
            raise ValueError(f"--starts-sample takes SPLIT=COUNT[,SPLIT=COUNT], got {text!r}")
        out[name.strip()] = int(count)
    return out


def _count(text):
    """A split size: an integer count, a fraction in (0, 1), or 'all'."""
    if text == "all":
        return None
    value = float(text)
    return value if 0 < value < 1 else int(value)


def add_data_commands(sub):
    data = sub.add_parser("data", help="prepare GEOM data, split it, build GEOM-like reference sets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    prep = dsub.add_parser("prepare", help="convert a GEOM rdkit_folder release or QM9 into a streaming cache")
    prep.add_argument("--geom", help="folder with summary_<name>.json and <name>/*.pickle")
    prep.add_argument("--name", help="with --geom, the subset: qm9 or drugs (any summary_<name>.json works)")
    prep.add_argument("--qm9", nargs="?", const="", metavar="DIR",
                      help="QM9's DFT geometries from qm9pack's CSV files in DIR (default: the installed "
                           "qm9pack, pip install -e \".[qm9]\")")
    prep.add_argument("--starts", type=int, default=10,
                      help="with --qm9: RDKit+MMFF starting conformers stored per molecule (ConfOpt's pool; 0: none)")
    prep.add_argument("--starts-sample", metavar="SPLIT=N[,SPLIT=N]",
                      help="with --qm9 and --split: starts only for a seeded random sample of these splits")
    prep.add_argument("--split", help="with --qm9: a QM9-index split file (data/qm9/split.json) to write OUT/split.json from")
    prep.add_argument("--out", required=True, help="cache folder (resumes if it exists)")
    prep.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    prep.add_argument("--hydrogens", action="store_true", help="keep all atoms (default: heavy atoms)")
    prep.add_argument("--max-heavy-atoms", type=int, default=None)
    prep.add_argument("--limit", type=int, default=None, help="only the first N molecules (by SMILES)")
    prep.add_argument("--quiet", action="store_true")
    prep.set_defaults(func=_data_prepare)
    merge = dsub.add_parser("merge", help="several prepared caches as one, splits united without leakage")
    merge.add_argument("caches", nargs="+", help="prepared caches, each with its split.json")
    merge.add_argument("--out", required=True, help="new cache folder")
    merge.add_argument("--repeat", help="comma-separated train oversampling per cache, e.g. 1,4,4")
    merge.add_argument("--use", help="per cache (';'-separated) the split lists that fill the merged ones, "
                                     "e.g. 'train=train_with_starts,val=val_with_starts;;'")
    merge.add_argument("--held-out", nargs="+", metavar="CACHE",
                       help="caches that contribute no molecules, only held-out ones: their val/test "
                            "molecules leave the merged train split, their test molecules its val split")
    merge.set_defaults(func=_data_merge)
    split = dsub.add_parser("split", help="seeded train/val/test split by molecule, leakage-checked")
    split.add_argument("--cache", required=True)
    split.add_argument("--out", required=True, help="split JSON file")
    split.add_argument("--train", type=_count, default=40_000, help="count, fraction or 'all' (default 40000)")
    split.add_argument("--val", type=_count, default=5_000)
    split.add_argument("--test", type=_count, default=200)
    split.add_argument("--seed", type=seed, default=2021)
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
    bld.add_argument("--seed", type=seed, default=0)
    bld.add_argument("--max-heavy-atoms", type=int, default=100)
    bld.add_argument("--embed-timeout", type=float, default=None,
                     help="seconds per molecule for ETKDG; a molecule not embedded by then fails (default: no bound)")
    bld.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    bld.add_argument("--time-budget", type=float, default=None, help="seconds; start no molecule after it")
    bld.add_argument("--quiet", action="store_true")
    bld.set_defaults(func=_data_build)

"""The `conformers` command line: generate, optimize, evaluate, train, models, data."""
from __future__ import annotations

import argparse
import math
import os
import sys

from ._arguments import seed
from .data_commands import add_data_commands

EMBED_TIMEOUT = 60.0  # s per molecule in RDKit embedding and sampling: typical drug-like molecules take well under 1 s

def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _bad_output_file(path: str) -> str | None:
    """Why the output file ``path`` cannot be written (checked before any work), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return f"output {path} is a folder; give a file name (e.g. {os.path.join(path, 'out.sdf')})"
    if not os.path.isdir(folder):
        return f"no folder {folder} for the output {path}: create it first"
    if not os.access(folder, os.W_OK):
        return f"cannot write into {folder} (permission denied)"
    return None


def _bad_output_folder(path: str) -> str | None:
    """Why ``path`` cannot be the report folder (an existing file, an unwritable parent), or None."""
    if os.path.exists(path) and not os.path.isdir(path):
        return f"--out {path} is a file, not a folder"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(path) and not (os.path.isdir(parent) and os.access(parent, os.W_OK)):
        return f"cannot create the folder {path} (its parent is missing or not writable)"
    return None


def _load(args):
    """``--model`` by name or checkpoint, with ``--model-set KEY=VALUE`` config overrides (YAML
    values), on ``--device``; ValueError naming a bad setting or device."""
    from conformers._device import resolve_device
    from conformers.models import load_model
    from conformers.train.config import parse_model_set

    name, settings = args.model, args.model_set
    device = resolve_device(args.device)  # a bad or absent device fails before the model loads
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)

    model = load_model(name, **parse_model_set(settings))
    if hasattr(model, "to"):  # the graph models: weights moved once; batches follow them
        model.to(device)
    elif args.device not in ("auto", "cpu"):
        raise ValueError(f"model {model.name} runs on the CPU only (RDKit), not on {args.device}")
    return model


def _generate(args) -> int:
    from conformers.generation import SDFStream, generate_stream, read_inputs

    if not args.smiles and not args.input:
        return _error("give SMILES arguments or --input FILE.smi|FILE.sdf")
    if (bad := _bad_output_file(args.output)):
        return _error(bad)
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        return _error(f"--timeout must be a positive number of seconds, got {args.timeout}")
    try:
        inputs = read_inputs(args.smiles, args.input)
        model = _load(args)
    except (FileNotFoundError, ValueError) as exc:
        return _error(str(exc))
    if args.num < 1:
        return _error(f"-n must be >= 1, got {args.num}")
    model.timeout = args.timeout
    # the name asked for (confopt-generation, a checkpoint path), not the class's: several share one class
    stream, failed, seconds = SDFStream(args.output, args.model, args.seed), 0, 0.0
    try:
        for r in generate_stream(inputs, model, args.num, seed=args.seed, mmff=args.mmff, stereo=args.stereo):
            stream.add(r)  # on disk before the next molecule starts
            failed += r.error is not None
            seconds += 0.0 if r.error else r.seconds
            if r.error:
                print(f"failed {r.input.name}: {r.error}", file=sys.stderr)
            for note in r.notes:
                print(f"{r.input.name}: {note}", file=sys.stderr)
            if r.stereo_wrong:
                print(f"{r.input.name}: {r.stereo_wrong} conformers with stereo unlike the input"
                      f" ({r.stereo_fixed} mirrored, {r.stereo_dropped} dropped and drawn again, {r.stereo_repaired} "
                      f"repaired to fill a shortfall; "
                      f"--stereo {args.stereo})",
                      file=sys.stderr)
    except KeyboardInterrupt:
        print(f"interrupted: the {stream.molecules} molecules finished ({stream.written} conformers) are in "
              f"{stream.partial}", file=sys.stderr)
        return 130
    ok = len(inputs) - failed
    if stream.written:
        written = stream.close()
    else:  # nothing succeeded: no empty output file
        stream.discard()
        written = 0
    print(f"wrote {written} conformers of {ok}/{len(inputs)} molecules to {args.output} "
          f"(model {args.model}, seed {args.seed}, {seconds / max(ok, 1):.3f} s per molecule)")
    return 0 if not failed else 1


def _optimize(args) -> int:
    from rdkit import Chem

    from conformers.data.sdf import read_sdf_records
    from conformers.generation import Generated, InputMolecule, group_sdf_records, not_3d, write_sdf

    if (bad := _bad_output_file(args.output)):
        return _error(bad)
    try:
        model = _load(args)
    except ValueError as exc:
        return _error(str(exc))
    if not hasattr(model, "optimize"):
        return _error(f"model {model.name} cannot optimize conformers")
    if not os.path.isfile(args.input):
        return _error(f"no input file at {args.input}")
    try:
        mols = read_sdf_records(args.input)
    except ValueError as exc:
        return _error(str(exc))
    if not mols:
        return _error(f"{args.input} holds no molecules (empty SDF)")
    groups = group_sdf_records(mols)
    readable = [g for g in groups if g[2] is not None]
    flat = {k: not_3d(mol) for k, (_, _, mol) in enumerate(readable)}
    todo = [k for k, why in flat.items() if why is None]
    refined = iter(model.optimize([readable[k][2] for k in todo]))  # every molecule in one call, batched
    optimized = [ValueError(flat[k]) if flat[k] else next(refined) for k in range(len(readable))]
    results = []
    for (name, numbers, mol), out in zip(readable, optimized):
        item = InputMolecule(name, Chem.MolToSmiles(Chem.RemoveHs(mol)), mol)
        results.append(Generated(item, error=str(out)) if isinstance(out, Exception) else Generated(item, out))
    # nothing refined: no empty output file, as generate
    written = write_sdf(results, args.output, args.model, 0) if any(r.mol for r in results) else 0
    for name, numbers, mol in groups:
        if mol is None:
            print(f"failed {name}: RDKit could not read the record", file=sys.stderr)
    bad = 0
    for (name, numbers, _), r in zip(readable, results):
        if r.error:
            bad += len(numbers)
            print(f"failed {name} (records {numbers[0]}-{numbers[-1]}): {r.error}", file=sys.stderr)
    bad += sum(1 for g in groups if g[2] is None)
    print(f"wrote {written} optimized conformers of {len(readable)} molecules to {args.output} "
          f"(model {args.model}); {bad} failed")
    return 0 if bad == 0 else 1


def _evaluate(args) -> int:
    from conformers.metrics.ensembles import read_ensembles, read_generated_and_reference

    if (args.generated is None) == (args.model is None):
        return _error("give either --generated FILE or --model NAME (which generates --ratio x the references)")
    if not (math.isfinite(args.threshold) and args.threshold > 0):
        return _error(f"--threshold (delta, in A) must be a positive number, got {args.threshold}")
    if (bad := _bad_output_folder(args.out)):
        return _error(bad)
    try:
        if args.generated:  # the files are read in two worker processes while torch loads here
            (generated, gen_failures), (references, ref_failures) = read_generated_and_reference(
                args.generated, args.reference, split=args.split, meanwhile=_import_evaluation)
        else:
            references, ref_failures = read_ensembles(args.reference, split=args.split)
            generated, gen_failures = _generate_for(references, args)
    except (FileNotFoundError, ValueError) as exc:
        return _error(str(exc))
    for f in ref_failures:
        f["reason"] = f"reference_{f['reason']}"
    import contextlib

    from conformers._io import fork_pool
    from conformers.metrics.evaluation import evaluate, import_matplotlib, write_report

    with fork_pool(1) or contextlib.nullcontext() as plotter:
        if plotter and not args.no_plot:
            plotter.submit(import_matplotlib)  # meanwhile, in the worker
        result = evaluate(generated, references, args.threshold, stereo=not args.no_stereo,
                          read_failures=gen_failures + ref_failures, progress=not args.quiet)
        summary = write_report(result, args.out, plot=not args.no_plot, plotter=plotter)
    for f in result.failures:
        print(f"not evaluated {f['key']}: {f['reason']} ({f['detail']})", file=sys.stderr)
    if summary["symmetry_upper_bound_molecules"]:
        print(f"{len(summary['symmetry_upper_bound_molecules'])} molecules have more automorphisms than "
              f"{ck_cap():,} and the search beyond the cap stopped at its step budget: their RMSDs are upper "
              f"bounds: {', '.join(summary['symmetry_upper_bound_molecules'][:5])}", file=sys.stderr)
    print(f"{summary['n_molecules']} molecules evaluated ({summary['n_generated_conformers']} generated, "
          f"{summary['n_reference_conformers']} reference conformers), {summary['n_failed']} failed; "
          f"delta {args.threshold} A: COV-R {_pct(summary['cov_recall_mean'])} / MAT-R {_ang(summary['mat_recall_mean'])}, "
          f"COV-P {_pct(summary['cov_precision_mean'])} / MAT-P {_ang(summary['mat_precision_mean'])} (means); "
          f"report in {args.out}/summary.json")
    return 0 if summary["n_molecules"] else 1


def _import_evaluation() -> None:
    import conformers.metrics.evaluation  # noqa: F401 (torch and the kernels: ~1.5 s)


def ck_cap() -> int:
    import conformer_kernels as ck

    return ck.DEFAULT_MAX_AUTOMORPHISMS


def _generate_for(references: dict, args):
    """--model: ratio x the reference count of conformers per reference molecule, through the same
    generation pipeline as `generate` (written to OUT/generated.sdf, timing in OUT/generation.json)."""
    import json
    import time

    from rdkit import Chem

    from conformers.generation import InputMolecule, generate, heavy_ensembles, write_sdf

    model = _load(args)
    inputs = [InputMolecule(key, Chem.MolToSmiles(e.mol), e.mol) for key, e in references.items()]
    counts = [args.ratio * len(e.coordinates) for e in references.values()]
    start = time.perf_counter()
    results = generate(inputs, model, counts, seed=args.seed, mmff=args.mmff, stereo=args.stereo)
    seconds = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    if any(r.mol for r in results):
        write_sdf(results, os.path.join(args.out, "generated.sdf"), args.model, args.seed)
    with open(os.path.join(args.out, "generation.json"), "w") as handle:
        json.dump({"model": args.model, "config": model.config, "seed": args.seed, "ratio": args.ratio, "mmff": args.mmff,
                   "stereo": args.stereo, **{f"stereo_{k}": sum(getattr(r, f"stereo_{k}") for r in results)
                                             for k in ("wrong", "fixed", "dropped", "repaired")},
                   "molecules": len(inputs), "conformers": sum(counts), "seconds": round(seconds, 3),
                   "seconds_per_molecule": round(seconds / max(len(inputs), 1), 4)}, handle, indent=1)
    failures = [{"key": r.input.name, "reason": "generation_failed", "detail": r.error} for r in results if r.error]
    return heavy_ensembles(results), failures


def _evaluate_optimization(args) -> int:
    from conformers.metrics.optimization import optimization_rmsd, write_optimization_report

    if args.starts < 1:
        return _error(f"--starts must be >= 1, got {args.starts}")
    if (bad := _bad_output_folder(args.out)):
        return _error(bad)
    try:
        model = _load(args)
        if not hasattr(model, "optimize"):
            return _error(f"model {model.name} cannot optimize conformers")
        report = optimization_rmsd(model, args.reference, split=args.split, starts=args.starts, seed=args.seed,
                                   limit=args.limit, workers=args.workers, mirror=args.mirror,
                                   progress=not args.quiet, starts_cache=args.starts_cache, timeout=args.timeout)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        return _error(str(exc))
    write_optimization_report(report, args.out)
    for f in report["not_evaluated"]:
        print(f"not evaluated {f['molecule']}: {f['reason']} ({f['detail']})", file=sys.stderr)
    row = lambda s: (f"{s['mean']:.4f} +- {s['mean_std_over_starts']:.4f} A mean / "
                     f"{s['median']:.4f} +- {s['median_std_over_starts']:.4f} A median")
    print(f"{report['molecules']} molecules x {args.starts} RDKit+MMFF starts ({args.split} split), RMSD to the "
          f"closest reference (+- over the starts):\n  RDKit+MMFF  {row(report['rdkit_mmff'])}\n"
          f"  {model.name:10s}  {row(report['optimized'])}\n"
          f"{100 * report['share_improved']:.0f}% of starts improved; {report['seconds_model_per_molecule']:.4f} s "
          f"per molecule for the model; report in {args.out}/optimization.json")
    return 0


def _pct(x):
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _ang(x):
    return "n/a" if x is None else f"{x:.3f} A"


def _models(args) -> int:
    from conformers.models import DEFAULT_MODEL, available
    from conformers.models.base import weights_status

    names = available()
    width = max(map(len, names)) + 2
    for name, description in names.items():
        print(f"{name:{width}s}{description}{'  (default)' if name == DEFAULT_MODEL else ''}\n"
              f"{'':{width}s}[{weights_status(name)}]")
    return 0


def _add_model_options(parser) -> None:
    parser.add_argument("--model-set", action="append", metavar="KEY=VALUE",
                        help="override a model setting, e.g. steps_per_level=10 for confgf (repeatable)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu, cuda or cuda:N; the RDKit models run on the CPU")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of the model's tensor ops (default: torch's, one per core); 1 beside "
                             "other busy processes, where idle threads spin-wait")


def build_parser() -> argparse.ArgumentParser:
    from conformers.defaults import DEFAULT_MODEL, START_TIMEOUT

    parser = argparse.ArgumentParser(prog="conformers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate 3D conformers for SMILES / .smi / .sdf and write an SDF")
    gen.add_argument("smiles", nargs="*", help="SMILES strings")
    gen.add_argument("--input", "-i", help=".smi (SMILES [name] per line) or .sdf (titles name the molecules)")
    gen.add_argument("-n", "--num", type=int, default=10, help="conformers per molecule (default 10)")
    gen.add_argument("-o", "--output", default="conformers.sdf", help="output SDF path")
    gen.add_argument("--model", default=DEFAULT_MODEL, help=f"registered model name or checkpoint (default {DEFAULT_MODEL}; "
                                                             "`conformers models` lists them)")
    _add_model_options(gen)
    gen.add_argument("--mmff", action="store_true", help="polish every conformer with MMFF94")
    gen.add_argument("--stereo", choices=["auto", "keep", "fix", "drop"], default="auto",
                     help="conformers whose 3D stereo differs from the input: keep (and report), fix (mirror when "
                          "that is right, else drop, and fill what new draws leave short with repairs that turn the "
                          "wrong centres and double bonds by rotating acyclic branches), drop; auto (default): fix. Dropped conformers are replaced by "
                          "new draws (up to 3 more sampling rounds)")
    gen.add_argument("--seed", type=seed, default=0)
    gen.add_argument("--timeout", type=float, default=EMBED_TIMEOUT,
                     help=f"seconds each molecule may spend in RDKit embedding (ETKDG, ConfOpt's starts) and in a learned "
                          f"model's sampling before it fails by name; the others are kept (default {EMBED_TIMEOUT:g})")
    gen.set_defaults(func=_generate)

    opt = sub.add_parser("optimize", help="refine input conformers with an optimization model")
    opt.add_argument("input", help="SDF with conformers")
    opt.add_argument("-o", "--output", default="optimized.sdf")
    opt.add_argument("--model", default="rdkit-mmff", help="optimization model (default rdkit-mmff)")
    _add_model_options(opt)
    opt.set_defaults(func=_optimize)

    ev = sub.add_parser("evaluate", help="COV/MAT/MIS of generated conformers against reference ensembles")
    ev.add_argument("--generated", "-g", help="SDF, GEOM rdkit_folder or prepared cache")
    ev.add_argument("--model", "-m", help="instead of --generated: generate with this model, --ratio x references")
    _add_model_options(ev)
    ev.add_argument("--ratio", type=int, default=2, help="generated per reference conformer with --model (default 2)")
    ev.add_argument("--seed", type=seed, default=0)
    ev.add_argument("--mmff", action="store_true", help="with --model: MMFF94-polish the generated conformers")
    ev.add_argument("--stereo", choices=["auto", "keep", "fix", "drop"], default="auto",
                    help="with --model: conformers with the wrong stereo, as generate's --stereo (default auto)")
    ev.add_argument("--reference", "-r", required=True, help="SDF, GEOM rdkit_folder or prepared cache")
    ev.add_argument("--threshold", "-d", type=float, default=1.25, help="delta in A: 0.5 QM9-like, 1.25 drug-like")
    ev.add_argument("--out", required=True, help="report folder (summary.json, per_molecule.csv, curves)")
    ev.add_argument("--split", default="test", help="split of a prepared cache to use (default test)")
    ev.add_argument("--no-stereo", action="store_true", help="skip the stereo-fidelity check")
    ev.add_argument("--no-plot", action="store_true")
    ev.add_argument("--quiet", action="store_true")
    ev.set_defaults(func=_evaluate)

    evo = sub.add_parser("evaluate-optimization",
                         help="RMSD to the references before and after an optimization model refines RDKit+MMFF starts")
    evo.add_argument("--model", "-m", required=True, help="optimization model name or checkpoint")
    _add_model_options(evo)
    evo.add_argument("--reference", "-r", required=True, help="prepared cache with split.json")
    evo.add_argument("--split", default="test")
    evo.add_argument("--starts", type=int, default=10, help="RDKit+MMFF starting conformers per molecule "
                                                             "(default 10, ConfOpt's Table 1)")
    evo.add_argument("--seed", type=seed, default=0)
    evo.add_argument("--limit", type=int, default=None, help="only the split's first N molecules")
    evo.add_argument("--workers", type=int, default=1, help="processes embedding the RDKit+MMFF starts")
    evo.add_argument("--mirror", action="store_true",
                     help="also report the released code's variant (minimum with a z-mirrored copy)")
    evo.add_argument("--timeout", type=float, default=START_TIMEOUT,
                     help=f"seconds per ETKDG attempt (default {START_TIMEOUT:g}); a molecule past it is reported, "
                          "not evaluated")
    evo.add_argument("--starts-cache", metavar="PREFIX",
                     help="keep the RDKit+MMFF starts in PREFIX.npz/.json and reuse them (e.g. to score several "
                          "checkpoints on the same starts)")
    evo.add_argument("--quiet", action="store_true")
    evo.add_argument("--out", required=True)
    evo.set_defaults(func=_evaluate_optimization)

    models = sub.add_parser("models", help="list the registered models")
    models.set_defaults(func=_models)
    add_data_commands(sub)
    from .train_command import add_train_command
    add_train_command(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""Held-out table of generators (issue 17): COV/MAT recall and precision, mean and median, on both
nci-xtb test splits at 0.5 A and 1.25 A, each model without and with --mmff, RDKit ETKDG and
ETKDG+MMFF measured in the same run.

Each (model, split) is generated once through `conformers evaluate --model M` (2x references per
molecule, seed 0, at delta 0.5 A), and the same SDF is then scored at 1.25 A with `evaluate -g`.
A `+mmff` row polishes those same samples with MMFF94 (`conformers optimize --model rdkit-mmff`,
what `--mmff` does after sampling), so each row pair differs by the polish alone and a slow sampler
(ConfGF) samples once; its seconds add the polish to the sampling.
Finished cells are kept (OUT/SPLIT/TAG/d*/summary.json) and skipped on a rerun, so a killed run
resumes. Run alone: evaluation timings and OpenMP threads suffer beside another busy process.

    .venv/bin/python benchmarks/generator_table.py --out runs/table17 \
        rdkit rdkit+mmff confgf confgf+mmff "confgf:steps_per_level=10" ...

A MODEL argument is NAME[+mmff][:KEY=VALUE[,KEY=VALUE]] (a registered name or a checkpoint path;
KEY=VALUE as --model-set). Writes OUT/table.json and prints a markdown table.
"""
import argparse
import json
import os
import subprocess
import sys
import time

SPLITS = ("qm9", "drugs")
THRESHOLDS = (0.5, 1.25)
FIELDS = ("cov_recall_mean", "cov_recall_median", "mat_recall_mean", "mat_recall_median",
          "cov_precision_mean", "cov_precision_median", "mat_precision_mean", "mat_precision_median")


def parse_model(text: str) -> dict:
    """'confgf+mmff:steps_per_level=10' -> {tag, name, mmff, settings}."""
    spec, _, settings = text.partition(":")
    name, mmff = (spec[:-5], True) if spec.endswith("+mmff") else (spec, False)
    return {"tag": text.replace(":", "@").replace("/", "_").replace(",", "+"), "name": name, "mmff": mmff,
            "settings": [s for s in settings.split(",") if s]}


def run(cmd: list) -> None:
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(done.stdout[-1500:], flush=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(cmd)}")


def polished(out: str, split: str, model: dict, conformers: str) -> tuple[str, float]:
    """(SDF, seconds per molecule): the unpolished row's samples, MMFF94-polished."""
    plain = dict(model, mmff=False, tag=model["tag"].replace("+mmff", ""))
    cell(out, split, plain, conformers)
    source = os.path.join(out, split, plain["tag"], f"d{THRESHOLDS[0]}")
    target = os.path.join(out, split, model["tag"], "polished.sdf")
    timing = target + ".json"
    if not os.path.exists(timing):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        start = time.perf_counter()
        run([conformers, "optimize", os.path.join(source, "generated.sdf"), "--model", "rdkit-mmff", "-o", target])
        with open(timing, "w") as handle:
            json.dump({"seconds": time.perf_counter() - start}, handle)
    with open(os.path.join(source, "generation.json")) as handle:
        generation = json.load(handle)
    with open(timing) as handle:
        seconds = json.load(handle)["seconds"]
    return target, generation["seconds_per_molecule"] + seconds / generation["molecules"]


def cell(out: str, split: str, model: dict, conformers: str) -> dict:
    """Generate once at 0.5 A (or polish the plain row's samples), rescore at 1.25 A; returns
    {threshold: summary + seconds}."""
    base = os.path.join(out, split, model["tag"])
    reference = f"data/nci-xtb/{split}"
    first = os.path.join(base, f"d{THRESHOLDS[0]}")
    os.makedirs(base, exist_ok=True)
    sdf, seconds = polished(out, split, model, conformers) if model["mmff"] else (os.path.join(first, "generated.sdf"), None)
    if model["mmff"] and not os.path.exists(os.path.join(first, "summary.json")):
        run([conformers, "evaluate", "-g", sdf, "-r", reference, "-d", str(THRESHOLDS[0]), "--out", first,
             "--no-plot", "--quiet"])
    elif not os.path.exists(os.path.join(first, "summary.json")):
        cmd = [conformers, "evaluate", "--model", model["name"], "-r", reference, "-d", str(THRESHOLDS[0]),
               "--out", first, "--no-plot", "--quiet"]
        for s in model["settings"]:
            cmd += ["--model-set", s]
        run(cmd)
    for d in THRESHOLDS[1:]:
        folder = os.path.join(base, f"d{d}")
        if not os.path.exists(os.path.join(folder, "summary.json")):
            run([conformers, "evaluate", "-g", sdf, "-r", reference, "-d", str(d), "--out", folder,
                 "--no-plot", "--quiet"])
    if seconds is None:
        with open(os.path.join(first, "generation.json")) as handle:
            seconds = json.load(handle)["seconds_per_molecule"]
    row = {}
    for d in THRESHOLDS:
        with open(os.path.join(base, f"d{d}", "summary.json")) as handle:
            summary = json.load(handle)
        row[str(d)] = {k: summary[k] for k in ("n_molecules", "n_failed", *FIELDS, "stereo_fidelity_mean")
                       if k in summary}
        row[str(d)]["seconds_per_molecule"] = seconds
    return row


def markdown(table: dict) -> str:
    lines = ["| split | delta (A) | model | COV-R mean / median | MAT-R (A) mean / median | COV-P mean / median "
             "| MAT-P (A) mean / median | s/molecule |", "|---|---|---|---|---|---|---|---|"]
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"
    ang = lambda x: "n/a" if x is None else f"{x:.4f}"
    for split in SPLITS:
        for d in THRESHOLDS:
            for tag, rows in table.items():
                r = rows[split][str(d)]
                lines.append(f"| {split} | {d} | {tag} | {pct(r['cov_recall_mean'])} / {pct(r['cov_recall_median'])} "
                             f"| {ang(r['mat_recall_mean'])} / {ang(r['mat_recall_median'])} "
                             f"| {pct(r['cov_precision_mean'])} / {pct(r['cov_precision_median'])} "
                             f"| {ang(r['mat_precision_mean'])} / {ang(r['mat_precision_median'])} "
                             f"| {r['seconds_per_molecule']:.3f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME[+mmff][:KEY=VALUE,...]")
    parser.add_argument("--out", required=True)
    parser.add_argument("--splits", default=",".join(SPLITS))
    args = parser.parse_args()
    conformers = os.path.join(os.path.dirname(sys.executable), "conformers")
    table = {}
    for text in args.models:
        model = parse_model(text)
        table[text] = {split: cell(args.out, split, model, conformers) for split in args.splits.split(",")}
    with open(os.path.join(args.out, "table.json"), "w") as handle:
        json.dump(table, handle, indent=1)
    if args.splits == ",".join(SPLITS):
        print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())

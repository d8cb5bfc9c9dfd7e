"""`conformers train --config CFG --out RUN [--resume] [--set section.key=value ...]`.

Data-parallel on many processes, GPUs or nodes: launch the same command with torchrun, e.g.
``torchrun --nproc_per_node 8 -m conformers.cli.main train --config CFG --out RUN``
(``--nnodes N --node_rank R --rdzv_endpoint HOST:PORT`` across nodes). data.batch_size is the
global batch, split evenly over the processes.
"""
from __future__ import annotations

import os
import sys


def _train(args) -> int:
    from conformers.train import load_config, train
    from conformers.train.config import resume_config

    if not args.config and not args.resume:
        print("error: --config is required (with --resume the run's saved config.yaml is used)", file=sys.stderr)
        return 2
    try:
        overrides = (args.set or []) + ([f"train.device={args.device}"] if args.device else [])
        config = resume_config(args.out, args.config, overrides) if args.resume else load_config(args.config, overrides)
        final = train(config, args.out, resume=args.resume)
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":
        return 0
    print(f"trained to step {final['step']} ({final['world_size']} process(es)); best validation "
          f"{final['best_val']}; run folder {args.out} (best.pt, checkpoints/last.pt, log.csv)")
    return 0


def _export(args) -> int:
    from conformers.models.base import export_checkpoint
    from conformers.train.config import parse_model_set

    try:
        payload = export_checkpoint(args.checkpoint, args.output, args.dtype, parse_model_set(args.model_set))
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    size = os.path.getsize(args.output) / 1e6
    print(f"wrote {args.output}: {payload['model']} weights in {args.dtype}, {size:.1f} MB")
    return 0


def add_train_command(sub) -> None:
    p = sub.add_parser("train", help="train a model from a config file (YAML or TOML)",
                       description=__doc__)
    p.add_argument("--config", "-c", help="YAML or TOML: model, data, optim, schedule, train (with --resume: "
                                         "optional, the run's saved config.yaml is used and must agree with it)")
    p.add_argument("--out", "-o", required=True, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt, "
                                                         "with its saved config (change a value with --set)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (the config's train.device, default auto: CUDA "
                                    "when available; under torchrun each rank takes its LOCAL_RANK's GPU)")
    p.set_defaults(func=_train)
    e = sub.add_parser("export", help="write a run's model (best.pt or checkpoints/last.pt) as a weights-only "
                                      "checkpoint, optionally in half precision: what ships")
    e.add_argument("checkpoint", help="RUN/best.pt, RUN/checkpoints/last.pt or a model checkpoint")
    e.add_argument("output", help="the .pt file to write")
    e.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                   help="storage of the floating-point weights (loading casts them back to float32)")
    e.add_argument("--model-set", action="append", metavar="KEY=VALUE",
                   help="store a changed model setting with the weights, e.g. steps_per_level=100 for confgf "
                        "(the sampler settings users get by default; repeatable)")
    e.set_defaults(func=_export)

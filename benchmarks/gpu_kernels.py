"""Every conformer_kernels op on one device against torch's own ops on the same device (the op's
pure-PyTorch reference, run through ck.use_reference()) and against our CPU kernel: forward and
forward+backward medians, in one run. benchmarks/gpu_check.sh runs it on CUDA; on a CPU machine
(``--device cpu --scale 0.05``) it times the same stages without a GPU.

    python benchmarks/gpu_kernels.py --device cuda --out summary/kernels.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import conformer_kernels as ck


def _graph(n_mol: int, atoms: int, generator):
    """n_mol chain-plus-ring molecules of ``atoms`` atoms with every pair within 3 bonds as edges
    (both directions): the extended graphs ConfGF, ConfVAE and ConfOpt run on."""
    edges = []
    for m in range(n_mol):
        base = m * atoms
        for i in range(atoms):
            for j in range(atoms):
                if i != j and (abs(i - j) <= 3 or abs(i - j) >= atoms - 3):
                    edges.append((base + i, base + j))
    index = torch.tensor(edges, dtype=torch.int64).T.contiguous()
    x = torch.randn(n_mol * atoms, 3, generator=generator) * 2
    return x, index


def workloads(scale: float, device: torch.device):
    """name -> (function of (inputs), inputs, differentiable input positions)."""
    g = torch.Generator().manual_seed(0)
    B = max(8, int(100_000 * scale))
    P = torch.randn(B, 25, 3, generator=g)
    Q = P + 0.3 * torch.randn(B, 25, 3, generator=g)
    n_mol = max(2, int(2000 * scale))
    x, index = _graph(n_mol, 24, g)
    E, N = index.shape[1], x.shape[0]
    H, D, C = 8, 16, 128
    G = max(4, int(400 * scale))
    X, Y = torch.randn(G, 30, 3, generator=g), torch.randn(G, 30, 3, generator=g)
    perms = torch.stack([torch.arange(30), torch.cat([torch.arange(29, -1, -1)])])
    out = {
        "kabsch_rmsd": (lambda P, Q: ck.rmsd(P, Q), (P, Q), (0,)),
        "rmsd_matrix": (lambda X, Y, p: ck.rmsd_matrix(X, Y, p), (X, Y, perms), ()),
        "symmetric_rmsd": (lambda P, Q, p: ck.symmetric_rmsd(P, Q, p), (P[:G * 10], Q[:G * 10], perms[:, :25] % 25), ()),
        "segment_softmax_aggregate": (lambda s, v, i: ck.segment_softmax_aggregate(s, v, i, N),
                                      (torch.randn(E, H, generator=g), torch.randn(E, H, D, generator=g), index), (0, 1)),
        "vector_aggregation": (lambda x, i, w: ck.vector_aggregation(x, i, w, normalize=True),
                               (x, index, torch.randn(E, generator=g)), (0, 2)),
        "gine_aggregate": (lambda h, i, e: ck.gine_aggregate(h, i, e),
                           (torch.randn(N, C, generator=g), index, torch.randn(E, C, generator=g)), (0, 2)),
        "edge_geometry": (lambda x, i, c: ck.edge_geometry(x, i, c, 0.5)[2],
                          (x, index, ck.gaussian_centers(0.0, 10.0, 32)[0]), (0,)),
        "distance_descent": (lambda x, i, d: ck.distance_descent(x, i, d, 20, 0.01),
                             (x, index, torch.rand(E, generator=g) * 3 + 1), (0, 2)),
        "gather_layer_norm": (lambda t, i, w, ga, be: ck.gather_layer_norm(t, i, w, ga, be),
                              (torch.randn(N, C, generator=g), torch.randint(0, N, (E, 4), generator=g),
                               torch.rand(E, 4, generator=g), torch.ones(C), torch.zeros(C)), (0, 2)),
    }
    return {k: (fn, tuple(a.to(device) for a in args), grad) for k, (fn, args, grad) in out.items()}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn, device, repeats: int) -> float:
    fn()  # warm-up (CUDA context, allocator, OpenMP pool)
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _call(fn, args, grad, backward: bool, reference: bool):
    def run():
        inputs = [a.detach().requires_grad_() if k in grad and backward else a for k, a in enumerate(args)]
        with ck.use_reference(reference), torch.set_grad_enabled(backward):
            out = fn(*inputs)
            if backward:
                out.float().sum().backward()
    return run


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--scale", type=float, default=1.0, help="workload size (1.0: the GPU sizes)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = {}
    for name, (fn, inputs, grad) in workloads(args.scale, device).items():
        row = {}
        for backward in (False, True):
            if backward and not grad:
                continue
            tag = "fwd_bwd" if backward else "fwd"
            row[f"ours_{tag}_s"] = median_seconds(_call(fn, inputs, grad, backward, False), device, args.repeats)
            row[f"torch_{tag}_s"] = median_seconds(_call(fn, inputs, grad, backward, True), device, args.repeats)
            row[f"speedup_vs_torch_{tag}"] = row[f"torch_{tag}_s"] / row[f"ours_{tag}_s"]
            if device.type == "cuda":  # the same op on our CPU kernel, for the GPU's gain over it
                cpu_inputs = tuple(a.cpu() for a in inputs)
                row[f"ours_cpu_{tag}_s"] = median_seconds(_call(fn, cpu_inputs, grad, backward, False),
                                                          torch.device("cpu"), max(3, args.repeats // 3))
        rows[name] = row
        print(f"{name:28s} " + "  ".join(f"{k}={v:.3g}" for k, v in row.items()), flush=True)
    report = {"device": str(device), "name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "scale": args.scale, "repeats": args.repeats, "ops": rows}
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=1)
    return report


if __name__ == "__main__":
    main()

"""One ConfOpt TwoAtom layer and one ThreeAtom layer, forward + backward, on a GEOM-Drugs-like batch:
32 real drug-like molecules (the repository's nci-xtb set), fully connected heavy-atom graphs,
hidden 256, 16 heads. Ours (conformer_kernels' gather_layer_norm, edge_geometry, segment_attention,
triplet_geometry and triplet_aggregation) against the same layer
written with plain PyTorch index ops, in the same run: time (pytest-benchmark) and peak memory
(torch.profiler's CPU memory timeline: peak tensor memory during the step above its start).
Also the attention aggregation and the edge MLPs' fused first layer (gather_layer_norm against its
reference: gather, weighted sum, LayerNorm, ReLU) alone, where a kernel replaces plain ops one for one."""
import os

import pytest
import torch

from .conftest import MEDIANS, peak_memory_mb, ratio

HERE = os.path.dirname(os.path.abspath(__file__))


def workload():
    from conformers.data import Collater, ConformerDataset, MoleculeCache, nci_xtb
    from conformers.models.confopt.layers import PAIR_CLASSES, ThreeAtomLayer, TwoAtomLayer, element_classes, pair_classes

    ds = ConformerDataset(MoleculeCache(nci_xtb("drugs")[0]))
    seen, items = set(), []
    for k in range(len(ds)):
        item = ds[k]
        if item["index"] not in seen:
            seen.add(item["index"])
            items.append(item)
        if len(items) == 32:
            break
    batch = Collater(ds, ("full",))(items)
    torch.manual_seed(0)
    layer = {"twoatom": TwoAtomLayer(hidden=256, heads=16), "threeatom": ThreeAtomLayer(hidden=256, heads=16)}
    h, pair_table = torch.randn(batch.atomic_numbers.numel(), 256), torch.randn(PAIR_CLASSES, 256)
    pairs = pair_classes(batch.full_bond_type, batch.full_path_length, batch.full_same_conjugated)
    return layer, h, batch.pos, batch.full_index, (pairs, pair_table, batch.full_rotatable), \
        element_classes(batch.atomic_numbers)


def layer_step(state, fused, variant="twoatom"):
    layers, h, pos, index, (pairs, pair_table, rotatable), classes = state
    layer = layers[variant]
    layer.zero_grad()
    x = pos.clone().requires_grad_()
    h_out, x_out = layer(h, x, index, pairs, pair_table, classes, fused=fused, rotatable=rotatable)
    (h_out.square().mean() + x_out.square().mean()).backward()


def attention_inputs(state):
    layer, h, pos, index, _, classes = state
    E = index.shape[1]
    g = torch.Generator().manual_seed(1)
    return (torch.randn(E, 16, generator=g).requires_grad_(), torch.randn(E, 16, 16, generator=g).requires_grad_(),
            index, h.shape[0])


def attention_step(inputs, fused):
    import conformer_kernels as ck
    from conformer_kernels.reference import segment_softmax as plain

    scores, values, index, n = inputs
    fn = ck.segment_softmax_aggregate if fused else plain.segment_softmax_aggregate
    fn(scores, values, index, n).square().sum().backward()


def first_layer_inputs(state):
    """The TwoAtom edge MLPs' fused first layer on the batch: rows of h W^T (atoms), of the pair
    embedding (110 classes) and the distance-feature columns (256), 7 per edge, hidden 256."""
    _, h, pos, index, (pairs, _, _), classes = state
    E, N, g = index.shape[1], h.shape[0], torch.Generator().manual_seed(2)
    table = torch.randn(N + 110 + 256 + 1, 256, generator=g).requires_grad_()
    rows = torch.stack([index[1], N + pairs, *(N + 110 + torch.randint(0, 256, (E,), generator=g) for _ in range(4)),
                        torch.full((E,), N + 366)], 1)
    weight = torch.cat([torch.ones(E, 2), torch.rand(E, 4, generator=g), torch.ones(E, 1)], 1).requires_grad_()
    return table, rows, weight, torch.ones(256, requires_grad=True), torch.zeros(256, requires_grad=True)


def first_layer_step(inputs, fused):
    import conformer_kernels as ck
    from conformer_kernels.reference import gather_layer_norm as plain

    fn = ck.gather_layer_norm if fused else plain.gather_layer_norm
    fn(*inputs).square().sum().backward()


@pytest.fixture(scope="module")
def state():
    return workload()


@pytest.mark.parametrize("variant", ["twoatom", "threeatom"])
@pytest.mark.parametrize("fused", [True, False], ids=["ours", "plain"])
def test_layer_time(record, state, fused, variant):
    prefix = "layer" if variant == "twoatom" else "threeatom"
    record(f"{prefix}_{'ours' if fused else 'plain'}", layer_step, state, fused, variant, rounds=5)


@pytest.mark.parametrize("fused", [True, False], ids=["ours", "plain"])
def test_attention_time(record, state, fused):
    inputs = attention_inputs(state)
    record(f"attention_{'ours' if fused else 'plain'}", attention_step, inputs, fused, rounds=10)


@pytest.mark.parametrize("fused", [True, False], ids=["ours", "plain"])
def test_first_layer_time(record, state, fused):
    record(f"first_layer_{'ours' if fused else 'plain'}", first_layer_step, first_layer_inputs(state), fused, rounds=10)


def test_memory_and_targets(state):
    _, h, pos, index, *_ = state
    inputs, first = attention_inputs(state), first_layer_inputs(state)
    for fused in (True, False):
        name = "ours" if fused else "plain"
        MEDIANS[f"mem_layer_{name}"] = peak_memory_mb(layer_step, state, fused)
        MEDIANS[f"mem_threeatom_{name}"] = peak_memory_mb(layer_step, state, fused, "threeatom")
        MEDIANS[f"mem_attention_{name}"] = peak_memory_mb(attention_step, inputs, fused)
        MEDIANS[f"mem_first_layer_{name}"] = peak_memory_mb(first_layer_step, first, fused)
    print(f"\nbatch: 32 molecules, {h.shape[0]} atoms, {index.shape[1]} edges")
    for what in ("layer", "threeatom", "attention", "first_layer"):
        t = ratio(f"{what}_plain", f"{what}_ours")
        mem_ours, mem_plain = MEDIANS[f"mem_{what}_ours"], MEDIANS[f"mem_{what}_plain"]
        print(f"{what}: ours {MEDIANS[f'{what}_ours'] * 1e3:.1f} ms / {mem_ours:.0f} MB, plain "
              f"{MEDIANS[f'{what}_plain'] * 1e3:.1f} ms / {mem_plain:.0f} MB: {t:.2f}x faster, "
              f"{mem_plain / max(mem_ours, 1e-9):.2f}x less peak memory")
    # Targets (issue 5): each layer at >= 2x time and >= 2x less peak memory than plain PyTorch.
    for what in ("layer", "threeatom"):
        assert ratio(f"{what}_plain", f"{what}_ours") >= 2.0, what
        assert MEDIANS[f"mem_{what}_plain"] >= 2.0 * MEDIANS[f"mem_{what}_ours"], what

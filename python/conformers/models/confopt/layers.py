"""ConfOpt's TwoAtom optimization layer (Guan et al. 2022, eq. 3-4 and appendix E.1).

One layer = an x->h attention update of the atom states, then an h->x attention update of the
coordinates, x_i += mean_heads sum_j a_ij^h s_ij^h (x_i - x_j), over the fully connected graph with
pairs farther apart than the cutoff dropped. Keys, values and the interaction weight come from
2-layer MLPs (LayerNorm, ReLU) of [h_j, e_ij, r_ij]: the atom state, the constant pair embedding
(bond type incl. none, shortest path, same conjugated system) and the released code's distance
features (4 Gaussians of d^2 x the element classes of both atoms, 256 values).

Two implementations of the same function with the same parameters:
- ``fused=True`` (ours): the first Linear of every edge and triplet MLP is applied where its
  input lives -- to atom states once per atom, to the 110 pair classes once, to per-edge features
  once per edge -- and conformer_kernels.gather_layer_norm gathers and sums those rows (with the
  distance features as 4 weighted columns per edge) and applies LayerNorm and ReLU in one pass,
  recomputing them in its backward; the key MLPs' last Linear is folded into the queries (per
  atom); edge geometry, triplet geometry and aggregation, and the attention (scores, segment
  softmax, weighted sum, and their backward) are conformer_kernels' fused kernels. No (E, 768)
  input, no (E, 256) outer product or pre-activation, no key GEMM, no gathered queries and no
  (E, H) score tensor is formed.
- ``fused=False``: the layer as plain PyTorch writes it (concatenated edge inputs, one-hot outer
  product, scatter softmax with index ops): the benchmark's peer and the tests' oracle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

import conformer_kernels as ck

ELEMENT_CLASSES = {6: 1, 7: 2, 8: 3, 9: 4, 16: 5, 17: 6, 35: 7}  # UNK, C, N, O, F, S, Cl, Br
N_CLASSES, N_GAUSSIANS, R2_MAX = 8, 4, 100.0
R_FEATURES = N_CLASSES * N_CLASSES * N_GAUSSIANS  # 256
N_BOND, N_PATH, N_CONJ = 5, 11, 2
PAIR_CLASSES = N_BOND * N_PATH * N_CONJ  # 110


def element_classes(atomic_numbers: torch.Tensor) -> torch.Tensor:
    table = torch.zeros(128, dtype=torch.int64, device=atomic_numbers.device)
    for z, c in ELEMENT_CLASSES.items():
        table[z] = c
    return table[atomic_numbers.clamp(0, 127)]


def pair_classes(bond_type, path_length, same_conjugated) -> torch.Tensor:
    """One index per pair of (bond type incl. none, path length <= 10, same conjugated system)."""
    return (bond_type.clamp(0, N_BOND - 1) * N_PATH + path_length.clamp(0, N_PATH - 1)) * N_CONJ + same_conjugated.long()


def fused_first_layer(linear: nn.Linear, norm: nn.LayerNorm, parts) -> torch.Tensor:
    """relu(norm(linear(cat(inputs)))) without forming the concatenated input: each part of the
    input is (rows, index, weight), meaning row m's slice is sum_b weight[m, b] rows[index[m, b]];
    rows is a (R, n) tensor (gathered features: projected once per row, then gathered) or an int n
    (the identity: index picks input columns, weight holds their values; dense scalars or a
    sparse basis expansion). weight None means ones. conformer_kernels.gather_layer_norm does the
    gather-sum, the bias, the LayerNorm and the ReLU in one pass."""
    W, tables, columns, weights, start, offset = linear.weight, [], [], [], 0, 0
    M = parts[0][1].shape[0]
    for rows, index, weight in parts:
        width = rows if isinstance(rows, int) else rows.shape[1]
        block = W[:, start:start + width]
        tables.append(block.T if isinstance(rows, int) else rows @ block.T)
        index = index if index.dim() == 2 else index[:, None]
        columns.append(index + offset)
        weights.append(torch.ones(index.shape, dtype=W.dtype, device=W.device) if weight is None else
                       (weight if weight.dim() == 2 else weight[:, None]).to(W.dtype))
        start, offset = start + width, offset + tables[-1].shape[0]
    tables.append(linear.bias[None])
    columns.append(torch.full((M, 1), offset, dtype=torch.int64, device=W.device))
    weights.append(torch.ones(M, 1, dtype=W.dtype, device=W.device))
    return ck.gather_layer_norm(torch.cat(tables), torch.cat(columns, 1), torch.cat(weights, 1), norm.weight,
                                norm.bias, norm.eps)


class EdgeMLP(nn.Module):
    """2-layer MLP (LayerNorm, ReLU) of [h_j, e_ij, r_ij(, extra per-edge scalars)], with a plain and
    a fused first layer."""

    def __init__(self, hidden: int, pair_dim: int, n_out: int, use_h: bool = True, extra: int = 0):
        super().__init__()
        self.use_h, self.hidden, self.pair_dim, self.extra = use_h, hidden, pair_dim, extra
        n_in = (hidden if use_h else 0) + pair_dim + R_FEATURES + extra
        self.first, self.norm, self.last = nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, n_out)

    def plain(self, h_src, pair, r_feat, extra=None):
        parts = ([h_src] if self.use_h else []) + [pair, r_feat] + ([extra] if self.extra else [])
        return self.last(torch.relu(self.norm(self.first(torch.cat(parts, 1)))))

    def split(self, h, src, pair_table, pair_index, bag, bag_weights, extra=None, hidden_only=False):
        """The MLP with its first layer fused (``fused_first_layer``): atom states projected once per
        atom, pair embeddings once per pair class, the distance features as 4 weighted columns per
        edge. ``hidden_only`` stops before the last Linear."""
        parts = ([(h, src, None)] if self.use_h else []) + [(pair_table, pair_index, None), (R_FEATURES, bag, bag_weights)]
        if self.extra:
            parts.append((self.extra, torch.arange(self.extra, device=bag.device).expand(bag.shape[0], -1), extra))
        a = fused_first_layer(self.first, self.norm, parts)
        return a if hidden_only else self.last(a)


@dataclass
class Triplets:
    """ThreeAtom's triplets (i, j, k) of one layer call: index (3, T) atoms (i, j, k) with j <= k;
    geometry (a, b, gauss, cos): a, b (T,) the edges (i, j) and (i, k), gauss (E, 16) Gaussians of
    each edge's distance (A), cos (T, 1) cos of the angle jik; weight (T,) each triplet's share of
    its atom's mean (a j < k triplet counts for both orders); has_triplets (N,) 1.0 where atom i has any."""
    index: torch.Tensor
    geometry: tuple
    weight: torch.Tensor
    has_triplets: torch.Tensor


@dataclass
class PairEdges:
    """The pairs a layer call attends over (those within the cutoff), and their edge-MLP inputs.

    index (2, E) destination-major atom pairs (i receives from j = index[1]); distance (E,) A;
    rotatable (E,) bool or None; fused picks the implementation. Edge-MLP inputs: pair_table
    (PAIR_CLASSES, pair_dim) with pair_index (E,), and the distance features as 4 (column, weight)
    entries per edge, bag (E, 4) into the 256 features and rbf (E, 4); the plain path's dense
    inputs, pair_features (E, pair_dim) and distance_features (E, 256), formed once per call. gate
    (E, 1) is the interaction weight, computed by the first update that needs it; triplets are
    ThreeAtom's."""
    index: torch.Tensor
    distance: torch.Tensor
    rotatable: torch.Tensor | None
    fused: bool
    pair_table: torch.Tensor
    pair_index: torch.Tensor
    bag: torch.Tensor
    rbf: torch.Tensor
    gate: torch.Tensor | None = None
    triplets: Triplets | None = None
    pair_features: torch.Tensor | None = None
    distance_features: torch.Tensor | None = None

    def mlp(self, mlp: EdgeMLP, h: torch.Tensor, extra=None, hidden_only: bool = False) -> torch.Tensor:
        """(E, n_out) ``mlp`` of every edge's [h_j, e_ij, r_ij(, extra)] (``hidden_only``: (E, hidden)
        after the first layer), with the fused or the plain first layer."""
        if self.fused:
            return mlp.split(h, self.index[1], self.pair_table, self.pair_index, self.bag, self.rbf, extra, hidden_only)
        if self.pair_features is None:
            self.pair_features = self.pair_table[self.pair_index]
            self.distance_features = torch.zeros(self.rbf.shape[0], R_FEATURES, dtype=self.rbf.dtype,
                                                 device=self.rbf.device).scatter(1, self.bag, self.rbf)
        return mlp.plain(h[self.index[1]], self.pair_features, self.distance_features, extra)


class TwoAtomLayer(nn.Module):
    """One TwoAtom layer (module docstring): x -> h attention update, then h -> x coordinate update."""

    def __init__(self, hidden: int = 256, heads: int = 16, pair_dim: int = 256):
        super().__init__()
        self.hidden, self.heads, self.head_dim = hidden, heads, hidden // heads
        self.gate = EdgeMLP(hidden, pair_dim, 1, use_h=False)   # interaction weight sigmoid(MLP)
        self.h_query, self.x_query = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
        self.h_key, self.h_value = EdgeMLP(hidden, pair_dim, hidden), EdgeMLP(hidden, pair_dim, hidden)
        self.x_key, self.x_value = EdgeMLP(hidden, pair_dim, hidden), EdgeMLP(hidden, pair_dim, heads)
        self.h_out = nn.Sequential(nn.Linear(hidden, hidden), nn.LayerNorm(hidden))

    def forward(self, h, x, index, pair_index, pair_table, classes, cutoff: float = 10.0, fused: bool = True,
                rotatable=None):
        """h (N, hidden) atom states, x (N, 3) coordinates, index (2, E) destination-major pairs,
        pair_index (E,) pair classes, pair_table (PAIR_CLASSES, pair_dim) their embedding,
        classes (N,) element classes. Returns the updated (h, x)."""
        edges = self._edges(x, index, pair_index, pair_table, classes, cutoff, fused, rotatable)
        h = self._update_h(h, edges)
        return h, x + self._update_x(h, x, edges).to(x.dtype)

    def _edges(self, x, index, pair_index, pair_table, classes, cutoff, fused, rotatable) -> PairEdges:
        """The pairs within the cutoff, with their edge-MLP inputs."""
        centers = torch.linspace(0.0, R2_MAX, N_GAUSSIANS, dtype=x.dtype, device=x.device)
        width = R2_MAX / (N_GAUSSIANS - 1)
        if fused:
            d, _, rbf = ck.edge_geometry(x, index, centers, width, None, squared=True)
        else:
            d = (x[index[0]] - x[index[1]]).norm(dim=1)
            rbf = torch.exp(-((d * d)[:, None] - centers) ** 2 / (2 * width ** 2))
        keep = d.detach() <= cutoff  # pairs farther apart than 10 A do not interact
        if bool(keep.all()):
            keep = None
        else:
            index, pair_index, rbf = index[:, keep], pair_index[keep], rbf[keep]
            rotatable = None if rotatable is None else rotatable[keep]
        bag = ((classes[index[0]] * N_CLASSES + classes[index[1]]) * N_GAUSSIANS)[:, None] + torch.arange(
            N_GAUSSIANS, device=x.device)
        return PairEdges(index=index, distance=d[keep] if keep is not None else d, rotatable=rotatable, fused=fused,
                         pair_table=pair_table, pair_index=pair_index, bag=bag, rbf=rbf.to(pair_table.dtype))

    def _gate(self, h, edges: PairEdges) -> torch.Tensor:
        if edges.gate is None:  # atom states do not enter the gate: one per layer call
            edges.gate = torch.sigmoid(edges.mlp(self.gate, h))                               # (E, 1)
        return edges.gate

    def _update_h(self, h, edges):
        """x -> h: each atom attends over all atoms within the cutoff (eq. 4)."""
        n = h.shape[0]
        value = (edges.mlp(self.h_value, h) * self._gate(h, edges)).view(-1, self.heads, self.head_dim)
        message = self._attention(self.h_query(h), self.h_key, h, None, value, edges)
        return h + self.h_out(message.reshape(n, self.hidden))

    def _update_x(self, h, x, edges):
        """h -> x (eq. 3): per-head scalar s_ij^h times (x_i - x_j), softmax-weighted, head-averaged."""
        index = edges.index
        strength = edges.mlp(self.x_value, h) * self._gate(h, edges)                         # (E, H)
        vectors = strength[..., None] * (x[index[0]] - x[index[1]]).to(h.dtype)[:, None, :]  # (E, H, 3)
        return self._attention(self.x_query(h), self.x_key, h, None, vectors, edges).mean(1)

    def _attention(self, query, key_mlp, h, extra, value, edges):
        """softmax over each atom's incoming edges of <q_i, k_e> / sqrt(dh), k_e = key_mlp(edge inputs),
        applied to the values (E, H, D)."""
        H, dh, n, index = self.heads, self.head_dim, query.shape[0], edges.index
        if edges.fused:
            # <q_i^h, W2_h a_e + b2_h> = <W2_h^T q_i^h, a_e> + const_i: the key MLP's last Linear moves
            # to the atoms (the row constant cancels in the softmax), and the kernel takes one shared
            # (E, hidden) key for all heads: no (E, hidden) key GEMM, no gathered queries, no scores.
            a = edges.mlp(key_mlp, h, extra, hidden_only=True)
            U = torch.einsum("nhd,hdc->nhc", query.view(n, H, dh), key_mlp.last.weight.view(H, dh, -1))
            return ck.segment_attention(U, a[:, None, :], value, index, scale=1.0 / math.sqrt(dh))
        key = edges.mlp(key_mlp, h, extra)
        scores = (query[index[0]].view(-1, H, dh) * key.view(-1, H, dh)).sum(-1) / math.sqrt(dh)
        with ck.use_reference():  # the plain path is the op's pure-PyTorch reference
            return ck.segment_softmax_aggregate(scores, value, index, n)


class ExtVLayer(TwoAtomLayer):
    """Ext_v (eq. 6): the atom states also see their cosine proximity P_ij = cos(h_i, h_j), as an
    input of the h-update MLPs and through the gradient term (h_j / |h_j|) f_P(d_ij, h_i, h_j, P_ij),
    which joins the attention values (head by head)."""

    def __init__(self, hidden: int = 256, heads: int = 16, pair_dim: int = 256):
        super().__init__(hidden, heads, pair_dim)
        self.h_key, self.h_value = EdgeMLP(hidden, pair_dim, hidden, extra=1), EdgeMLP(hidden, pair_dim, hidden, extra=1)
        self.proximity = EdgeMLP(hidden, pair_dim, heads, extra=1)  # f_P, one scalar per head

    def _update_h(self, h, edges):
        n, index = h.shape[0], edges.index
        unit = h / h.norm(dim=1, keepdim=True).clamp_min(1e-8)
        P = (unit[index[0]] * unit[index[1]]).sum(1, keepdim=True)
        gate = self._gate(h, edges)
        value = (edges.mlp(self.h_value, h, P) * gate).view(-1, self.heads, self.head_dim)
        f_P = edges.mlp(self.proximity, h, P) * gate                                               # (E, H)
        value = value + f_P[..., None] * unit[index[1]].view(-1, self.heads, self.head_dim)
        message = self._attention(self.h_query(h), self.h_key, h, P, value, edges)
        return h + self.h_out(message.reshape(n, self.hidden))


N_ANGLE_GAUSSIANS = 16


class TripletMLP(nn.Module):
    """2-layer MLP (LayerNorm, ReLU) of a triplet's [m_ij, Gaussians of d_ij, m_ik, Gaussians of
    d_ik, cos(jik)], evaluated for both orders (ijk) and (ikj): the j <-> k symmetry of appendix E.1."""

    def __init__(self, hidden: int, n_out: int):
        super().__init__()
        n_in = 2 * (hidden + N_ANGLE_GAUSSIANS) + 1
        self.first, self.norm, self.last = nn.Linear(n_in, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, n_out)

    def hidden_both_orders(self, m, geometry, fused):
        """(2T, hidden) activations: rows 0..T-1 for (i, j, k), rows T..2T-1 for (i, k, j). Everything
        about (i, j) -- m_ij and the Gaussians of d_ij -- belongs to the edge: projected once per
        edge and gathered, the fused first layer sums 3 rows per triplet instead of a 545-wide input."""
        a, b, gauss, cos = geometry
        ab, ba, cos2 = torch.cat([a, b]), torch.cat([b, a]), torch.cat([cos, cos])
        edge = torch.cat([m, gauss], 1)
        if not fused:
            return torch.relu(self.norm(self.first(torch.cat([edge[ab], edge[ba], cos2], 1))))
        return fused_first_layer(self.first, self.norm, [(edge, ab, None), (edge, ba, None),
                                                         (1, torch.zeros_like(ab), cos2)])


class ThreeAtomLayer(ExtVLayer):
    """The three-atom model (eq. 5 and the v update after it), extending Ext_v as the paper's does.
    Over triplets (i, j, k) with j = k (the pair terms) or (i, j) or (i, k) a rotatable bond:
    x_i += mean_t [(x_i - x_j) f_x(ijk) + (x_i - x_k) f_x(ikj)] (g_x(ijk) = f_x(ikj), appendix E.1),
    and Ext_v's update of the atom states gains mean_t [f_v(ijk) + f_v(ikj)] / 2; f_x and f_v are
    MLPs of the pair messages m_ij, m_ik (edge MLPs of [h_j, e_ij, r_ij], gated) and the angle
    features (Gaussians of d_ij and d_ik, cos of the angle jik). A (j, k) triplet with j < k stands
    for both orders of the sum."""

    def __init__(self, hidden: int = 256, heads: int = 16, pair_dim: int = 256):
        super().__init__(hidden, heads, pair_dim)
        self.pair_message, self.triplet = EdgeMLP(hidden, pair_dim, hidden), TripletMLP(hidden, 1)
        self.v_pair_message, self.triplet_v = EdgeMLP(hidden, pair_dim, hidden), TripletMLP(hidden, hidden)

    def _edges(self, x, index, pair_index, pair_table, classes, cutoff, fused, rotatable) -> PairEdges:
        edges = super()._edges(x, index, pair_index, pair_table, classes, cutoff, fused, rotatable)
        n, dtype = x.shape[0], pair_table.dtype
        t, (a, b) = ck.triplets(edges.index, n, edges.rotatable, return_edges=True)
        if fused:
            d_ij, d_ik, dot = ck.triplet_geometry(x, t)
        else:
            rj, rk = x[t[0]] - x[t[1]], x[t[0]] - x[t[2]]
            d_ij, d_ik, dot = rj.norm(dim=1), rk.norm(dim=1), (rj * rk).sum(1)
        centers = torch.linspace(0.0, 10.0, N_ANGLE_GAUSSIANS, dtype=dtype, device=x.device)
        gauss = lambda d: torch.exp(-((d.to(dtype)[:, None] - centers) ** 2) / (2 * (10.0 / 15) ** 2))
        cos = (dot / (d_ij * d_ik).clamp_min(1e-6)).to(dtype)[:, None]
        # mean over each atom's terms, a (j, k) triplet with j < k counting for both orders
        weight = torch.where(t[1] == t[2], 1.0, 2.0).to(dtype)
        count = torch.zeros(n, dtype=dtype, device=x.device).index_add(0, t[0], weight)
        edges.triplets = Triplets(index=t, geometry=(a, b, gauss(edges.distance), cos),
                                  weight=weight / count.clamp_min(1.0)[t[0]], has_triplets=(count > 0).to(dtype))
        return edges

    def _update_h(self, h, edges):
        tri = edges.triplets
        m = edges.mlp(self.v_pair_message, h) * self._gate(h, edges)                          # (E, hidden)
        act = self.triplet_v.hidden_both_orders(m, tri.geometry, edges.fused)
        T = tri.index.shape[1]
        # f_v's last Linear is applied after the mean over triplets (it is linear): per atom, not per triplet
        mean = torch.zeros_like(h).index_add(0, tri.index[0], (act[:T] + act[T:]) * (tri.weight / 2)[:, None])
        last = self.triplet_v.last
        return super()._update_h(h, edges) + mean @ last.weight.T + tri.has_triplets[:, None] * last.bias

    def _update_x(self, h, x, edges):
        tri = edges.triplets
        t, T = tri.index, tri.index.shape[1]
        m = edges.mlp(self.pair_message, h) * self._gate(h, edges)                            # (E, hidden)
        fg = self.triplet.last(self.triplet.hidden_both_orders(m, tri.geometry, edges.fused))
        f, g = (fg[:T, 0] * tri.weight).to(x.dtype), (fg[T:, 0] * tri.weight).to(x.dtype)
        if edges.fused:
            return ck.triplet_aggregation(x, t, f, g)
        terms = f[:, None] * (x[t[0]] - x[t[1]]) + g[:, None] * (x[t[0]] - x[t[2]])
        return torch.zeros_like(x).index_add(0, t[0], terms)

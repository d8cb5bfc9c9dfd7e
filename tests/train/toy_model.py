"""A small, real trainable model for the engine's tests: message passing over bonds predicts
coordinates from a seeded random start, trained with conformer_kernels' l_RTP. Registered as
"test-gnn" when imported (through the config's model.import, as any plugin model would be)."""
import torch

import conformer_kernels as ck
from conformers.models import ConformerModel, DataSpec, register


class ToyGNN(ConformerModel, torch.nn.Module):
    name = "test-gnn"
    trainable = True
    data_spec = DataSpec(edges=("bond",), mode="conformer", selection="top_k", k=2)

    def __init__(self, hidden: int = 32, layers: int = 2, nan_gradient_every: int = 0, target_noise: float = 0.0):
        torch.nn.Module.__init__(self)
        ConformerModel.__init__(self, hidden=hidden, layers=layers, nan_gradient_every=nan_gradient_every,
                                target_noise=target_noise)
        self.training_calls = 0
        self.embed = torch.nn.Embedding(16, hidden)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.head = torch.nn.Linear(hidden, 3, bias=False)  # l_RTP is translation invariant: a bias gets only
        # rounding noise as gradient, which Adam would amplify into +-lr steps

    def _coordinates(self, batch):
        h = self.embed(batch.atom_features[:, 0])
        src, dst = batch.bond_index
        for layer in self.layers:
            h = h + torch.tanh(layer(h.index_add(0, dst, h[src])))
        # a fixed "random" start per atom (by its index within its molecule), so the forward pass is
        # deterministic and independent of how molecules are grouped into batches
        local = torch.arange(h.shape[0]) - batch.ptr[batch.batch]
        start = torch.sin(local.to(h.dtype)[:, None] * torch.tensor([1.0, 2.0, 3.0]))
        return start + self.head(h)

    def forward(self, batch):
        pred, target = self._coordinates(batch).double(), batch.pos.double()
        if self.training and self.config["target_noise"]:  # draws from the global RNG, as real models do
            target = target + self.config["target_noise"] * torch.randn_like(target)
        loss = ck.rtp_loss(pred, target, batch.permutations, batch.ptr, batch.perm_ptr)
        sizes = torch.diff(batch.ptr).double()
        loss = (loss / sizes).mean().float()  # mean over molecules of per-atom squared error
        every = self.config["nan_gradient_every"]
        if self.training and every:
            self.training_calls += 1
            if self.training_calls % every == 0:  # a finite loss whose gradient is NaN: sqrt'(0) * 0
                loss = loss + torch.sqrt(self.head.weight.sum() * 0.0)
        return {"loss": loss}

    def validation_step(self, batch):
        return self.forward(batch)

    def sample(self, mols, n, seed=0):
        raise NotImplementedError("the engine's test model only trains")


register("test-gnn", ToyGNN, "test-only model for the training engine")

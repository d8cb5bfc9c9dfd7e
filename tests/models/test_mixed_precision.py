"""Every trainable model trains under bfloat16 autocast (what train.precision auto picks on GPUs,
and bfloat16 asks for on a CPU): the loss is finite, near the float32 loss of the same random draws, and every
gradient is finite. ConfOpt's closer check is in test_confopt.py."""
import pytest
import torch

from .small import SMALL, batch_for, small


@pytest.mark.parametrize("name", sorted(set(SMALL) - {"confopt"}))  # confopt: test_confopt.py
def test_bfloat16_autocast_trains(name):
    model = small(name).eval()  # eval: no dropout, the same draws both ways
    batch = batch_for(model)
    torch.manual_seed(1)
    with torch.no_grad():
        full = float(model(batch)["loss"])
    torch.manual_seed(1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    out["loss"].float().backward()
    assert torch.isfinite(out["loss"]) and abs(float(out["loss"]) - full) <= 0.1 * abs(full) + 1e-3, (float(out["loss"]), full)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())

"""Shared fixtures: the devices and dtypes every kernel test runs over."""
import pytest
import torch


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    from conformer_kernels import cuda_compiled

    if request.param == "cuda" and not (torch.cuda.is_available() and cuda_compiled()):
        pytest.skip("needs a CUDA device and a CUDA build")
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param

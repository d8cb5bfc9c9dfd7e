"""Public ops; each has a pure-PyTorch twin in conformer_kernels.reference."""

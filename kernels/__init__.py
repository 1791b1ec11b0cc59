"""restorekit.kernels: Triton kernels with PyTorch references and a dispatcher."""

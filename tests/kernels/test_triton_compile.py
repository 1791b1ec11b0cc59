"""Every Triton kernel compiles to a CUDA binary (sm_90 / sm_80), without a GPU.

The interpreter (used by the other test_triton_* files) accepts programs the compiler
rejects, so this checks the compiled path ahead of time: ``triton.compile`` with an
explicit ``GPUTarget`` runs the whole pipeline (TTIR → TTGIR → LLVM → PTX → cubin with the
bundled ptxas) on the CPU. It runs in a subprocess that imports the kernel modules in
compiled mode (no ``TRITON_INTERPRET``, CUDA reported available), so it cannot disturb the
interpreter mode of the rest of the test session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys
    os.environ.pop("TRITON_INTERPRET", None)
    import torch
    torch.cuda.is_available = lambda: True  # compiled mode without a device (ahead-of-time)
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from restorekit.kernels import triton_common, triton_pixel_filter as pf, triton_rkr as rkr, triton_separable as sep

    assert not triton_common.INTERPRET
    arch = int(sys.argv[1])
    target = GPUTarget("cuda", arch, 32)
    F = "*fp32"
    D = "*fp64"

    def build(kernel, sig, consts, num_warps=4):
        src = ASTSource(fn=kernel, signature=sig, constexprs=consts)
        out = triton.compile(src, target=target, options={"num_warps": num_warps})
        assert len(out.asm["cubin"]) > 0
        print("compiled", kernel.__name__, consts, flush=True)

    blk = dict(BLOCK_H=32, BLOCK_W=32, ACC=tl.float32)
    sig = dict(x_ptr=F, row_ptr=F, col_ptr=F, y_ptr=F, C="i32", H="i32", W="i32",
               BLOCK_H="constexpr", BLOCK_W="constexpr", ACC="constexpr")
    build(sep._sep_fwd_kernel, sig, blk)
    sig = dict(x_ptr=F, g_ptr=F, row_ptr=F, col_ptr=F, gx_ptr=F, part_ptr=F, C="i32", H="i32", W="i32",
               BLOCK_H="constexpr", BLOCK_W="constexpr", ACC="constexpr")
    build(sep._sep_bwd_kernel, sig, blk)

    for adj in (False, True):
        sig = dict(src_ptr=F, f_ptr=F, out_ptr=F, C="i32", CF="i32", H="i32", W="i32", S="i32", F_BSTRIDE="i64",
                   SIGN="constexpr", ADJOINT="constexpr", BLOCK_H="constexpr", BLOCK_W="constexpr", ACC="constexpr")
        build(pf._pf_gather_kernel, sig, dict(SIGN=-1, ADJOINT=adj, BLOCK_H=16, BLOCK_W=32, ACC=tl.float32))
    sig = dict(a_ptr=F, z_ptr=F, gf_ptr=F, C="i32", CF="i32", H="i32", W="i32", S="i32",
               SIGN="constexpr", BLOCK_H="constexpr", BLOCK_W="constexpr", ACC="constexpr")
    build(pf._pf_grad_filter_kernel, sig, dict(SIGN=1, BLOCK_H=16, BLOCK_W=32, ACC=tl.float32))

    def rkr_fwd_sig(p):
        return dict(x_ptr=p, atoms_ptr=p, gamma_ptr=p, w_ptr=p, bias_ptr=p, y_ptr=p, C="i32", C_OUT="i32",
                    H="i32", W="i32", R="i32", P_H="constexpr", P_W="constexpr", CP="constexpr",
                    COP="constexpr", HAS_WEIGHT="constexpr", HAS_BIAS="constexpr", ACC="constexpr")

    def rkr_bwd_sig(p):
        return dict(x_ptr=p, atoms_ptr=p, gamma_ptr=p, w_ptr=p, g_ptr=p, gx_ptr=p, ggamma_ptr=p, pw_ptr=p,
                    pa_ptr=p, C="i32", C_OUT="i32", H="i32", W="i32", R="i32", SEG="i32", P_H="constexpr",
                    P_W="constexpr", CP="constexpr", HAS_WEIGHT="constexpr", NEED_PARAMS="constexpr",
                    ACC="constexpr")

    # P = 64 is the default block for the official R = 21 (rkr_block_size(21))
    build(rkr._rkr_fwd_kernel, rkr_fwd_sig(F),
          dict(P_H=64, P_W=64, CP=4, COP=4, HAS_WEIGHT=True, HAS_BIAS=True, ACC=tl.float32), num_warps=16)
    build(rkr._rkr_fwd_kernel, rkr_fwd_sig(D),
          dict(P_H=32, P_W=32, CP=4, COP=4, HAS_WEIGHT=False, HAS_BIAS=False, ACC=tl.float64))
    build(rkr._rkr_bwd_kernel, rkr_bwd_sig(F),
          dict(P_H=64, P_W=64, CP=4, HAS_WEIGHT=True, NEED_PARAMS=True, ACC=tl.float32), num_warps=16)
    build(rkr._rkr_bwd_kernel, rkr_bwd_sig(F),
          dict(P_H=32, P_W=32, CP=4, HAS_WEIGHT=False, NEED_PARAMS=False, ACC=tl.float32))
    print("ALL COMPILED")
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("arch", [90, 80])
def test_all_kernels_compile_for_cuda(arch: int) -> None:
    pytest.importorskip("triton")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(arch)], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0 and "ALL COMPILED" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]

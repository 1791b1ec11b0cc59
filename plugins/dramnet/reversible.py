"""``dramnet.reversible``: the AdaRevD reversible multi-sub-decoder with DRAMBlocks
(specs/dramnet.md §3; AdaRevD ``AdaRevID_arch.py``, RevCol ``revcol_function.py``).

A sub-decoder holds 4 levels with channels ``[c0, c1, c2, c3]`` = [512, 256, 128, 64] at
``[H/8, H/4, H/2, H]`` and per-channel shortcut scales ``α_l``. With the encoder pyramid
``x = e4, (c0, c1, c2, c3) = (e3, e2, e1, e0)`` one sub-decoder computes::

    c0 ← α0 c0 + L0(x,  c1)
    c1 ← α1 c1 + L1(c0, c2)
    c2 ← α2 c2 + L2(c1, c3)
    c3 ← α3 c3 + L3(c2)           L_l(a, b) = Block_l(up(a) + down(b))

and the next sub-decoder continues from the new ``c`` with the same ``x``. Every step is
invertible given its output: ``c_old = (c_new − L_l(·))/α_l``, so training can run without
storing any activation inside the sub-decoders (:class:`ReversibleColumns`): the backward
recomputes each level from the outputs, level by level (3 → 0) and sub-decoder by
sub-decoder (last → first), replaying the saved RNG state.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.utils.checkpoint import get_device_states, set_device_states

from restorekit.layers import NAFBlock, PixelShuffleUpsample, StridedConvDownsample

from .blocks import DRAMBlock, blur_at

__all__ = [
    "ALPHA_MIN",
    "AdaRevDClassifier",
    "Level",
    "ReversibleColumns",
    "SubDecoder",
    "psnr_classes",
    "run_plain",
    "run_reversible",
]

ALPHA_MIN = 1e-3
"""AdaRevD clamps every shortcut scale to |α| ≥ 1e-3 (keeping its sign) before each forward."""


class Level(nn.Module):
    """``L_l(a, b) = Block_l(up(a) + down(b))`` (spec §3.1).

    ``up``: 1×1 conv 2C → 4C (no bias) + PixelShuffle(2); ``down``: 2×2 stride-2 conv
    C_{l+1} → C_l (bias) + channels-first LayerNorm (eps 1e-5), absent at the last level;
    ``Block``: :class:`DRAMBlock` (``blur_guided=False``: AdaRevD's FCNAFBlock).

    Shapes: ``a`` ``(B, 2C, h/2, w/2)``, ``b`` ``(B, C_{l+1}, 2h, 2w)`` → ``(B, C, h, w)``.
    """

    def __init__(self, channels: int, finer: int | None, heads: int, blur_guided: bool) -> None:
        super().__init__()
        self.up = PixelShuffleUpsample(2 * channels)
        self.down = StridedConvDownsample(finer, channels, norm_eps=1e-5) if finer is not None else None
        self.block = DRAMBlock(channels, heads, blur_guided)

    def forward(self, a: Tensor, b: Tensor | None, blur_map: Tensor | None, exit_mask: Tensor | None) -> Tensor:
        f = self.up(a)
        if self.down is not None:
            f = f + self.down(b)
        blur = blur_at(blur_map.to(f.dtype), tuple(f.shape[-2:])) if (blur_map is not None and self.block.blur_guided) else None
        return self.block(f, blur, exit_mask)


class SubDecoder(nn.Module):
    """One AdaRevD sub-decoder: 4 :class:`Level` s and the shortcut scales ``alphas.l``
    ``(1, C_l, 1, 1)`` (init 0.5). 17,098,496 parameters with FCNAF blocks at [512, 256, 128, 64].

    ``forward(states, blur_map, exit_mask)`` maps ``[x, c0, c1, c2, c3]`` to the new list
    (``x`` unchanged); :meth:`inverse` maps it back.
    """

    def __init__(self, channels: Sequence[int], heads: Sequence[int], blur_guided: bool) -> None:
        super().__init__()
        ch = [int(c) for c in channels]
        self.channels = ch
        self.levels = nn.ModuleList(
            [Level(ch[i], ch[i + 1] if i + 1 < len(ch) else None, int(heads[i]), blur_guided) for i in range(len(ch))]
        )
        self.alphas = nn.ParameterList([nn.Parameter(torch.full((1, c, 1, 1), 0.5)) for c in ch])

    @torch.no_grad()
    def clamp_alphas_(self) -> None:
        """|α| ≥ 1e-3 keeping the sign, in place (AdaRevD ``_clamp_abs``; 0 counts as positive).

        Only tensors that need it are written (so a ``torch.func.functional_call`` with
        parameter views, as the conformance gradcheck uses, is left untouched when no α is small).
        """
        for a in self.alphas:
            if bool((a.abs() < ALPHA_MIN).any()):
                sign = torch.where(a >= 0, 1.0, -1.0).to(a.dtype)
                a.copy_(a.abs().clamp_min(ALPHA_MIN) * sign)

    def level_inputs(self, states: Sequence[Tensor], level: int) -> tuple[Tensor, Tensor | None]:
        """``(a, b)`` of level ``l`` from the state list ``[x, c0, c1, c2, c3]``."""
        b = states[level + 2] if level + 2 < len(states) else None
        return states[level], b

    def forward(self, states: Sequence[Tensor], blur_map: Tensor | None = None, exit_mask: Tensor | None = None) -> list[Tensor]:
        s = list(states)
        for l, level in enumerate(self.levels):
            a, b = self.level_inputs(s, l)
            s[l + 1] = self.alphas[l] * s[l + 1] + level(a, b, blur_map, exit_mask)
        return s

    @torch.no_grad()
    def inverse(self, states: Sequence[Tensor], blur_map: Tensor | None = None, exit_mask: Tensor | None = None) -> list[Tensor]:
        """The inputs ``[x, c0, …, c3]`` that :meth:`forward` maps to ``states``:
        ``c_l = (c_l_new − L_l(a, b))/α_l`` for l = 3 … 0."""
        s = list(states)
        for l in reversed(range(len(self.levels))):
            a, b = self.level_inputs(s, l)
            s[l + 1] = (s[l + 1] - self.levels[l](a, b, blur_map, exit_mask)) / self.alphas[l]
        return s


# ---------------------------------------------------------------------------------------
# The reversible (memory-saving) path
# ---------------------------------------------------------------------------------------


def _rng_state(tensors: Sequence[Any]) -> tuple[Tensor, list[int], list[Tensor]]:
    """CPU RNG state plus the states of the GPUs that ``tensors`` live on (as torch.utils.checkpoint)."""
    devices, states = get_device_states(*[t for t in tensors if isinstance(t, Tensor)])
    return torch.get_rng_state(), devices, states


class ReversibleColumns(torch.autograd.Function):
    """All sub-decoders (and their output heads) as one autograd node that stores only its
    outputs: the forward runs without building a graph; the backward walks the sub-decoders
    last → first and the levels 3 → 0, recomputing ``o_l = L_l(·)`` with gradients on (under
    the forward's RNG and autocast state), back-propagating through it, and recovering
    ``c_l_old = (c_l_new − o_l)/α_l``. The gradient to ``c_l_old`` is ``g·α_l`` plus what
    ``L_{l−1}`` sends back; ``∂/∂α_l = Σ g ⊙ c_l_old``.

    ``apply(runner, x, c0, c1, c2, c3, blur_map, exit_mask, *params)`` returns
    ``(c0, c1, c2, c3, *head_outputs)``; ``params`` are every parameter tensor the runner
    uses, captured when the runner was made (so parameter gradients are ordinary autograd
    outputs — ``torch.autograd.grad`` and ``torch.func.functional_call`` work — and the
    backward recomputes with exactly the tensors of the forward).
    """

    @staticmethod
    def forward(ctx: Any, runner: "_Runner", x: Tensor, c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor,
                blur_map: Tensor | None, exit_mask: Tensor | None, *params: Tensor) -> tuple[Tensor, ...]:
        ctx.runner = runner
        ctx.devices = get_device_states(*[t for t in (x, c0, blur_map) if t is not None])[0]
        ctx.autocast = [(dev, torch.is_autocast_enabled(dev), torch.get_autocast_dtype(dev)) for dev in ("cpu", "cuda")]
        ctx.rng = []
        ctx.exit_mask = exit_mask
        states = [x, c0, c1, c2, c3]
        heads: list[Tensor] = []
        for k in range(len(runner.subs)):
            for l in range(len(runner.subs[k].levels)):
                ctx.rng.append(_rng_state((x, c0, blur_map)))
                a, b = runner.subs[k].level_inputs(states, l)
                states[l + 1] = runner.alphas[k][l] * states[l + 1] + runner.level(k, l, a, b, blur_map, exit_mask)
            if k in runner.head_at:
                heads.append(runner.head(k, states[4]))
        ctx.save_for_backward(*states, blur_map)
        return (*states[1:], *heads)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Any, ...]:
        runner: _Runner = ctx.runner
        saved = ctx.saved_tensors
        states = [t.detach() for t in saved[:5]]
        blur_map = saved[5]
        exit_mask = ctx.exit_mask
        index = {id(p): i for i, p in enumerate(runner.params)}
        pgrads: list[Tensor | None] = [None] * len(runner.params)
        g: list[Tensor | None] = [None, *grads[:4]]
        head_grads = list(grads[4:])
        need_map = blur_map is not None and ctx.needs_input_grad[6]
        g_map: Tensor | None = None

        def add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
            if b is None:
                return a
            return b if a is None else a + b

        def accumulate(ps: Sequence[Tensor], gs: Sequence[Tensor | None]) -> None:
            for p, gp in zip(ps, gs):
                if gp is not None:
                    i = index[id(p)]
                    pgrads[i] = add(pgrads[i], gp)

        with torch.random.fork_rng(devices=ctx.devices, enabled=True), torch.enable_grad():
            autocasts = [torch.autocast(dev, dtype=dt, enabled=en) for dev, en, dt in ctx.autocast if en]
            for ac in autocasts:
                ac.__enter__()
            try:
                rng_i = len(ctx.rng)
                for k in reversed(range(len(runner.subs))):
                    sub = runner.subs[k]
                    if k in runner.head_at:
                        hg = head_grads[runner.head_at.index(k)]
                        c3 = states[4].detach().requires_grad_(True)
                        hp = runner.trainable_head(k)
                        out = runner.head(k, c3)
                        gs = torch.autograd.grad(out, [c3, *hp], hg, allow_unused=True)
                        g[4] = add(g[4], gs[0])
                        accumulate(hp, gs[1:])
                    for l in reversed(range(len(sub.levels))):
                        rng_i -= 1
                        cpu_state, devices, dev_states = ctx.rng[rng_i]
                        torch.set_rng_state(cpu_state)
                        if devices:
                            set_device_states(devices, dev_states)
                        a, b = sub.level_inputs(states, l)
                        a_ = a.detach().requires_grad_(True)
                        b_ = b.detach().requires_grad_(True) if b is not None else None
                        m_ = blur_map.detach().requires_grad_(True) if need_map else blur_map
                        lp = runner.trainable_level(k, l)
                        out = runner.level(k, l, a_, b_, m_, exit_mask)
                        inputs = [a_] + ([b_] if b_ is not None else []) + ([m_] if need_map else []) + lp
                        gout = g[l + 1] if g[l + 1] is not None else torch.zeros_like(out)
                        gs = list(torch.autograd.grad(out, inputs, gout, allow_unused=True))
                        g[l] = add(g[l], gs.pop(0))
                        if b_ is not None:
                            g[l + 2] = add(g[l + 2], gs.pop(0))
                        if need_map:
                            g_map = add(g_map, gs.pop(0))
                        accumulate(lp, gs)
                        with torch.no_grad():
                            alpha = runner.alphas[k][l]
                            old = (states[l + 1] - out.detach()) / alpha
                            if alpha.requires_grad:
                                ga = (gout * old).sum(dim=(0, 2, 3), keepdim=True).to(alpha.dtype)
                                accumulate([alpha], [ga])
                            g[l + 1] = gout * alpha
                            states[l + 1] = old
            finally:
                for ac in reversed(autocasts):
                    ac.__exit__(None, None, None)
        return (None, *g, g_map, None, *pgrads)


class _Runner:
    """What :class:`ReversibleColumns` runs: the sub-decoders, their heads, which heads to
    output, and the parameter tensors of each module *as they are when the runner is made*
    (the forward): the backward recomputes with those through ``torch.func.functional_call``,
    so it matches the forward even when the module's parameters were swapped only for it."""

    def __init__(self, subs: Sequence[SubDecoder], heads: Sequence[nn.Module], head_at: list[int]) -> None:
        self.subs = list(subs)
        self.heads = list(heads)
        self.head_at = list(head_at)
        self.level_params = [[dict(level.named_parameters()) for level in sub.levels] for sub in self.subs]
        self.alphas = [list(sub.alphas) for sub in self.subs]
        self.head_params = {k: dict(self.heads[k].named_parameters()) for k in self.head_at}
        seen: dict[int, Tensor] = {}
        for k in range(len(self.subs)):
            for t in [*self.alphas[k], *(v for d in self.level_params[k] for v in d.values())]:
                seen.setdefault(id(t), t)
        for d in self.head_params.values():
            for t in d.values():
                seen.setdefault(id(t), t)
        self.params = list(seen.values())

    def level(self, k: int, l: int, *args: Any) -> Tensor:
        return functional_call(self.subs[k].levels[l], self.level_params[k][l], args)

    def head(self, k: int, x: Tensor) -> Tensor:
        return functional_call(self.heads[k], self.head_params[k], (x,))

    def trainable_level(self, k: int, l: int) -> list[Tensor]:
        return [t for t in self.level_params[k][l].values() if t.requires_grad]

    def trainable_head(self, k: int) -> list[Tensor]:
        return [t for t in self.head_params[k].values() if t.requires_grad]


def run_reversible(
    subs: Sequence[SubDecoder],
    heads: Sequence[nn.Module],
    head_at: list[int],
    states: Sequence[Tensor],
    blur_map: Tensor | None,
    exit_mask: Tensor | None,
) -> tuple[list[Tensor], list[Tensor]]:
    """Memory-saving path: ``(final states [x, c0..c3], head outputs for head_at)``."""
    runner = _Runner(subs, heads, head_at)
    out = ReversibleColumns.apply(runner, *states, blur_map, exit_mask, *runner.params)
    return [states[0], *out[:4]], list(out[4:])


def run_plain(
    subs: Sequence[SubDecoder],
    heads: Sequence[nn.Module],
    head_at: list[int],
    states: Sequence[Tensor],
    blur_map: Tensor | None,
    exit_mask: Tensor | None,
) -> tuple[list[Tensor], list[Tensor]]:
    """The same computation with ordinary autograd (stores every activation)."""
    s = list(states)
    outs: list[Tensor] = []
    for k, sub in enumerate(subs):
        s = sub(s, blur_map, exit_mask)
        if k in head_at:
            outs.append(heads[k](s[4]))
    return s, outs


# ---------------------------------------------------------------------------------------
# AdaRevD's degradation classifier (early exit by sub-decoder count)
# ---------------------------------------------------------------------------------------

PSNR_THRESHOLDS: tuple[float, ...] = (20.0, 25.0, 30.0, 35.0, 40.0)


def psnr_classes(blurry: Tensor, sharp: Tensor, thresholds: Sequence[float] = PSNR_THRESHOLDS) -> Tensor:
    """AdaRevD's class of each sample: the number of thresholds its blurry-vs-sharp PSNR
    exceeds (class 0: ≤ 20 dB, the hardest … class 5: > 40 dB). Shapes: ``(B, C, H, W)`` → ``(B,)`` long."""
    mse = (blurry.double() - sharp.double()).square().mean(dim=(1, 2, 3)).clamp_min(1e-12)
    psnr = -10.0 * torch.log10(mse)
    t = torch.tensor(list(thresholds), dtype=psnr.dtype, device=psnr.device)
    return (psnr[:, None] > t[None, :]).sum(dim=1)


class AdaRevDClassifier(nn.Module):
    """AdaRevD ``hard_simple`` classifier on e3: 2×2 s2 conv C → 2C, NAFBlock(2C), GAP, LayerNorm,
    Linear 2C → C, GELU, Linear C → classes, times a learnable per-class scale.
    10,001,932 parameters at C = 512 with 6 classes.

    Shapes: ``(B, C, h, w) → (B, classes)`` logits.
    """

    def __init__(self, channels: int = 512, classes: int = 6) -> None:
        super().__init__()
        c2 = 2 * channels
        self.down = nn.Conv2d(channels, c2, 2, stride=2)
        self.block = NAFBlock(c2)
        self.norm = nn.LayerNorm(c2)
        self.fc1 = nn.Linear(c2, channels)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(channels, classes)
        self.scale = nn.Parameter(torch.ones(classes))

    def forward(self, e3: Tensor) -> Tensor:
        z = self.block(self.down(e3)).mean(dim=(-2, -1))
        return self.fc2(self.act(self.fc1(self.norm(z)))) * self.scale


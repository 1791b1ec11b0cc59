"""The ``svmap`` plugin: learned spatially-variant MAP deblurring with IRLS (SVMAP) and the
classical non-blind solvers it is compared with (Levin et al. 2007 IRLS, Krishnan–Fergus
2009 HQS).

Registered through the ``restorekit`` entry point ``svmap``.
"""

from __future__ import annotations

from restorekit import hookimpl


@hookimpl
def register_decoders(register) -> None:
    from .hqs import HQS
    from .levin_irls import LevinIRLS
    from .simap import SIMAP
    from .svmap_irls import SVMAP

    register("levin_irls", LevinIRLS)
    register("hqs", HQS)
    register("irls", SVMAP)
    register("simap", SIMAP)


@hookimpl
def register_commands(cli) -> None:
    """``restorekit demo``: the bundled offline demo (see :mod:`.demo`)."""
    from .demo import configure, run

    cli.add(
        "demo",
        "deblur the bundled sample photographs with the classical solvers and write images, a figure and a PSNR/SSIM table",
        configure,
        run,
    )

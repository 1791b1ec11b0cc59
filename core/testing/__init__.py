"""``restorekit.testing``: the conformance suite plugin authors run on their components.

>>> from restorekit.testing import check_operator, check_decoder, check_loss
"""

from .conformance import (
    ADJOINT_TOL,
    check_blur_estimator,
    check_decoder,
    check_encoder,
    check_loss,
    check_operator,
)

__all__ = [
    "ADJOINT_TOL",
    "check_blur_estimator",
    "check_decoder",
    "check_encoder",
    "check_loss",
    "check_operator",
]

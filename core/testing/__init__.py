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
from .gradients import GRADCHECK_TOL, devices, dtype_matrix, gradcheck_module, run_gradcheck

__all__ = [
    "ADJOINT_TOL",
    "GRADCHECK_TOL",
    "devices",
    "dtype_matrix",
    "gradcheck_module",
    "run_gradcheck",
    "check_blur_estimator",
    "check_decoder",
    "check_encoder",
    "check_loss",
    "check_operator",
]

"""Optimizers of the course: one file per family, each a pure update function plus a thin Optimizer shell.

The public classes (a contract: the book, the autograders and the tests use these names) keep the keywords and
defaults of the oracle they are tested against (``torch.optim`` where PyTorch has the method, otherwise the
authors' code); the test suite checks each against its oracle step by step.
"""

from .sgd import SGD, sgd_update
from .adaptive import Adadelta, Adagrad, RMSprop, adadelta_update, adagrad_update, rmsprop_update
from .adam import Adam, AdamW, adam_update
from .lion import Lion, lion_update
from .lamb import Lamb, lamb_update
from .soap import (
    SOAP,
    soap_init_eigenbases,
    soap_init_factors,
    soap_merged_shape,
    soap_project,
    soap_project_back,
    soap_refresh_eigenbases,
    soap_update,
    soap_update_preconditioner,
)
from .muon import Muon, muon_adjusted_lr, muon_update, zeropower_via_newtonschulz
from .state_size import optimizer_state_bytes
from .schedule_free import (
    AdamWScheduleFree,
    SGDScheduleFree,
    schedule_free_adamw_update,
    schedule_free_adamw_update_yz,
    schedule_free_eval_params,
    schedule_free_interpolate,
    schedule_free_sgd_update,
    schedule_free_sgd_update_yz,
    schedule_free_train_params,
    schedule_free_weight,
)

__all__ = ["SGD", "sgd_update"]
__all__ += ["Adagrad", "RMSprop", "Adadelta", "adagrad_update", "rmsprop_update", "adadelta_update"]
__all__ += ["Adam", "AdamW", "adam_update", "Lion", "lion_update", "Lamb", "lamb_update"]
__all__ += ["SOAP", "soap_update", "soap_project", "soap_project_back", "soap_update_preconditioner"]
__all__ += ["soap_init_eigenbases", "soap_refresh_eigenbases", "Muon", "muon_update", "zeropower_via_newtonschulz"]
__all__ += ["SGDScheduleFree", "AdamWScheduleFree", "schedule_free_sgd_update", "schedule_free_adamw_update"]
__all__ += ["schedule_free_weight", "schedule_free_interpolate", "soap_init_factors", "soap_merged_shape"]
__all__ += ["muon_adjusted_lr"]
__all__ += ["schedule_free_sgd_update_yz", "schedule_free_adamw_update_yz", "schedule_free_eval_params"]
__all__ += ["schedule_free_train_params"]
__all__ += ["optimizer_state_bytes"]

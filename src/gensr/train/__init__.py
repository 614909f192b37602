"""Training: the loop (:func:`fit`), its steps, checkpoints, run log, DDP, validation and release.

``gensr train --config FILE`` runs :func:`fit`; on several GPUs or processes,
``torchrun --nproc_per_node=N -m gensr train --config FILE``.
"""

from __future__ import annotations

from gensr.train.loop import FitResult, TrainingError, fit
from gensr.train.steps import learning_rate, train_step_d, train_step_g

__all__ = ["FitResult", "TrainingError", "fit", "learning_rate", "train_step_d", "train_step_g"]

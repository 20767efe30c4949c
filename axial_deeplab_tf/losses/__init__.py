"""Panoptic-DeepLab losses (float32 whatever the compute dtype)."""

from axial_deeplab_tf.losses.cross_entropy import (
    BootstrappedCrossEntropy, bootstrapped_cross_entropy)
from axial_deeplab_tf.losses.panoptic_loss import PanopticLoss
from axial_deeplab_tf.losses.regression_losses import masked_l1, weighted_mse

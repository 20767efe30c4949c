"""Panoptic-DeepLab training loss: semantic + center + offset terms.

    total = semantic_weight * bootstrapped_CE(semantic)
          + center_weight   * weighted_MSE(center heatmap)
          + offset_weight   * masked_L1(center offsets)

Defaults 1 / 200 / 0.01 and the hardest 20% of pixels (Panoptic-DeepLab).

Ground-truth dict keys (all at the model output resolution):
  'semantic'          int [batch, height, width] (or [..., 1]) class ids or
                      `ignore_label`.
  'semantic_weights'  optional float [batch, height, width] pixel weights
                      (e.g. 3 for pixels of small instances).
  'center_heatmap'    float [batch, height, width, 1] Gaussian center targets.
  'center_weights'    optional float [batch, height, width] (0 on crowd and
                      ignored pixels).
  'center_offsets'    float [batch, height, width, 2] (dy, dx) in pixels.
  'offset_weights'    optional float [batch, height, width] (1 on thing
                      pixels, 0 elsewhere). When absent, no pixel counts.

Prediction dict keys (the model's outputs): 'semantic_logits',
'center_heatmap', 'center_offsets'. A semantic-only model has no center
keys; its center and offset losses are 0.
"""

from typing import Dict

import tensorflow as tf

from axial_deeplab_tf.losses import cross_entropy as bce_lib
from axial_deeplab_tf.losses import regression_losses


class PanopticLoss:
  """Weighted sum of the three Panoptic-DeepLab losses.

  Args:
    semantic_weight: weight of the bootstrapped cross-entropy (default 1).
    center_weight: weight of the center-heatmap MSE (default 200).
    offset_weight: weight of the offset L1 (default 0.01).
    top_k_percent: fraction of hardest valid pixels per image kept by the
      semantic loss, in (0, 1] (default 0.2).
    ignore_label: semantic label that never contributes (default 255).
  """

  def __init__(self,
               semantic_weight: float = 1.0,
               center_weight: float = 200.0,
               offset_weight: float = 0.01,
               top_k_percent: float = 0.2,
               ignore_label: int = 255):
    for name, value in (('semantic_weight', semantic_weight),
                        ('center_weight', center_weight),
                        ('offset_weight', offset_weight)):
      if value < 0:
        raise ValueError(f'{name}: expected a weight >= 0, got {value}.')
    self.semantic_weight = float(semantic_weight)
    self.center_weight = float(center_weight)
    self.offset_weight = float(offset_weight)
    self._semantic_loss = bce_lib.BootstrappedCrossEntropy(
        ignore_label=ignore_label, top_k_percent=top_k_percent)

  @property
  def top_k_percent(self) -> float:
    return self._semantic_loss.top_k_percent

  @property
  def ignore_label(self) -> int:
    return self._semantic_loss.ignore_label

  def __call__(self, y_true: Dict[str, tf.Tensor],
               y_pred: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Computes the losses.

    Args:
      y_true: ground-truth dict (keys in the module docstring).
      y_pred: model outputs: 'semantic_logits' [batch, height, width,
        num_classes]; optionally 'center_heatmap' [batch, height, width, 1]
        and 'center_offsets' [batch, height, width, 2].

    Returns:
      float32 scalars: 'semantic_loss', 'center_loss', 'offset_loss' (each
      unweighted) and 'total_loss' (the weighted sum).
    """
    if 'semantic_logits' not in y_pred:
      raise ValueError("y_pred: expected key 'semantic_logits', got keys "
                       f'{sorted(y_pred)}.')
    semantic = self._semantic_loss(y_true['semantic'],
                                   y_pred['semantic_logits'],
                                   y_true.get('semantic_weights'))
    zero = tf.constant(0.0, tf.float32)
    center = offset = zero
    if 'center_heatmap' in y_pred:
      center = regression_losses.weighted_mse(y_true['center_heatmap'],
                                              y_pred['center_heatmap'],
                                              y_true.get('center_weights'))
    if 'center_offsets' in y_pred:
      offset_weights = y_true.get('offset_weights')
      if offset_weights is None:
        offset_weights = tf.zeros(tf.shape(y_pred['center_offsets'])[:3])
      offset = regression_losses.masked_l1(y_true['center_offsets'],
                                           y_pred['center_offsets'],
                                           offset_weights)
    total = (self.semantic_weight * semantic + self.center_weight * center +
             self.offset_weight * offset)
    return {'semantic_loss': semantic, 'center_loss': center,
            'offset_loss': offset, 'total_loss': total}

  def get_config(self) -> dict:
    return {'semantic_weight': self.semantic_weight,
            'center_weight': self.center_weight,
            'offset_weight': self.offset_weight,
            'top_k_percent': self.top_k_percent,
            'ignore_label': self.ignore_label}

  @classmethod
  def from_config(cls, config: dict) -> 'PanopticLoss':
    return cls(**config)

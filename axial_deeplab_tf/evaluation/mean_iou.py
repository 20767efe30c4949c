"""Mean IoU from an accumulated confusion matrix (host-side, mergeable).

For class c, with the confusion matrix summed over all evaluated pixels:
IoU_c = TP_c / (TP_c + FP_c + FN_c), i.e. cm[c, c] / (row_c + col_c - cm[c, c]).
mIoU is the mean over classes that occur in the ground truth or the
prediction (union > 0); the others are NaN in `per_class_iou()` and left out
of the mean. Ground-truth pixels equal to `ignore_label` (or negative) are
not evaluated. Predicted pixels equal to `ignore_label` (or negative), e.g.
void pixels of a panoptic category map, are wrong for every class: they add
to the FN of the ground-truth class and to no class's FP.
"""

from typing import Any, Dict, Optional

import numpy as np

from axial_deeplab_tf.evaluation import array_utils


def confusion_matrix(groundtruths: Any, predictions: Any, num_classes: int,
                     ignore_label: Optional[int] = 255,
                     image_sizes: Any = None) -> np.ndarray:
  """Confusion counts of one batch.

  Args:
    groundtruths: int array of any shape, e.g. [batch, height, width]:
      class ids in [0, K), or `ignore_label` / negative for unlabeled pixels.
    predictions: int array of the same shape: class ids in [0, K), or
      `ignore_label` / negative for void predictions.
    num_classes: K.
    ignore_label: label of unlabeled / void pixels, outside [0, K), or None
      (then only negative values are unlabeled).
    image_sizes: optional [batch, 2] (height, width): only
      `[b, :height, :width]` of rank-3 inputs is evaluated.

  Returns:
    int64 [K, K + 1]: entry [g, p] counts labeled pixels of ground-truth
    class g predicted as p; column K counts void predictions.

  Raises:
    ValueError: on different shapes, non-integer input, or ids outside
      [0, K) that are not ignore_label / negative.
  """
  _check_options(num_classes, ignore_label)
  gt = array_utils.as_numpy(groundtruths, 'groundtruths')
  pred = array_utils.as_numpy(predictions, 'predictions')
  array_utils.check_integer(gt, 'groundtruths')
  array_utils.check_integer(pred, 'predictions')
  array_utils.check_same_shape(gt, pred, 'groundtruths', 'predictions')
  if image_sizes is not None:
    array_utils.check_rank(gt, 3, 'groundtruths', '[batch, height, width]')
    sizes = array_utils.image_sizes_or_full(image_sizes, *gt.shape)
    gt = np.concatenate([gt[b, :h, :w].ravel() for b, (h, w) in
                         enumerate(sizes)])
    pred = np.concatenate([pred[b, :h, :w].ravel() for b, (h, w) in
                           enumerate(sizes)])
  gt = gt.astype(np.int64).ravel()
  pred = pred.astype(np.int64).ravel()
  gt_void = _void(gt, ignore_label)
  pred_void = _void(pred, ignore_label)
  for values, void, name in ((gt, gt_void, 'groundtruths'),
                             (pred, pred_void, 'predictions')):
    bad = ~void & (values >= num_classes)
    if bad.any():
      raise ValueError(
          f'{name}: expected class ids in [0, {num_classes}) or the ignore '
          f'label {ignore_label} / negative, found '
          f'{np.unique(values[bad])[:10].tolist()}.')
  keep = ~gt_void
  pred_col = np.where(pred_void, num_classes, pred)[keep]
  flat = gt[keep] * (num_classes + 1) + pred_col
  return np.bincount(flat, minlength=num_classes * (num_classes + 1)).reshape(
      num_classes, num_classes + 1).astype(np.int64)


def _void(values, ignore_label):
  void = values < 0
  if ignore_label is not None:
    void |= values == ignore_label
  return void


def _check_options(num_classes, ignore_label):
  if int(num_classes) < 1:
    raise ValueError(f'num_classes: expected >= 1, got {num_classes}.')
  if ignore_label is not None and 0 <= int(ignore_label) < num_classes:
    raise ValueError(f'ignore_label: expected a label outside [0, '
                     f'{num_classes}) (or None), got {ignore_label}.')


class MeanIoU:
  """Accumulates a confusion matrix; reports mIoU and per-class IoU.

  `update_state(groundtruths, predictions)` takes int arrays of equal shape
  ([batch, height, width] typically; numpy, eager tensors or per-replica
  parts). `result()` returns Python floats 'mean_iou', 'pixel_accuracy'
  (correct / labeled pixels) and, with `report_per_class`, 'iou/class_{i}'
  for classes that occurred. State: `get_state()` -> {'confusion': int64
  [K, K + 1]}; combine with `merge` / `merge_state`.
  """

  def __init__(self, num_classes: int, ignore_label: Optional[int] = 255,
               report_per_class: bool = False):
    _check_options(num_classes, ignore_label)
    self.num_classes = int(num_classes)
    self.ignore_label = None if ignore_label is None else int(ignore_label)
    self.report_per_class = bool(report_per_class)
    self.reset_state()

  def reset_state(self) -> None:
    """Zeroes the confusion matrix."""
    self._confusion = np.zeros((self.num_classes, self.num_classes + 1),
                               np.int64)

  def update_state(self, groundtruths: Any, predictions: Any,
                   image_sizes: Any = None) -> None:
    """Adds one batch (see `confusion_matrix` for the inputs)."""
    self._confusion += confusion_matrix(groundtruths, predictions,
                                        self.num_classes, self.ignore_label,
                                        image_sizes)

  def get_state(self) -> Dict[str, np.ndarray]:
    """{'confusion': copy of the int64 [K, K + 1] matrix}."""
    return {'confusion': self._confusion.copy()}

  def merge_state(self, state: Dict[str, Any]) -> None:
    """Adds a confusion matrix (from `get_state` or `confusion_matrix`)."""
    value = array_utils.as_numpy(state['confusion'], 'confusion')
    if value.shape != self._confusion.shape:
      raise ValueError(f"state['confusion']: expected shape "
                       f'{self._confusion.shape}, got {value.shape}.')
    self._confusion += value.astype(np.int64)

  def merge(self, other: 'MeanIoU') -> None:
    """Adds another accumulator's counts (same num_classes/ignore_label)."""
    if (self.num_classes, self.ignore_label) != (other.num_classes,
                                                 other.ignore_label):
      raise ValueError('merge: MeanIoU metrics with different num_classes or '
                       'ignore_label.')
    self.merge_state(other.get_state())

  def per_class_iou(self) -> np.ndarray:
    """float64 [K] IoU per class; NaN for classes with an empty union."""
    cm = self._confusion
    tp = np.diag(cm[:, :self.num_classes]).astype(np.float64)
    union = cm.sum(1) + cm[:, :self.num_classes].sum(0) - tp
    return np.where(union > 0, tp / np.maximum(union, 1), np.nan)

  def result(self) -> Dict[str, float]:
    """'mean_iou', 'pixel_accuracy' (and 'iou/class_{i}') as Python floats."""
    iou = self.per_class_iou()
    seen = ~np.isnan(iou)
    labeled = self._confusion.sum()
    correct = np.trace(self._confusion[:, :self.num_classes])
    out = {
        'mean_iou': float(iou[seen].mean()) if seen.any() else 0.0,
        'pixel_accuracy': float(correct / labeled) if labeled else 0.0,
    }
    if self.report_per_class:
      for i in np.flatnonzero(seen):
        out[f'iou/class_{i}'] = float(iou[i])
    return out

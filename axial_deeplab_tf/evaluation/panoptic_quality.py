"""Panoptic Quality (PQ = SQ x RQ), COCO panoptic definition, on the host.

Inputs are panoptic maps encoded `class * label_divisor + instance_id` as
a `data.encoding.PanopticEncoding` says, int [batch, height, width] (numpy, eager tensors or per-replica parts; see
`array_utils.as_numpy`). A *segment* is the set of pixels sharing one
panoptic value.

Per image and class (Kirillov et al., "Panoptic Segmentation", CVPR 2019,
and the COCO panopticapi rules):

- Void and crowd as `data.encoding.split_panoptic` reads them: a pixel is
  void when its value is negative or its class (value // label_divisor)
  equals `void_label`; void pixels belong to no segment, in the ground
  truth or in the prediction. Ground-truth crowd pixels (thing-class pixels
  with instance id 0 when `thing_instance_zero_is_crowd`, plus any pixel
  flagged in the optional `gt_crowd_masks`) form one crowd region per class. Crowd regions are never
  matched and never false negatives.
- Match: a ground-truth segment g and a predicted segment p of the same
  class match when IoU(g, p) > 0.5, with
  IoU = |g & p| / (|g| + |p| - |g & p| - |p & gt_void|)  (the predicted
  pixels on ground-truth void are left out of the union). Segments do not
  overlap, so matches are unique.
- TP: matched pairs (their IoUs are summed). FN: unmatched ground-truth
  segments. FP: unmatched predicted segments, except those whose pixels on
  ground-truth void plus on the crowd region of their own class exceed half
  of their area.
- Per class: PQ = sum IoU / (TP + FP/2 + FN/2), SQ = sum IoU / TP (0 when
  TP = 0), RQ = TP / (TP + FP/2 + FN/2).
- All / Things / Stuff: plain means over the classes of the set with
  TP + FP + FN > 0 (as panopticapi; the mean PQ is therefore not exactly
  mean SQ x mean RQ).

Difference from panopticapi: panopticapi keeps one crowd segment per class
and image (the last one listed); here all crowd pixels of a class form the
region, which is what the rule intends.
"""

from typing import Any, Dict

import numpy as np

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.evaluation import array_utils

_STATS = ('tp', 'fp', 'fn', 'iou_sum')


def panoptic_quality_stats(groundtruths: Any,
                           predictions: Any,
                           encoding: encoding_lib.PanopticEncoding,
                           thing_instance_zero_is_crowd: bool = True,
                           gt_crowd_masks: Any = None,
                           image_sizes: Any = None) -> Dict[str, np.ndarray]:
  """Per-class PQ sums for one batch (see the module docstring).

  Args:
    groundtruths: int [batch, height, width] ground-truth panoptic maps.
    predictions: int [batch, height, width] predicted panoptic maps.
    encoding: num_classes K (non-void classes must lie in [0, K)), thing
      classes, label_divisor and void_label of both maps.
    thing_instance_zero_is_crowd: ground-truth pixels of a thing class with
      instance id 0 are crowd (the convention of the data pipeline, which
      writes crowd pixels as class * label_divisor).
    gt_crowd_masks: optional bool [batch, height, width], True on crowd
      pixels of the ground truth (their class is read from `groundtruths`).
    image_sizes: optional int/float [batch, 2] (height, width): image b is
      evaluated on `[:height, :width]` only (padded evaluation batches; the
      data pipeline's `image_info[:, 0, :]`).

  Returns:
    Dict of float64 [K] arrays 'tp', 'fp', 'fn', 'iou_sum' (sums, so results
    of different batches or replicas add up).

  Raises:
    ValueError: on wrong ranks or shapes, non-integer maps, or a non-void
      class outside [0, K).
  """
  gt = array_utils.as_numpy(groundtruths, 'groundtruths')
  pred = array_utils.as_numpy(predictions, 'predictions')
  for arr, name in ((gt, 'groundtruths'), (pred, 'predictions')):
    array_utils.check_rank(arr, 3, name, '[batch, height, width]')
    array_utils.check_integer(arr, name)
  array_utils.check_same_shape(gt, pred, 'groundtruths', 'predictions')
  crowd = None
  if gt_crowd_masks is not None:
    crowd = array_utils.as_numpy(gt_crowd_masks, 'gt_crowd_masks')
    array_utils.check_same_shape(gt, crowd, 'groundtruths', 'gt_crowd_masks')
    crowd = crowd.astype(bool)
  sizes = array_utils.image_sizes_or_full(image_sizes, *gt.shape)
  totals = {k: np.zeros(encoding.num_classes, np.float64) for k in _STATS}
  for i, (h, w) in enumerate(sizes):
    stats = _image_stats(gt[i, :h, :w], pred[i, :h, :w],
                         None if crowd is None else crowd[i, :h, :w],
                         encoding, thing_instance_zero_is_crowd)
    for k in _STATS:
      totals[k] += stats[k]
  return totals


def _image_stats(gt, pred, crowd, encoding, instance_zero_is_crowd):
  """Per-class sums for one [H, W] pair."""
  num_classes, label_divisor = encoding.num_classes, encoding.label_divisor
  gt = gt.astype(np.int64).ravel()
  pred = pred.astype(np.int64).ravel()
  gt_ids = encoding_lib.split_panoptic(gt, encoding, 'groundtruths',
                                       instance_zero_is_crowd)
  pred_void = encoding_lib.split_panoptic(pred, encoding, 'predictions',
                                          False).void
  gt_class, gt_void, gt_crowd = gt_ids.classes, gt_ids.void, gt_ids.crowd
  if crowd is not None:
    gt_crowd |= crowd.ravel()
  gt_crowd &= ~gt_void
  # Keys: -1 void, -2 - c crowd region of class c, >= 0 segment id.
  gt_key = np.where(gt_void, -1, np.where(gt_crowd, -2 - gt_class, gt))
  pred_key = np.where(pred_void, -1, pred)
  g_ids, g_inv = array_utils.dense_ids(gt_key)
  p_ids, p_inv = array_utils.dense_ids(pred_key)
  n_g, n_p = len(g_ids), len(p_ids)
  inter = np.bincount(g_inv.ravel() * n_p + p_inv.ravel(),
                      minlength=n_g * n_p).reshape(n_g, n_p)
  gt_area = inter.sum(1)
  pred_area = inter.sum(0)

  g_seg = g_ids >= 0
  p_seg = p_ids >= 0
  g_cls = np.where(g_seg, g_ids // label_divisor, -1)
  p_cls = np.where(p_seg, p_ids // label_divisor, -1)
  void_row = np.flatnonzero(g_ids == -1)
  void_overlap = inter[void_row[0]] if void_row.size else np.zeros(n_p, int)
  crowd_row = np.full(num_classes, -1)
  crowd_rows = np.flatnonzero(g_ids <= -2)
  crowd_row[-2 - g_ids[crowd_rows]] = crowd_rows
  p_crowd_row = np.where(p_seg, crowd_row[np.maximum(p_cls, 0)], -1)
  crowd_overlap = np.where(p_crowd_row >= 0,
                           inter[np.maximum(p_crowd_row, 0), np.arange(n_p)],
                           0)

  union = gt_area[:, None] + pred_area[None, :] - inter - void_overlap[None]
  iou = inter / np.maximum(union, 1)
  candidate = (g_seg[:, None] & p_seg[None, :] &
               (g_cls[:, None] == p_cls[None, :]) & (inter > 0))
  match = candidate & (iou > 0.5)
  g_matched = match.any(1)
  p_matched = match.any(0)
  rows, cols = np.nonzero(match)

  ignored = (void_overlap + crowd_overlap) > 0.5 * pred_area
  fp_mask = p_seg & ~p_matched & ~ignored
  fn_mask = g_seg & ~g_matched
  count = lambda c, w=None: np.bincount(c, weights=w, minlength=num_classes)
  return {
      'tp': count(g_cls[rows]).astype(np.float64),
      'iou_sum': count(g_cls[rows], iou[rows, cols]).astype(np.float64),
      'fn': count(g_cls[fn_mask]).astype(np.float64),
      'fp': count(p_cls[fp_mask]).astype(np.float64),
  }


class PanopticQuality:
  """Accumulates PQ / SQ / RQ over batches (numpy state, mergeable).

  Typical use in a Model Garden task: in `aggregate_logs`, create the
  metric when `state` is None, call `update_state(gt_panoptic,
  pred_panoptic)` with the step's (per-replica) outputs and return it; in
  `reduce_aggregated_logs` call `result()`. Replica or worker states are
  combined with `merge` (or `merge_state(get_state())`).

  `result()` returns Python floats: '{All,Things,Stuff}_{pq,sq,rq}' and
  '{All,Things,Stuff}_num_categories' (classes with TP + FP + FN > 0), and,
  with `report_per_class`, 'pq/class_{i}', 'sq/class_{i}', 'rq/class_{i}'
  for every class i that occurred.
  """

  def __init__(self,
               encoding: encoding_lib.PanopticEncoding,
               thing_instance_zero_is_crowd: bool = True,
               report_per_class: bool = False):
    """Initializes the metric; arguments as in `panoptic_quality_stats`."""
    if not isinstance(encoding, encoding_lib.PanopticEncoding):
      raise TypeError(f'encoding: expected a PanopticEncoding, got '
                      f'{type(encoding).__name__}.')
    self.encoding = encoding
    self.num_classes = encoding.num_classes
    self.thing_instance_zero_is_crowd = bool(thing_instance_zero_is_crowd)
    self.report_per_class = bool(report_per_class)
    self.reset_state()

  def reset_state(self) -> None:
    """Zeroes the accumulated sums."""
    self._state = {k: np.zeros(self.num_classes, np.float64) for k in _STATS}

  def update_state(self, groundtruths: Any, predictions: Any,
                   gt_crowd_masks: Any = None,
                   image_sizes: Any = None) -> None:
    """Adds one batch.

    Args:
      groundtruths: int [batch, height, width] ground-truth panoptic maps.
      predictions: int [batch, height, width] predicted panoptic maps (e.g.
        the post-processor's 'panoptic' output).
      gt_crowd_masks: optional bool [batch, height, width] crowd pixels.
      image_sizes: optional [batch, 2] (height, width) of the unpadded
        images (top-left corner).
    """
    stats = panoptic_quality_stats(
        groundtruths, predictions, self.encoding,
        self.thing_instance_zero_is_crowd, gt_crowd_masks, image_sizes)
    self.merge_state(stats)

  def get_state(self) -> Dict[str, np.ndarray]:
    """Copies of the per-class sums: float64 [K] 'tp', 'fp', 'fn', 'iou_sum'."""
    return {k: v.copy() for k, v in self._state.items()}

  def merge_state(self, state: Dict[str, Any]) -> None:
    """Adds per-class sums (from `get_state` or `panoptic_quality_stats`)."""
    for k in _STATS:
      value = np.asarray(array_utils.as_numpy(state[k], k), np.float64)
      if value.shape != (self.num_classes,):
        raise ValueError(f'state[{k!r}]: expected shape '
                         f'({self.num_classes},), got {value.shape}.')
      self._state[k] += value

  def merge(self, other: 'PanopticQuality') -> None:
    """Adds another accumulator's sums (same configuration required)."""
    mine, theirs = self._config(), other._config()  # pylint: disable=protected-access
    if mine != theirs:
      raise ValueError('merge: the two PanopticQuality metrics have different '
                       f'settings: {mine} vs {theirs}.')
    self.merge_state(other.get_state())

  def _config(self):
    return (self.encoding, self.thing_instance_zero_is_crowd)

  def per_class_result(self) -> Dict[str, np.ndarray]:
    """Per-class float64 [K] 'pq', 'sq', 'rq' (NaN where the class never
    occurred: TP + FP + FN = 0) and the raw 'tp', 'fp', 'fn', 'iou_sum'."""
    s = self._state
    seen = (s['tp'] + s['fp'] + s['fn']) > 0
    denom = s['tp'] + 0.5 * s['fp'] + 0.5 * s['fn']
    safe = np.maximum(denom, 1e-12)
    pq = np.where(seen, s['iou_sum'] / safe, np.nan)
    rq = np.where(seen, s['tp'] / safe, np.nan)
    sq = np.where(seen, np.where(s['tp'] > 0,
                                 s['iou_sum'] / np.maximum(s['tp'], 1), 0.0),
                  np.nan)
    out = {'pq': pq, 'sq': sq, 'rq': rq}
    out.update(self.get_state())
    return out

  def result(self) -> Dict[str, float]:
    """Means over All / Things / Stuff (and per class), as Python floats."""
    per_class = self.per_class_result()
    seen = ~np.isnan(per_class['pq'])
    is_thing = self.encoding.is_thing_table()
    sets = {'All': seen, 'Things': seen & is_thing, 'Stuff': seen & ~is_thing}
    out = {}
    for name, mask in sets.items():
      n = int(mask.sum())
      for m in ('pq', 'sq', 'rq'):
        out[f'{name}_{m}'] = float(per_class[m][mask].mean()) if n else 0.0
      out[f'{name}_num_categories'] = float(n)
    if self.report_per_class:
      for i in np.flatnonzero(seen):
        for m in ('pq', 'sq', 'rq'):
          out[f'{m}/class_{i}'] = float(per_class[m][i])
    return out

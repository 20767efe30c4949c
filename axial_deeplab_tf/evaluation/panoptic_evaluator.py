"""PQ, mIoU and mask AP fed together from one evaluation step.

Glue between the data pipeline's label dict, the post-processor's output
dict and the three host-side metrics, so a task's `aggregate_logs` is one
call. Keys read:

  labels (from `dataloaders.panoptic_input`, evaluation mode):
    'panoptic': int [B, H, W], class * label_divisor + instance id, -1 void
      (crowd: thing class with instance id 0).
    'semantic': int [B, H, W], ignore_label on void / padding.
    'image_info' (optional): float [B, 4, 2]; row 0 = original (height,
      width), used to crop the padding away.
  outputs (from `ops.panoptic_merge.panoptic_postprocess`):
    'panoptic': int [B, H, W] (void = void_label * label_divisor).
    'semantic': int [B, H, W] argmax (for mIoU).
    'instance': int [B, H, W] instance id map (slot j = id j + 1).
    'instance_classes': int [B, N]; 'instance_scores': float [B, N];
    'instance_valid': bool [B, N].

Each value may be a numpy array, an eager tensor or a tuple of per-replica
values (concatenated along the batch).
"""

from typing import Any, Dict, Mapping

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.evaluation import array_utils
from axial_deeplab_tf.evaluation.mask_ap import MaskAP
from axial_deeplab_tf.evaluation.mean_iou import MeanIoU
from axial_deeplab_tf.evaluation.panoptic_quality import PanopticQuality


class PanopticEvaluator:
  """Runs `PanopticQuality`, `MeanIoU` and `MaskAP` on step outputs.

  `result()` merges their results: 'All_pq', 'All_sq', 'All_rq',
  'All_num_categories' (and Things_ / Stuff_), 'mean_iou',
  'pixel_accuracy', 'mask_AP', 'mask_AP50', 'mask_AP75', 'mask_APs',
  'mask_APm', 'mask_APl' (plus per-class keys with `report_per_class`);
  all Python floats. A disabled metric contributes no keys.
  """

  def __init__(self,
               encoding: encoding_lib.PanopticEncoding,
               ignore_label: int,
               thing_instance_zero_is_crowd: bool = True,
               compute_pq: bool = True,
               compute_miou: bool = True,
               compute_ap: bool = True,
               max_detections: int = 100,
               report_per_class: bool = False):
    """Initializes the metrics.

    Args:
      encoding: the panoptic encoding of the ground truth and of the
        post-processor's output (built from the same `PanopticEncoding`);
        its void_label is void in panoptic maps, as are negative values.
      ignore_label: semantic label not evaluated by mIoU (the data config's
        `ignore_label`).
      thing_instance_zero_is_crowd: see `PanopticQuality`.
      compute_pq, compute_miou, compute_ap: which metrics to run (AP needs
        the instance outputs; it is off without thing classes).
      max_detections: detections per image for AP.
      report_per_class: add per-class values.
    """
    self.encoding = encoding
    self.pq = self.miou = self.ap = None
    if compute_pq:
      self.pq = PanopticQuality(encoding, thing_instance_zero_is_crowd,
                                report_per_class)
    if compute_miou:
      self.miou = MeanIoU(encoding.num_classes, ignore_label,
                          report_per_class)
    if compute_ap and encoding.thing_class_ids:
      self.ap = MaskAP(encoding, thing_instance_zero_is_crowd,
                       max_detections, report_per_class)

  def _metrics(self):
    return [m for m in (self.pq, self.miou, self.ap) if m is not None]

  def reset_state(self) -> None:
    for m in self._metrics():
      m.reset_state()

  def update_state(self, labels: Mapping[str, Any],
                   outputs: Mapping[str, Any]) -> None:
    """Adds one step's batch (keys in the module docstring)."""
    def get(mapping, key, name):
      if key not in mapping:
        raise ValueError(f'{name}: missing key {key!r}; got keys '
                         f'{sorted(mapping)}.')
      return mapping[key]

    sizes = None
    if 'image_info' in labels:
      info = array_utils.as_numpy(labels['image_info'], 'image_info')
      if info.ndim != 3 or info.shape[1:] != (4, 2):
        raise ValueError(f"labels['image_info']: expected [batch, 4, 2], got "
                         f'{info.shape}.')
      sizes = info[:, 0, :]
    if self.pq is not None:
      self.pq.update_state(get(labels, 'panoptic', 'labels'),
                           get(outputs, 'panoptic', 'outputs'),
                           image_sizes=sizes)
    if self.miou is not None:
      self.miou.update_state(get(labels, 'semantic', 'labels'),
                             get(outputs, 'semantic', 'outputs'),
                             image_sizes=sizes)
    if self.ap is not None:
      self.ap.update_state(get(labels, 'panoptic', 'labels'),
                           get(outputs, 'instance', 'outputs'),
                           get(outputs, 'instance_classes', 'outputs'),
                           get(outputs, 'instance_scores', 'outputs'),
                           get(outputs, 'instance_valid', 'outputs'),
                           image_sizes=sizes)

  def merge(self, other: 'PanopticEvaluator') -> None:
    """Adds another evaluator's state (same settings)."""
    for mine, theirs in zip((self.pq, self.miou, self.ap),
                            (other.pq, other.miou, other.ap)):
      if (mine is None) != (theirs is None):
        raise ValueError('merge: evaluators compute different metrics.')
      if mine is not None:
        mine.merge(theirs)

  def result(self) -> Dict[str, float]:
    out = {}
    if self.pq is not None:
      out.update(self.pq.result())
    if self.miou is not None:
      out.update(self.miou.result())
    if self.ap is not None:
      out.update({f'mask_{k}': v for k, v in self.ap.result().items()})
    return out

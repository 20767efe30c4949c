"""COCO-style instance mask AP (pycocotools on RLE masks), host-side.

Ground-truth instances are read from panoptic maps (`update_state`) or
given as masks (`add_image`); predicted instances are masks with a class and
a score. Masks are RLE-encoded as they arrive, so the state stays small.
`result()` runs pycocotools' COCOeval ('segm'), which:

- matches detections to ground truth greedily by descending score, per
  image and class, at IoU thresholds 0.50:0.05:0.95 (a match needs
  IoU >= threshold);
- ignores detections matched to crowd regions (IoU with a crowd region is
  |det & crowd| / |det|); crowd regions are never missed instances;
- averages 101-point interpolated precision over recall, then over classes
  that have ground-truth instances, then over thresholds (AP), or at 0.50
  (AP50) / 0.75 (AP75). APs / APm / APl use COCO's area ranges (< 32^2,
  32^2-96^2, > 96^2 pixels); meaningful only at COCO-like resolutions.

Values are -1.0 where COCO leaves them undefined (no non-crowd ground-truth
instance at all).
"""

import contextlib
import io
from typing import Any, Dict, List

import numpy as np
from pycocotools import coco as coco_api
from pycocotools import cocoeval
from pycocotools import mask as mask_api

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.evaluation import array_utils
from axial_deeplab_tf.evaluation import mask_encoding

_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')


class MaskAP:
  """Accumulates per-image instances; `result()` gives COCO mask AP.

  Two ways in:

  - `update_state(groundtruths, pred_masks, pred_classes, pred_scores,
    pred_valid=None, gt_crowd_masks=None)` for a batch, with panoptic
    ground truth (int [B, H, W], `class * label_divisor + instance_id`;
    thing-class segments are instances, void and crowd as
    `data.encoding.split_panoptic` reads them) and
    predictions as either bool [B, N, H, W] masks or an int [B, H, W]
    instance-id map whose id j + 1 is slot j (the post-processor's
    'instance' output), with int [B, N] classes, float [B, N] scores and
    optional bool [B, N] validity (default: class >= 0).
  - `add_image(gt_masks, gt_classes, pred_masks, pred_classes, pred_scores,
    gt_is_crowd=None)` for one image with explicit ground-truth masks.

  `result()` returns Python floats 'AP', 'AP50', 'AP75', 'APs', 'APm',
  'APl' (and 'AP/class_{i}' with `report_per_class`). Accumulators of
  different replicas or workers combine with `merge`.
  """

  def __init__(self,
               encoding: encoding_lib.PanopticEncoding,
               thing_instance_zero_is_crowd: bool = True,
               max_detections: int = 100,
               report_per_class: bool = False):
    """Initializes the metric.

    Args:
      encoding: classes, thing classes (the evaluated classes), label
        divisor and void label of the ground-truth panoptic maps.
      thing_instance_zero_is_crowd: ground-truth thing pixels with instance
        id 0 are crowd.
      max_detections: detections kept per image (highest scores), COCO's
        maxDets for AP.
      report_per_class: also report 'AP/class_{i}'.
    """
    if not isinstance(encoding, encoding_lib.PanopticEncoding):
      raise TypeError(f'encoding: expected a PanopticEncoding, got '
                      f'{type(encoding).__name__}.')
    if not encoding.thing_class_ids:
      raise ValueError('encoding.thing_class_ids: expected at least one '
                       'thing class.')
    if int(max_detections) < 1:
      raise ValueError(f'max_detections: expected >= 1, got '
                       f'{max_detections}.')
    self.encoding = encoding
    self.num_classes = encoding.num_classes
    self.thing_class_ids = encoding.thing_class_ids
    self.thing_instance_zero_is_crowd = bool(thing_instance_zero_is_crowd)
    self.max_detections = int(max_detections)
    self.report_per_class = bool(report_per_class)
    self.reset_state()

  def reset_state(self) -> None:
    """Forgets all images."""
    self._images: List[Dict[str, Any]] = []

  @property
  def num_images(self) -> int:
    return len(self._images)

  def _check_classes(self, classes, name):
    things = np.asarray(self.thing_class_ids)
    bad = ~np.isin(classes, things)
    if bad.any():
      raise ValueError(f'{name}: expected thing class ids '
                       f'{list(self.thing_class_ids)}, got '
                       f'{np.unique(classes[bad])[:10].tolist()}.')

  def add_image(self, gt_masks: Any, gt_classes: Any, pred_masks: Any,
                pred_classes: Any, pred_scores: Any,
                gt_is_crowd: Any = None) -> None:
    """Adds one image with explicit masks.

    Args:
      gt_masks: bool [M, H, W] ground-truth instance (or crowd) masks.
      gt_classes: int [M] thing class ids.
      pred_masks: bool [N, H, W] predicted masks.
      pred_classes: int [N] thing class ids.
      pred_scores: float [N] confidences.
      gt_is_crowd: optional bool [M], True for crowd regions.
    """
    gt_masks = array_utils.as_numpy(gt_masks, 'gt_masks').astype(bool)
    pred_masks = array_utils.as_numpy(pred_masks, 'pred_masks').astype(bool)
    array_utils.check_rank(gt_masks, 3, 'gt_masks', '[M, height, width]')
    array_utils.check_rank(pred_masks, 3, 'pred_masks', '[N, height, width]')
    if gt_masks.shape[1:] != pred_masks.shape[1:]:
      raise ValueError(f'gt_masks and pred_masks: expected the same height '
                       f'and width, got {gt_masks.shape} and '
                       f'{pred_masks.shape}.')
    gt_classes = array_utils.as_numpy(gt_classes, 'gt_classes').reshape(-1)
    crowd = (np.zeros(len(gt_classes), bool) if gt_is_crowd is None else
             array_utils.as_numpy(gt_is_crowd, 'gt_is_crowd').astype(
                 bool).reshape(-1))
    if not len(gt_classes) == len(crowd) == gt_masks.shape[0]:
      raise ValueError(f'gt_masks, gt_classes, gt_is_crowd: expected '
                       f'{gt_masks.shape[0]} entries each, got '
                       f'{len(gt_classes)} and {len(crowd)}.')
    self._check_classes(gt_classes, 'gt_classes')
    gts = [(mask_encoding.encode_mask(m), int(c), bool(k))
           for m, c, k in zip(gt_masks, gt_classes, crowd)]
    dets = self._encode_detections(
        lambda slots: [mask_encoding.encode_mask(pred_masks[j]) for j in slots],
        pred_masks.shape[0], pred_classes, pred_scores, None)
    self._images.append({'height': gt_masks.shape[1],
                         'width': gt_masks.shape[2],
                         'gts': gts, 'dets': dets})

  def _encode_detections(self, encode_slots, num_slots, classes, scores,
                         valid):
    """[(rle, class, score)] of the kept detections, best score first.

    encode_slots(list of slot indices) -> list of RLEs.
    """
    classes = array_utils.as_numpy(classes, 'pred_classes').reshape(-1)
    scores = array_utils.as_numpy(scores, 'pred_scores').astype(
        np.float64).reshape(-1)
    if not len(classes) == len(scores) == num_slots:
      raise ValueError(f'pred_masks, pred_classes, pred_scores: expected '
                       f'{num_slots} entries each, got {len(classes)} and '
                       f'{len(scores)}.')
    valid = (classes >= 0) if valid is None else valid.astype(bool)
    self._check_classes(classes[valid], 'pred_classes')
    order = [j for j in np.argsort(-scores, kind='stable') if valid[j]]
    order = order[:self.max_detections]
    return [(rle, int(classes[j]), float(scores[j]))
            for rle, j in zip(encode_slots(order), order)]

  def update_state(self, groundtruths: Any, pred_masks: Any,
                   pred_classes: Any, pred_scores: Any,
                   pred_valid: Any = None, gt_crowd_masks: Any = None,
                   image_sizes: Any = None) -> None:
    """Adds a batch; arguments as in the class docstring.

    `image_sizes`: optional [batch, 2] (height, width); image b is evaluated
    on `[:height, :width]` (padded evaluation batches).
    """
    gt = array_utils.as_numpy(groundtruths, 'groundtruths')
    array_utils.check_rank(gt, 3, 'groundtruths', '[batch, height, width]')
    array_utils.check_integer(gt, 'groundtruths')
    masks = array_utils.as_numpy(pred_masks, 'pred_masks')
    classes = array_utils.as_numpy(pred_classes, 'pred_classes')
    scores = array_utils.as_numpy(pred_scores, 'pred_scores')
    array_utils.check_rank(classes, 2, 'pred_classes', '[batch, N]')
    if scores.shape != classes.shape:
      raise ValueError(f'pred_classes and pred_scores: expected the same '
                       f'shape, got {classes.shape} and {scores.shape}.')
    valid = None
    if pred_valid is not None:
      valid = array_utils.as_numpy(pred_valid, 'pred_valid').astype(bool)
      array_utils.check_same_shape(classes, valid, 'pred_classes',
                                   'pred_valid')
    if masks.ndim == 4:
      expected = (gt.shape[0], classes.shape[1]) + gt.shape[1:]
      if masks.shape != expected:
        raise ValueError(f'pred_masks: expected bool [batch, N, height, '
                         f'width] = {expected}, got {masks.shape}.')
      def encoder(b, h, w):
        return lambda slots: [mask_encoding.encode_mask(masks[b, j, :h, :w].astype(bool))
                              for j in slots]
    elif masks.ndim == 3:
      array_utils.check_integer(masks, 'pred_masks')
      array_utils.check_same_shape(gt, masks, 'groundtruths',
                                   'pred_masks (instance-id map)')
      def encoder(b, h, w):
        ids = np.maximum(masks[b, :h, :w], 0)
        return lambda slots: mask_encoding.encode_labels(ids, [j + 1 for j in slots])
    else:
      raise ValueError(f'pred_masks: expected bool [batch, N, height, width] '
                       f'or an int [batch, height, width] instance map, got '
                       f'shape {masks.shape}.')
    if classes.shape[0] != gt.shape[0]:
      raise ValueError(f'groundtruths and pred_classes: batch sizes differ, '
                       f'{gt.shape[0]} vs {classes.shape[0]}.')
    crowd = None
    if gt_crowd_masks is not None:
      crowd = array_utils.as_numpy(gt_crowd_masks, 'gt_crowd_masks').astype(
          bool)
      array_utils.check_same_shape(gt, crowd, 'groundtruths', 'gt_crowd_masks')
    sizes = array_utils.image_sizes_or_full(image_sizes, *gt.shape)
    for b, (h, w) in enumerate(sizes):
      gts = self._groundtruth_instances(
          gt[b, :h, :w], None if crowd is None else crowd[b, :h, :w])
      dets = self._encode_detections(
          encoder(b, h, w), classes.shape[1], classes[b], scores[b],
          None if valid is None else valid[b])
      self._images.append({'height': int(h), 'width': int(w),
                           'gts': gts, 'dets': dets})

  def _groundtruth_instances(self, gt, crowd):
    """[(rle, class, is_crowd)] of one panoptic ground-truth map [H, W]."""
    gt = gt.astype(np.int64)
    parsed = encoding_lib.split_panoptic(gt, self.encoding, 'groundtruths',
                                      self.thing_instance_zero_is_crowd)
    cls = parsed.classes
    is_thing = np.isin(cls, self.thing_class_ids) & ~parsed.void
    is_crowd = parsed.crowd
    if crowd is not None:
      is_crowd = is_crowd | crowd
    is_crowd &= is_thing
    # Keys: segment value for instances, -2 - c for class c's crowd region,
    # -1 elsewhere; then dense labels 0..n-1 in key order.
    key = np.where(is_crowd, -2 - cls, np.where(is_thing, gt, -1))
    ids, labels = array_utils.dense_ids(key)
    wanted = [k for k, v in enumerate(ids) if v != -1]
    rles = mask_encoding.encode_labels(labels, wanted)
    out = []
    for k, rle in zip(wanted, rles):
      v = int(ids[k])
      if v >= 0:
        out.append((rle, v // self.encoding.label_divisor, False))
      else:
        out.append((rle, -2 - v, True))
    return out

  def merge(self, other: 'MaskAP') -> None:
    """Appends another accumulator's images (same encoding)."""
    if self.encoding != other.encoding:
      raise ValueError(f'merge: MaskAP metrics with different encodings: '
                       f'{self.encoding} vs {other.encoding}.')
    self._images.extend(other._images)  # pylint: disable=protected-access

  def _coco_eval(self):
    """Runs pycocotools' COCOeval ('segm') over all images."""
    images, gts, dets = [], [], []
    for image_id, image in enumerate(self._images, start=1):
      images.append({'id': image_id, 'height': image['height'],
                     'width': image['width']})
      for rle, cls, crowd in image['gts']:
        gts.append(self._annotation(len(gts) + 1, image_id, rle, cls,
                                    iscrowd=int(crowd)))
      for rle, cls, score in image['dets']:
        dets.append(self._annotation(len(dets) + 1, image_id, rle, cls,
                                     score=score, iscrowd=0))
    categories = [{'id': c + 1, 'name': str(c)} for c in self.thing_class_ids]
    with contextlib.redirect_stdout(io.StringIO()):
      coco_gt, coco_dt = coco_api.COCO(), coco_api.COCO()
      coco_gt.dataset = {'images': images, 'annotations': gts,
                         'categories': categories}
      coco_dt.dataset = {'images': images, 'annotations': dets,
                         'categories': categories}
      coco_gt.createIndex()
      coco_dt.createIndex()
      ev = cocoeval.COCOeval(coco_gt, coco_dt, iouType='segm')
      ev.params.maxDets = [1, 10, self.max_detections]
      ev.evaluate()
      ev.accumulate()
      ev.summarize()
    return ev

  @staticmethod
  def _annotation(ann_id, image_id, rle, cls, **extra):
    ann = {'id': ann_id, 'image_id': image_id, 'category_id': cls + 1,
           'segmentation': rle, 'area': float(mask_api.area(rle)),
           'bbox': mask_api.toBbox(rle).tolist()}
    ann.update(extra)
    return ann

  def result(self) -> Dict[str, float]:
    """'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl' (COCO, -1.0 = undefined)."""
    if not self._images:
      return {k: -1.0 for k in _KEYS}
    ev = self._coco_eval()
    out = {k: float(v) for k, v in zip(_KEYS, ev.stats[:6])}
    # precision: [thresholds, recalls, classes, areas, max_dets].
    precision = ev.eval['precision'][:, :, :, 0, -1]
    per_class = {}
    for k, c in enumerate(self.thing_class_ids):
      p = precision[:, :, k]
      per_class[c] = float(p[p > -1].mean()) if (p > -1).any() else -1.0
    if self.report_per_class:
      for c, v in per_class.items():
        out[f'AP/class_{c}'] = v
    return out

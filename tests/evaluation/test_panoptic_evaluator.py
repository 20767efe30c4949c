"""PanopticEvaluator fed by the real post-processor's output dict."""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf import modeling
from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.evaluation import PanopticEvaluator
from axial_deeplab_tf.ops.panoptic_merge import panoptic_postprocess
from axial_deeplab_tf.ops.post_processing_options import PostProcessingOptions

LD = 256
K = 3
THINGS = [1, 2]
ENCODING = PanopticEncoding(K, THINGS, LD)


def _scene():
  """Ground truth (data-pipeline encoding) and perfect model outputs."""
  gt = np.zeros((2, 32, 40), np.int32)          # stuff class 0
  gt[0, 2:10, 3:12] = 1 * LD + 1
  gt[0, 14:24, 20:36] = 1 * LD + 2
  gt[0, 26:31, 2:8] = 2 * LD + 3
  gt[1, 5:25, 5:25] = 2 * LD + 1
  gt[1, 28:32, 30:40] = -1                      # void (e.g. padding)
  semantic = np.where(gt < 0, 255, gt // LD)
  logits = np.eye(K)[np.where(gt < 0, 0, gt // LD)] * 10.0
  heat = np.zeros(gt.shape + (1,), np.float32)
  offsets = np.zeros(gt.shape + (2,), np.float32)
  for b in range(2):
    for seg in np.unique(gt[b]):
      if seg < LD:
        continue
      ys, xs = np.nonzero(gt[b] == seg)
      cy, cx = int(round(ys.mean())), int(round(xs.mean()))
      heat[b, cy, cx, 0] = 1.0
      offsets[b, ys, xs, 0] = cy - ys
      offsets[b, ys, xs, 1] = cx - xs
  outputs = panoptic_postprocess(
      tf.constant(logits, tf.float32), tf.constant(heat),
      tf.constant(offsets), ENCODING,
      PostProcessingOptions(stuff_area_limit=0, top_k=8),
      output_instance_masks=False)
  info = np.zeros((2, 4, 2), np.float32)
  info[:, 0] = [32, 40]
  labels = {'panoptic': gt, 'semantic': semantic, 'image_info': info}
  return labels, outputs


def test_perfect_outputs_score_one():
  labels, outputs = _scene()
  ev = PanopticEvaluator(ENCODING, ignore_label=255)
  ev.update_state(labels, outputs)
  r = ev.result()
  for key in ('All_pq', 'All_sq', 'All_rq', 'Things_pq', 'Stuff_pq',
              'mean_iou', 'pixel_accuracy', 'mask_AP', 'mask_AP50'):
    assert r[key] == pytest.approx(1.0), key
  assert r['All_num_categories'] == 3
  assert all(isinstance(v, float) for v in r.values())


def test_damaged_outputs_and_replica_merge():
  labels, outputs = _scene()
  outputs = {k: v.numpy() for k, v in outputs.items()}
  # Drop the class-2 instance of image 1: its pixels become void.
  pan = outputs['panoptic']
  gone = pan[1] // LD == 2
  pan[1][gone] = 255 * LD
  outputs['instance'][1][gone] = 0
  outputs['instance_valid'][1] = False
  ev = PanopticEvaluator(ENCODING, ignore_label=255)
  ev.update_state(labels, outputs)
  r = ev.result()
  # Class 2: TP 1 (image 0), FN 1 (image 1) -> PQ = 1 / (1 + 0.5) = 2/3;
  # classes 0, 1 perfect (the void prediction is not an FP of class 0:
  # predicted void is no segment; class 0's IoU stays 1). Things: (1 + 2/3)/2.
  assert r['Things_pq'] == pytest.approx((1 + 2 / 3) / 2)
  assert r['All_pq'] == pytest.approx((1 + 1 + 2 / 3) / 3)
  # AP for class 2: recall 1/2 with precision 1 -> 51/101; class 1: 1.
  assert r['mask_AP'] == pytest.approx((1 + 51 / 101) / 2)
  # Per-replica tuples and merging give the same numbers.
  a = PanopticEvaluator(ENCODING, ignore_label=255)
  b = PanopticEvaluator(ENCODING, ignore_label=255)
  split = lambda d, s: {k: v[s] for k, v in d.items()}
  a.update_state(split(labels, slice(0, 1)), split(outputs, slice(0, 1)))
  b.update_state({k: (v[:1], v[1:]) for k, v in split(labels, slice(1, 2)).items()},
                 split(outputs, slice(1, 2)))
  a.merge(b)
  got = a.result()
  assert got.keys() == r.keys()
  for k in r:
    assert got[k] == pytest.approx(r[k]), k


def test_missing_key_and_disabled_metrics():
  labels, outputs = _scene()
  ev = PanopticEvaluator(ENCODING, ignore_label=255, compute_ap=False,
                         compute_miou=False)
  with pytest.raises(ValueError, match="missing key 'panoptic'"):
    ev.update_state({'semantic': labels['semantic']}, outputs)
  ev.update_state(labels, {'panoptic': outputs['panoptic']})
  assert set(ev.result()) == {f'{s}_{m}' for s in ('All', 'Things', 'Stuff')
                              for m in ('pq', 'sq', 'rq', 'num_categories')}


def test_post_processor_and_evaluator_from_one_encoding_agree():
  """Both built from one PanopticEncoding with label_divisor 1000 (not the
  256 of the other tests): a perfect prediction scores PQ 1.0."""
  encoding = PanopticEncoding(num_classes=3, thing_class_ids=[2],
                              label_divisor=1000)
  gt = np.zeros((1, 24, 24), np.int32)            # stuff class 0
  gt[0, :, 12:] = 1 * 1000                         # stuff class 1
  gt[0, 2:8, 2:8] = 2 * 1000 + 1                   # thing 2, instance 1
  gt[0, 14:22, 3:9] = 2 * 1000 + 2                 # thing 2, instance 2
  classes = gt // 1000
  heat = np.zeros((1, 24, 24, 1), np.float32)
  offsets = np.zeros((1, 24, 24, 2), np.float32)
  for seg in (2001, 2002):
    ys, xs = np.nonzero(gt[0] == seg)
    cy, cx = int(round(ys.mean())), int(round(xs.mean()))
    heat[0, cy, cx, 0] = 1.0
    offsets[0, ys, xs, 0] = cy - ys
    offsets[0, ys, xs, 1] = cx - xs
  post = modeling.PanopticPostProcessor(
      encoding, PostProcessingOptions(stuff_area_limit=0, top_k=8),
      output_instance_masks=False)
  outputs = post({'semantic_logits': tf.constant(np.eye(3)[classes] * 10.0,
                                                 tf.float32),
                  'center_heatmap': tf.constant(heat),
                  'center_offsets': tf.constant(offsets)})
  ev = PanopticEvaluator(encoding, ignore_label=255, compute_ap=False)
  ev.update_state({'panoptic': gt, 'semantic': classes}, outputs)
  r = ev.result()
  assert r['All_pq'] == pytest.approx(1.0)
  assert r['Things_num_categories'] == 1 and r['Stuff_num_categories'] == 2
  # The same maps read with another label divisor are rejected, not
  # silently mis-scored (2001 // 256 = class 7 is outside the 3 classes).
  other = PanopticEvaluator(PanopticEncoding(3, [2], 256), ignore_label=255,
                            compute_ap=False, compute_miou=False)
  with pytest.raises(ValueError, match='class ids must lie'):
    other.update_state({'panoptic': gt, 'semantic': classes}, outputs)


def test_evaluator_needs_an_encoding():
  with pytest.raises(TypeError, match='encoding'):
    PanopticEvaluator((3, [2], 1000), ignore_label=255, compute_miou=False)
  with pytest.raises(TypeError):
    PanopticEvaluator(3, [2])  # pylint: disable=no-value-for-parameter

"""MaskAP on tiny cases whose COCO AP can be worked out by hand.

COCO AP: per class, detections sorted by score are matched greedily at each
IoU threshold t in {0.50, 0.55, ..., 0.95} (match if IoU >= t); precision is
made monotone (max precision at recall >= r) and read at the 101 recall
points 0, 0.01, ..., 1 (0 beyond the highest recall reached); AP is the mean
over recall points, classes with ground truth, and thresholds.
"""

import numpy as np
from pycocotools import mask as mask_api
import pytest

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.evaluation import MaskAP
from axial_deeplab_tf.evaluation import mask_encoding

LD = 100


def _metric(**kw):
  return MaskAP(PanopticEncoding(num_classes=4, thing_class_ids=[1, 2],
                                 label_divisor=LD), **kw)


def _box(y0, y1, x0, x1, shape=(32, 32)):
  m = np.zeros(shape, bool)
  m[y0:y1, x0:x1] = True
  return m


def test_perfect_predictions_from_panoptic_batch():
  gt = np.zeros((2, 32, 32), np.int32)          # stuff class 0 background
  gt[0, 2:10, 2:10] = 1 * LD + 1
  gt[0, 12:20, 12:30] = 2 * LD + 1
  gt[1, 0:16, 0:16] = 1 * LD + 4
  gt[1, 20:30, 20:30] = 1 * LD + 5
  masks = np.stack([
      np.stack([gt[0] == 101, gt[0] == 201, np.zeros((32, 32), bool)]),
      np.stack([gt[1] == 104, gt[1] == 105, np.zeros((32, 32), bool)])])
  classes = np.array([[1, 2, -1], [1, 1, -1]])
  scores = np.array([[0.9, 0.8, 0.0], [0.7, 0.6, 0.0]])
  m = _metric()
  m.update_state(gt, masks, classes, scores)
  r = m.result()
  assert r['AP'] == pytest.approx(1.0)
  assert r['AP50'] == pytest.approx(1.0)
  assert r['AP75'] == pytest.approx(1.0)
  assert all(isinstance(v, float) for v in r.values())
  # Same through an instance-id map (slot j <-> id j + 1).
  inst = np.zeros((2, 32, 32), np.int32)
  for b in range(2):
    for j in range(2):
      inst[b][masks[b, j]] = j + 1
  m2 = _metric()
  m2.update_state(gt, inst, classes, scores)
  assert m2.result() == r


def test_one_correct_one_wrong_class():
  gt_masks = np.stack([_box(0, 10, 0, 10), _box(20, 30, 20, 30)])
  pred_masks = gt_masks.copy()
  m = _metric(report_per_class=True)
  # Instance A found with the right class; B predicted as class 2.
  m.add_image(gt_masks, [1, 1], pred_masks, [1, 2], [0.9, 0.8])
  # Class 1: 2 GT, 1 TP at every threshold -> precision 1 for recall
  # 0..0.5 (51 of 101 points), 0 above. Class 2 has no GT: not averaged.
  r = m.result()
  assert r['AP'] == pytest.approx(51 / 101)
  assert r['AP50'] == pytest.approx(51 / 101)
  assert r['AP/class_1'] == pytest.approx(51 / 101)
  assert r['AP/class_2'] == -1.0


def test_iou_decides_thresholds():
  gt_mask = _box(0, 10, 0, 10)                  # 100 px
  pred = gt_mask.copy()
  pred[9, 8:] = False                           # 98 px ...
  pred[8, :] = False                            # ... 88 px
  pred[7, :] = False                            # 78 px, all inside: IoU .78
  assert pred.sum() == 78
  m = _metric()
  m.add_image(gt_mask[None], [1], pred[None], [1], [0.5])
  r = m.result()
  # Matched at t = .50 .55 .60 .65 .70 .75 (6 of 10 thresholds), AP 1 there.
  assert r['AP'] == pytest.approx(0.6)
  assert r['AP50'] == pytest.approx(1.0)
  assert r['AP75'] == pytest.approx(1.0)


def test_false_positive_ranked_first_halves_precision():
  gt_mask = _box(0, 10, 0, 10)
  m = _metric()
  m.add_image(gt_mask[None], [1],
              np.stack([_box(20, 30, 20, 30), gt_mask]), [1, 1], [0.9, 0.4])
  # Precision at recall 1 is 1/2, and the envelope is 1/2 everywhere.
  assert m.result()['AP'] == pytest.approx(0.5)
  # Scores swapped: the TP comes first -> precision 1 up to recall 1.
  m2 = _metric()
  m2.add_image(gt_mask[None], [1],
               np.stack([_box(20, 30, 20, 30), gt_mask]), [1, 1], [0.4, 0.9])
  assert m2.result()['AP'] == pytest.approx(1.0)


def test_detection_on_crowd_is_ignored():
  gt = np.zeros((1, 32, 32), np.int32)
  gt[0, 0:10, 0:10] = 1 * LD + 1                # instance
  gt[0, 20:32, 20:32] = 1 * LD + 0              # crowd of class 1
  masks = np.stack([_box(0, 10, 0, 10), _box(22, 30, 22, 30)])[None]
  classes = np.array([[1, 1]])
  scores = np.array([[0.4, 0.9]])               # crowd detection scores higher
  m = _metric()
  m.update_state(gt, masks, classes, scores)
  assert m.result()['AP'] == pytest.approx(1.0)
  # If that region is void instead of crowd, the detection is an FP ranked
  # first: AP 0.5.
  gt_void = gt.copy()
  gt_void[0, 20:32, 20:32] = -1
  m2 = _metric()
  m2.update_state(gt_void, masks, classes, scores)
  assert m2.result()['AP'] == pytest.approx(0.5)
  # The same crowd given as a mask over an ordinary instance id.
  gt_mask = gt.copy()
  gt_mask[0, 20:32, 20:32] = 1 * LD + 9
  m3 = _metric()
  m3.update_state(gt_mask, masks, classes, scores,
                  gt_crowd_masks=gt_mask == 1 * LD + 9)
  assert m3.result()['AP'] == pytest.approx(1.0)


def test_accumulation_merge_and_validity():
  gt = np.zeros((3, 32, 32), np.int32)
  gt[:, 0:10, 0:10] = 1 * LD + 1
  gt[:, 16:28, 4:30] = 2 * LD + 2
  masks = np.stack([_box(0, 10, 0, 9), _box(16, 28, 4, 20),
                    _box(0, 5, 20, 30)])
  masks = np.broadcast_to(masks, (3, 3, 32, 32))
  classes = np.array([[1, 2, 2]] * 3)
  scores = np.array([[0.9, 0.5, 0.7], [0.3, 0.8, 0.6], [0.5, 0.5, 0.95]])
  valid = np.array([[True, True, True], [True, True, False],
                    [True, False, True]])
  whole = _metric()
  whole.update_state(gt, masks, classes, scores, pred_valid=valid)
  a, b = _metric(), _metric()
  a.update_state(gt[:1], masks[:1], classes[:1], scores[:1], valid[:1])
  b.update_state((gt[1:2], gt[2:]), (masks[1:2], masks[2:]),
                 (classes[1:2], classes[2:]), (scores[1:2], scores[2:]),
                 (valid[1:2], valid[2:]))
  a.merge(b)
  ref = whole.result()
  assert 0.0 < ref['AP'] < 1.0
  assert a.result() == ref
  # Invalid slots are not detections: marking them valid changes AP.
  c = _metric()
  c.update_state(gt, masks, classes, scores)
  assert c.result()['AP'] != pytest.approx(ref['AP'])


def test_no_detections_and_empty_state():
  m = _metric()
  assert m.result()['AP'] == -1.0
  gt = np.zeros((1, 8, 8), np.int32)
  gt[0, :4] = 1 * LD + 1
  m.update_state(gt, np.zeros((1, 1, 8, 8), bool), [[-1]], [[0.0]])
  assert m.result()['AP'] == 0.0
  m.reset_state()
  assert m.num_images == 0


def test_errors():
  m = _metric()
  gt = np.zeros((1, 8, 8), np.int32)
  with pytest.raises(ValueError, match='pred_classes: expected thing class'):
    m.update_state(gt, np.zeros((1, 1, 8, 8), bool), [[0]], [[0.5]])
  with pytest.raises(ValueError, match=r'pred_masks: expected bool'):
    m.update_state(gt, np.zeros((1, 2, 8, 8), bool), [[1]], [[0.5]])
  with pytest.raises(ValueError, match='same shape'):
    m.update_state(gt, np.zeros((1, 1, 8, 8), bool), [[1]], [[0.5, 0.1]])
  bad = gt.copy()
  bad[0, 0, 0] = 9 * LD
  with pytest.raises(ValueError, match='groundtruths: class ids'):
    m.update_state(bad, np.zeros((1, 1, 8, 8), bool), [[1]], [[0.5]])
  with pytest.raises(ValueError, match='gt_classes'):
    m.add_image(np.zeros((1, 8, 8), bool), [3], np.zeros((0, 8, 8), bool),
                [], [])
  with pytest.raises(ValueError, match='thing_class_ids'):
    MaskAP(PanopticEncoding(num_classes=2, thing_class_ids=[2],
                            label_divisor=LD))


def test_image_sizes_crop_detections():
  gt = np.full((1, 8, 10), -1, np.int32)
  gt[0, :4] = 0
  gt[0, 0:2, 0:5] = 1 * LD + 1       # 10 px instance; rows 4-7 are padding
  pred = np.zeros((1, 1, 8, 10), bool)
  pred[0, 0, 0:2, 0:5] = True
  pred[0, 0, 4:6, 0:5] = True        # 10 more px in the padding: IoU 0.5
  m = _metric()
  m.update_state(gt, pred, [[1]], [[0.9]])
  assert m.result()['AP'] == pytest.approx(0.1)   # matched only at t = 0.5
  m2 = _metric()
  m2.update_state(gt, pred, [[1]], [[0.9]], image_sizes=[[4, 10]])
  assert m2.result()['AP'] == pytest.approx(1.0)


def test_cropped_rle_encoders_match_plain_encoding():
  rng = np.random.default_rng(3)
  labels = np.kron(rng.integers(0, 6, (5, 7)), np.ones((3, 4), np.int64))
  labels[0, 0] = 9                              # a one-pixel label
  plain = lambda m: mask_api.encode(np.asfortranarray(m.astype(np.uint8)))
  wanted = [0, 3, 5, 9, 7]                      # 7 is absent: empty mask
  for v, rle in zip(wanted, mask_encoding.encode_labels(labels, wanted)):
    assert rle == plain(labels == v), v
  for v in (1, 9, 7):
    assert mask_encoding.encode_mask(labels == v) == plain(labels == v)

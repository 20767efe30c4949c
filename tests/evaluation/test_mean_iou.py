"""MeanIoU against hand-computed confusion matrices."""

import numpy as np
import pytest

from axial_deeplab_tf.evaluation import MeanIoU, confusion_matrix


def _pair():
  gt = np.array([[[0, 0, 1, 1], [2, 2, 255, 1]]], np.int32)
  pred = np.array([[[0, 1, 1, 1], [2, 0, 2, 255]]], np.int32)
  return gt, pred


def test_by_hand():
  gt, pred = _pair()
  # Pairs (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (255,2)=ignored
  # (1,void). Confusion rows: 0:[1,1,0|0] 1:[0,2,0|1] 2:[1,0,1|0].
  np.testing.assert_array_equal(
      confusion_matrix(gt, pred, 3),
      [[1, 1, 0, 0], [0, 2, 0, 1], [1, 0, 1, 0]])
  m = MeanIoU(3, report_per_class=True)
  m.update_state(gt, pred)
  # IoU0 = 1/(2+2-1) = 1/3; IoU1 = 2/(3+3-2) = 1/2; IoU2 = 1/(2+1-1) = 1/2.
  np.testing.assert_allclose(m.per_class_iou(), [1 / 3, 0.5, 0.5])
  r = m.result()
  assert r['mean_iou'] == pytest.approx((1 / 3 + 0.5 + 0.5) / 3)
  assert r['pixel_accuracy'] == pytest.approx(4 / 7)
  assert r['iou/class_1'] == pytest.approx(0.5)
  assert all(isinstance(v, float) for v in r.values())


def test_absent_class_left_out_but_false_positive_class_counts():
  gt = np.array([[[0, 0, 1, 1]]])
  pred = np.array([[[0, 0, 1, 1]]])
  m = MeanIoU(4)
  m.update_state(gt, pred)
  iou = m.per_class_iou()
  assert np.isnan(iou[2]) and np.isnan(iou[3])
  assert m.result()['mean_iou'] == pytest.approx(1.0)
  # Class 3 only predicted: IoU 0, included -> (1 + 1/2 + 0) / 3.
  m.update_state(np.array([[1, 1]]), np.array([[1, 3]]))
  # class 1: TP 3, union 4 -> 3/4; class 0: 1; class 3: 0/1 = 0.
  assert m.result()['mean_iou'] == pytest.approx((1 + 0.75 + 0) / 3)


def test_accumulation_merge_and_replicas():
  rng = np.random.default_rng(0)
  gt = rng.integers(0, 5, (6, 8, 8))
  gt[rng.random(gt.shape) < 0.1] = 255
  pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 5, gt.shape))
  pred[pred == 255] = 0
  whole = MeanIoU(5)
  whole.update_state(gt, pred)
  steps = MeanIoU(5)
  steps.update_state(gt[:3], pred[:3])
  steps.update_state((gt[3:4], gt[4:]), (pred[3:4], pred[4:]))
  other = MeanIoU(5)
  other.merge_state({'confusion': confusion_matrix(gt, pred, 5)})
  assert 0 < whole.result()['mean_iou'] < 1
  assert steps.result() == whole.result() == other.result()
  # Independent reference: sklearn-free per-class IoU by set counting.
  keep = gt != 255
  for c in range(5):
    inter = np.sum(keep & (gt == c) & (pred == c))
    union = np.sum(keep & ((gt == c) | (pred == c)))
    assert whole.per_class_iou()[c] == pytest.approx(inter / union)


def test_errors():
  m = MeanIoU(3)
  with pytest.raises(ValueError, match='same shape'):
    m.update_state(np.zeros((1, 2, 2), int), np.zeros((1, 2, 3), int))
  with pytest.raises(ValueError, match='groundtruths: expected class ids'):
    m.update_state(np.full((1, 2, 2), 3), np.zeros((1, 2, 2), int))
  with pytest.raises(ValueError, match='predictions: expected class ids'):
    m.update_state(np.zeros((1, 2, 2), int), np.full((1, 2, 2), 7))
  with pytest.raises(ValueError, match='integer'):
    m.update_state(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), int))
  with pytest.raises(ValueError, match='ignore_label'):
    MeanIoU(3, ignore_label=2)


def test_image_sizes():
  rng = np.random.default_rng(2)
  gt = rng.integers(0, 3, (2, 6, 7))
  pred = rng.integers(0, 3, (2, 6, 7))
  m = MeanIoU(3)
  m.update_state(gt, pred, image_sizes=[[6, 7], [3, 4]])
  ref = confusion_matrix(gt[0], pred[0], 3) + confusion_matrix(
      gt[1, :3, :4], pred[1, :3, :4], 3)
  np.testing.assert_array_equal(m.get_state()['confusion'], ref)
  assert ref.sum() == 42 + 12

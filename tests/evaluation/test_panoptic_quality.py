"""PanopticQuality against hand-computed numbers and Model Garden's PQ."""

import numpy as np
import pytest
import tensorflow as tf

from official.vision.evaluation import panoptic_quality as mg

from axial_deeplab_tf.data.encoding import PanopticEncoding
from axial_deeplab_tf.evaluation import PanopticQuality, panoptic_quality_stats

LD = 100      # label_divisor
VOID = -1     # ground-truth void (data pipeline convention)
PVOID = 255 * LD  # predicted void (post-processor convention, void_label 255)


ENCODING_KEYS = ('num_classes', 'thing_class_ids', 'label_divisor',
                 'void_label')


def _metric(**kw):
  args = dict(num_classes=3, thing_class_ids=[1, 2], label_divisor=LD,
              void_label=255)
  args.update(kw)
  encoding = PanopticEncoding(**{k: args.pop(k) for k in ENCODING_KEYS})
  return PanopticQuality(encoding, **args)


def _maps(h=10, w=10):
  return np.full((h, w), VOID, np.int32), np.full((h, w), PVOID, np.int32)


def test_tp_fp_fn_by_hand():
  gt, pred = _maps()
  # Class 1: g1 = row 0 (10 px); p1 = row 0 cols 0-7 -> IoU 8/10 = 0.8: TP.
  gt[0] = 1 * LD + 1
  pred[0, :8] = 1 * LD + 1
  # Class 1: g2 = row 2, predicted void -> FN.
  gt[2] = 1 * LD + 2
  # Class 2: g3 = row 6; predicted as class 1 -> FN (class 2), FP (class 1).
  gt[6] = 2 * LD + 1
  pred[6] = 1 * LD + 3
  # Stuff class 0: row 9 GT and pred, IoU 1.
  gt[9] = 0
  pred[9] = 0
  m = _metric()
  m.update_state(gt[None], pred[None])
  r = m.result()
  # class 1: PQ = 0.8 / (1 + 0.5 + 0.5) = 0.4, SQ = 0.8, RQ = 1/2 = 0.5
  # class 2: TP 0, FN 1 -> PQ = SQ = RQ = 0
  # class 0: PQ = SQ = RQ = 1
  pc = m.per_class_result()
  np.testing.assert_allclose(pc['pq'], [1.0, 0.4, 0.0])
  np.testing.assert_allclose(pc['sq'], [1.0, 0.8, 0.0])
  np.testing.assert_allclose(pc['rq'], [1.0, 0.5, 0.0])
  np.testing.assert_allclose(pc['tp'], [1, 1, 0])
  np.testing.assert_allclose(pc['fp'], [0, 1, 0])
  np.testing.assert_allclose(pc['fn'], [0, 1, 1])
  assert r['Things_pq'] == pytest.approx((0.4 + 0.0) / 2)
  assert r['Things_sq'] == pytest.approx((0.8 + 0.0) / 2)
  assert r['Things_rq'] == pytest.approx((0.5 + 0.0) / 2)
  assert r['Stuff_pq'] == pytest.approx(1.0)
  assert r['All_pq'] == pytest.approx((1.0 + 0.4 + 0.0) / 3)
  assert r['All_sq'] == pytest.approx((1.0 + 0.8 + 0.0) / 3)
  assert r['All_rq'] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
  assert r['All_num_categories'] == 3
  assert r['Things_num_categories'] == 2
  assert r['Stuff_num_categories'] == 1
  assert all(isinstance(v, float) for v in r.values())


def test_brief_example_one_tp_one_fp_one_fn():
  # One class: TP with IoU 0.8, one FP, one FN -> PQ = 0.8 / (1+0.5+0.5).
  gt, pred = _maps()
  gt[0] = 1 * LD + 1
  pred[0, 2:] = 1 * LD + 1           # 8 of 10 px -> IoU 0.8
  gt[3] = 1 * LD + 2                 # missed -> FN
  gt[5] = 0                          # stuff under the FP: class 0 FN too
  pred[5] = 1 * LD + 9               # FP of class 1
  m = _metric(thing_class_ids=[1])
  m.update_state(gt[None], pred[None])
  pc = m.per_class_result()
  assert pc['pq'][1] == pytest.approx(0.8 / 2.0)
  assert pc['pq'][0] == 0.0 and np.isnan(pc['pq'][2])
  r = m.result()
  assert r['Things_pq'] == pytest.approx(0.4)
  assert r['All_num_categories'] == 2


def test_iou_exactly_half_is_not_a_match():
  gt, pred = _maps()
  gt[0] = 1 * LD + 1
  pred[0, :5] = 1 * LD + 1           # IoU 5/10 = 0.5, not > 0.5
  m = _metric()
  m.update_state(gt[None], pred[None])
  pc = m.per_class_result()
  assert (pc['tp'][1], pc['fp'][1], pc['fn'][1]) == (0, 1, 1)
  assert pc['pq'][1] == 0.0


def test_void_pixels_leave_the_union():
  gt, pred = _maps()
  gt[0, :6] = 1 * LD + 1             # 6 px segment, cols 6-9 void
  pred[0] = 1 * LD + 1               # 10 px: 4 of them on GT void
  m = _metric()
  m.update_state(gt[None], pred[None])
  # IoU = 6 / (6 + 10 - 6 - 4) = 1.0 (it would be 0.6 without the rule).
  assert m.per_class_result()['sq'][1] == pytest.approx(1.0)
  assert m.result()['All_pq'] == pytest.approx(1.0)


@pytest.mark.parametrize('void_cols,is_fp', [(6, False), (5, True), (10, False)])
def test_prediction_mostly_on_void_is_not_fp(void_cols, is_fp):
  gt, pred = _maps()
  gt[0, void_cols:] = 2 * LD + 1     # GT class 2 on the rest of row 0
  pred[0] = 1 * LD + 1               # 10 px class-1 prediction
  m = _metric()
  m.update_state(gt[None], pred[None])
  pc = m.per_class_result()
  # FP unless more than half (> 5 of 10 px) lies on GT void.
  assert pc['fp'][1] == (1 if is_fp else 0)
  assert pc['fn'][2] == (1 if void_cols < 10 else 0)


def test_predicted_void_is_no_segment():
  gt, pred = _maps()
  gt[0] = 0
  m = _metric()
  m.update_state(gt[None], pred[None])  # everything predicted void
  pc = m.per_class_result()
  assert pc['fn'][0] == 1 and pc['fp'].sum() == 0 and pc['tp'].sum() == 0
  # Negative predicted values are void too.
  m2 = _metric()
  m2.update_state(gt[None], np.full_like(pred, -1)[None])
  np.testing.assert_array_equal(m2.get_state()['fn'], pc['fn'])


def test_crowd_encoded_as_instance_zero():
  gt, pred = _maps()
  gt[0] = 1 * LD + 0                 # crowd region of thing class 1
  pred[0, :6] = 1 * LD + 1           # 6 px all on crowd: not FP, not TP
  gt[1] = 1 * LD + 0                 # crowd of class 1 again (same region)
  pred[1] = 2 * LD + 1               # class-2 prediction on class-1 crowd: FP
  m = _metric()
  m.update_state(gt[None], pred[None])
  pc = m.per_class_result()
  np.testing.assert_array_equal(pc['tp'], [0, 0, 0])
  np.testing.assert_array_equal(pc['fn'], [0, 0, 0])   # crowd is never FN
  np.testing.assert_array_equal(pc['fp'], [0, 0, 1])
  # With the convention off, rows 0-1 are one normal 20 px segment: the 6 px
  # prediction has IoU 6/20 -> FN (class 1), and both predictions are FP.
  m2 = _metric(thing_instance_zero_is_crowd=False)
  m2.update_state(gt[None], pred[None])
  pc2 = m2.per_class_result()
  np.testing.assert_array_equal(pc2['tp'], [0, 0, 0])
  np.testing.assert_array_equal(pc2['fn'], [0, 1, 0])
  np.testing.assert_array_equal(pc2['fp'], [0, 1, 1])
  # Stuff class 0 with instance id 0 is never crowd.
  gt3, pred3 = _maps()
  gt3[0] = 0
  pred3[0, :6] = 0
  m3 = _metric()
  m3.update_state(gt3[None], pred3[None])
  assert m3.per_class_result()['tp'][0] == 1


def test_crowd_mask_and_void_overlap_add_up():
  gt, pred = _maps()
  gt[0, :3] = VOID
  gt[0, 3:6] = 1 * LD + 7            # flagged crowd below
  gt[0, 6:] = 2 * LD + 1             # class-2 instance, 4 px
  crowd = np.zeros_like(gt, bool)
  crowd[0, 3:6] = True
  pred[0] = 1 * LD + 1               # 10 px: 3 void + 3 crowd (class 1) + 4
  m = _metric()
  m.update_state(gt[None], pred[None], gt_crowd_masks=crowd[None])
  pc = m.per_class_result()
  # (3 + 3) / 10 > 0.5 -> not FP; the flagged crowd segment is no FN.
  assert pc['fp'][1] == 0 and pc['fn'][1] == 0
  assert pc['fn'][2] == 1
  # Without the crowd mask, row 0 cols 3-5 is a class-1 instance of 3 px:
  # IoU = 3 / (3 + 10 - 3 - 3) = 3/7 < 0.5 -> FN, and (3 void)/10 -> FP.
  m2 = _metric()
  m2.update_state(gt[None], pred[None])
  pc2 = m2.per_class_result()
  assert pc2['fp'][1] == 1 and pc2['fn'][1] == 1


def _random_pair(rng, batch=3, size=24, num_classes=5, void=-1):
  def blocky(shape):
    small = rng.integers(0, 4, size=shape)
    return np.kron(small, np.ones((1, 4, 4), np.int64))[:, :size, :size]
  gt_cls = blocky((batch, size // 4, size // 4)) % num_classes
  gt_inst = blocky((batch, size // 4, size // 4)) % 3
  gt = gt_cls * LD + gt_inst
  gt[blocky((batch, size // 4, size // 4)) == 0] = void
  pred = gt.copy()
  noise = rng.random(gt.shape) < 0.3
  pred[noise] = rng.integers(0, num_classes, noise.sum()) * LD + rng.integers(
      0, 3, noise.sum())
  shift = np.roll(pred, 2, axis=2)
  pred = np.where(rng.random(gt.shape) < 0.5, shift, pred)
  return gt.astype(np.int32), pred.astype(np.int32)


def test_accumulation_equals_one_batch_and_merge():
  rng = np.random.default_rng(0)
  gt, pred = _random_pair(rng, batch=6)
  kw = dict(num_classes=5, thing_class_ids=[0, 3], report_per_class=True)
  whole = _metric(**kw)
  whole.update_state(gt, pred)
  steps = _metric(**kw)
  steps.update_state(gt[:2], pred[:2])
  steps.update_state(gt[2:], pred[2:])
  a, b = _metric(**kw), _metric(**kw)
  a.update_state(gt[:1], pred[:1])
  b.update_state((gt[1:4], gt[4:]), (pred[1:4], pred[4:]))  # per-replica
  a.merge(b)
  c = _metric(**kw)
  c.merge_state(panoptic_quality_stats(
      gt, pred, PanopticEncoding(5, [0, 3], LD, 255)))
  ref = whole.result()
  assert ref['All_num_categories'] > 0
  for other in (steps, a, c):
    got = other.result()
    assert got.keys() == ref.keys()
    for k in ref:
      assert got[k] == pytest.approx(ref[k]), k
  whole.reset_state()
  assert whole.result()['All_num_categories'] == 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inside Model Garden
def test_matches_model_garden_without_crowd():
  rng = np.random.default_rng(1)
  k = 5
  gt, pred = _random_pair(rng, batch=4, num_classes=k)
  ours = _metric(num_classes=k, thing_class_ids=[1, 2],
                 thing_instance_zero_is_crowd=False)
  ours.update_state(gt, pred)
  # Model Garden: category = our class + 1, category 0 = void.
  theirs = mg.PanopticQuality(num_categories=k + 1, ignored_label=0,
                              max_instances_per_category=LD, offset=10**6)
  for g, p in zip(gt, pred):
    def split(x):
      void = x < 0
      return {'category_mask': np.where(void, 0, x // LD + 1),
              'instance_mask': np.where(void, 0, x % LD)}
    theirs.compare_and_accumulate(split(g), split(p))
  s = ours.get_state()
  assert s['tp'].sum() > 0 and s['fp'].sum() > 0 and s['fn'].sum() > 0
  np.testing.assert_allclose(s['tp'], theirs.tp_per_class[1:])
  np.testing.assert_allclose(s['fp'], theirs.fp_per_class[1:])
  np.testing.assert_allclose(s['fn'], theirs.fn_per_class[1:])
  np.testing.assert_allclose(s['iou_sum'], theirs.iou_per_class[1:])
  is_thing = np.array([False, False, True, True, False, False])
  ref = theirs.result(is_thing)
  got = ours.result()
  for name in ('All', 'Things', 'Stuff'):
    for m in ('pq', 'sq', 'rq'):
      assert got[f'{name}_{m}'] == pytest.approx(ref[f'{name}_{m}'])


def test_eager_tensor_inputs():
  gt, pred = _maps()
  gt[0] = 0
  pred[0] = 0
  m = _metric()
  m.update_state(tf.constant(gt[None]), tf.constant(pred[None]))
  assert m.result()['All_pq'] == pytest.approx(1.0)


def test_errors():
  gt, pred = _maps()
  m = _metric()
  with pytest.raises(ValueError, match='same shape'):
    m.update_state(gt[None], pred[None, :5])
  with pytest.raises(ValueError, match='rank 3'):
    m.update_state(gt, pred)
  bad = gt.copy()
  bad[0, 0] = 7 * LD                 # class 7 with num_classes 3
  with pytest.raises(ValueError, match=r'groundtruths: class ids must lie'):
    m.update_state(bad[None], pred[None])
  with pytest.raises(ValueError, match=r'predictions: class ids must lie'):
    m.update_state(gt[None], bad[None])
  with pytest.raises(ValueError, match='integer'):
    m.update_state(gt[None].astype(np.float32), pred[None])
  with pytest.raises(ValueError, match='void_label'):
    _metric(void_label=1)
  with pytest.raises(ValueError, match='thing_class_ids'):
    _metric(thing_class_ids=[3])
  with pytest.raises(ValueError, match='merge'):
    m.merge(_metric(label_divisor=1000))


def test_image_sizes_crop_padding():
  gt = np.full((1, 4, 10), VOID, np.int32)
  gt[0, :2] = 2 * LD + 1             # real image: rows 0-1; rows 2-3 padding
  pred = np.full((1, 4, 10), PVOID, np.int32)
  pred[0, 1:] = 1 * LD + 1           # 30 px, 20 of them in the padding
  m = _metric()
  m.update_state(gt, pred)
  assert m.get_state()['fp'][1] == 0   # 20/30 on void: not FP
  m2 = _metric()
  m2.update_state(gt, pred, image_sizes=[[2.0, 10.0]])
  # Cropped: the prediction is 10 px, all on class-2 ground truth -> FP.
  assert m2.get_state()['fp'][1] == 1
  with pytest.raises(ValueError, match='image_sizes'):
    m2.update_state(gt, pred, image_sizes=[[5, 10]])

"""TopKAccuracy by hand and against tf.math.in_top_k."""

import numpy as np
import pytest
import tensorflow as tf

from axial_deeplab_tf.evaluation import TopKAccuracy

LOGITS = np.array([
    [0.1, 0.5, 0.2, 0.9],   # label 3: best -> top-1
    [0.1, 0.5, 0.2, 0.9],   # label 1: one higher -> top-2, not top-1
    [0.3, 0.3, 0.3, 0.1],   # label 0: tied with two others -> top-1
    [1.0, 2.0, 3.0, 4.0],   # label 0: three higher -> only top-4
], np.float32)
LABELS = np.array([3, 1, 0, 0])


def test_by_hand():
  m = TopKAccuracy(ks=(1, 2, 4))
  m.update_state(LABELS, LOGITS)
  r = m.result()
  assert r == {'top_1_accuracy': pytest.approx(2 / 4),
               'top_2_accuracy': pytest.approx(3 / 4),
               'top_4_accuracy': pytest.approx(4 / 4)}
  assert all(isinstance(v, float) for v in r.values())


def test_one_hot_labels_and_sample_weight():
  m = TopKAccuracy(ks=(1, 2))
  one_hot = np.eye(4)[LABELS] * 0.9 + 0.025   # label-smoothed
  m.update_state(tf.constant(one_hot), tf.constant(LOGITS),
                 sample_weight=[1, 1, 1, 0])
  # Last example dropped: top-1 2/3, top-2 3/3.
  assert m.result() == {'top_1_accuracy': pytest.approx(2 / 3),
                        'top_2_accuracy': pytest.approx(1.0)}


def test_matches_in_top_k_and_accumulates():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(40, 10)).astype(np.float32)
  labels = rng.integers(0, 10, 40)
  whole = TopKAccuracy()
  whole.update_state(labels, logits)
  for k in (1, 5):
    ref = np.mean(tf.math.in_top_k(labels, logits, k).numpy())
    assert whole.result()[f'top_{k}_accuracy'] == pytest.approx(ref)
  steps = TopKAccuracy()
  steps.update_state(labels[:15], logits[:15])
  steps.update_state((labels[15:20], labels[20:]),
                     (logits[15:20], logits[20:]))
  merged = TopKAccuracy()
  merged.merge(steps)
  assert steps.result() == pytest.approx(whole.result())
  assert merged.result() == pytest.approx(whole.result())
  assert TopKAccuracy().result() == {'top_1_accuracy': 0.0,
                                     'top_5_accuracy': 0.0}


def test_errors():
  m = TopKAccuracy()
  with pytest.raises(ValueError, match='class ids in'):
    m.update_state([4, 0], LOGITS[:2])
  with pytest.raises(ValueError, match='batch sizes differ'):
    m.update_state([0, 1, 2], LOGITS[:2])
  with pytest.raises(ValueError, match='rank 2'):
    m.update_state([0], LOGITS[0])
  with pytest.raises(ValueError, match='sample_weight'):
    m.update_state([0, 1], LOGITS[:2], sample_weight=[1.0])
  with pytest.raises(ValueError, match='ks'):
    TopKAccuracy(ks=(0,))

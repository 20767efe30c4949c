"""`global_attention.attend` called directly, in its XLA inference form
(the similarity terms summed elementwise over channel-major operands),
against numpy written from eq. 4 of the paper."""

import numpy as np
import tensorflow as tf

from axial_deeplab_tf.ops import global_attention
from axial_deeplab_tf.ops import relative_positions


def _reference(q, k, v, tables, scales, shift):
  """Eq. 4 for every query o: softmax over keys p of the scaled terms
  (plus a per-head shift), applied to v_p and to r^v_{p - o}."""
  q_table, k_table, v_table = tables
  length, max_distance = q.shape[2], (q_table.shape[0] - 1) // 2
  rows = np.clip(np.arange(length)[None] - np.arange(length)[:, None],
                 -max_distance, max_distance) + max_distance  # [o, p]
  rq, rk, rv = q_table[rows], k_table[rows], v_table[rows]  # [o, p, d]
  logits = (scales[0][:, None, None] * np.einsum('bhod,bhpd->bhop', q, k) +
            scales[1][:, None, None] * np.einsum('bhod,opd->bhop', q, rq) +
            scales[2][:, None, None] * np.einsum('bhpd,opd->bhop', k, rk) +
            shift[:, None, None])
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  return (np.einsum('bhop,bhpd->bhod', weights, v),
          np.einsum('bhop,opd->bhod', weights, rv))


def test_xla_inference_form_matches_eq4():
  rng = np.random.default_rng(7)
  batch, heads, length, depth, depth_v, max_distance = 2, 3, 7, 5, 4, 4
  q, k = (rng.normal(size=(batch, heads, length, depth)).astype(np.float32)
          for _ in range(2))
  v = rng.normal(size=(batch, heads, length, depth_v)).astype(np.float32)
  tables = tuple(rng.normal(size=(2 * max_distance + 1, d)).astype(
      np.float32) for d in (depth, depth, depth_v))
  scales = rng.uniform(0.5, 1.5, size=(3, heads)).astype(np.float32)
  shift = rng.normal(size=heads).astype(np.float32) * 3

  @tf.function(jit_compile=True)
  def attend(q, k, v):
    assert global_attention.elementwise(depth, training=False)
    operands = relative_positions.pair_operands(tables, length,
                                                channel_major=True)
    return global_attention.attend(q, k, v, operands, True,
                                   tf.constant(scales), tf.constant(shift),
                                   training=False)

  got = attend(q, k, v)
  for g, want in zip(got, _reference(q, k, v, tables, scales, shift)):
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-5, atol=1e-5)
  assert not global_attention.elementwise(depth, training=False)  # eager

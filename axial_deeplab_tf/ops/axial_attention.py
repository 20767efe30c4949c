"""The position-sensitive axial-attention core (paper eq. 4), stateless.

For one axis of length L, output position o, span m (h = (m - 1) / 2):

    y_o = sum_{|p - o| <= h} softmax_p(q_o.k_p + q_o.rq[p-o] + k_p.rk[p-o])
                             (v_p + rv[p-o])

with a batch norm over the three similarity terms (statistics per (term,
head) over the (o, p) pairs inside the span). Two layouts compute it and
share one contract, `attention(q, k, v, tables, use_content,
similarity_norm, training)` -> list of output terms:

* global (`ops/global_attention.py`): one `[L, L]` similarity per
  (sequence, head), the similarity norm folded into the matmuls; used when
  the span is global or covers the whole axis (`L <= h + 1`, known from
  the static shape).
* local (`ops/local_attention.py`): the axis is cut into blocks of
  queries that attend to the keys around them; linear in L.

The contract (both layouts):

  q, k: `[batch, heads, L, depth_qk]`; v: `[batch, heads, L, depth_v]`.
  tables: `(q_table, k_table, v_table)`, each `[2 * max_distance + 1,
    depth]` (row t is offset `t - max_distance`, larger offsets clipped) or
    None when that term is off.
  use_content: whether the `q.k` term is on.
  similarity_norm: the `layers.TermBatchNormalization` of the similarity
    terms present (content, r^q, r^k order), statistics per head (axis 1).
    The local layout calls it on its masked terms; the global layout asks
    it for the affine (`affine_from_moments`) of moments it computes
    itself. Either way a training call updates its moving statistics once.
  training: Python bool; batch statistics (True) or moving ones (False).
  Returns: the list of retrieved terms, content then r^v, each
    `[batch, L, heads, depth_v]`: the layout in which the output batch norm
    reduces over leading axes and heads merge into channels by a reshape.

This module holds no variables: the tables and the norm belong to the
calling layer (`layers.PositionSensitiveAxialAttention`).
"""

from axial_deeplab_tf.ops import global_attention
from axial_deeplab_tf.ops import local_attention


def attention(q, k, v, tables, use_content, similarity_norm, training, *,
              half_span=None, block_size=None, recompute=False):
  """Eq. 4 along the length axis of `q`, `k`, `v`, in the layout that fits.

  Args:
    q, k, v, tables, use_content, similarity_norm, training: the contract
      of this module (see its docstring).
    half_span: None for global attention, or Python int h (span `2h + 1`).
    block_size: Python int >= h, queries per block of the local layout;
      required when the local layout runs.
    recompute: global layout only (see `global_attention.global_attention`);
      the local layout keeps its `O(L)` tiles and ignores it.

  Returns:
    List of `[batch, L, heads, depth_v]` output terms (content, r^v).
  """
  common = (q, k, v, tables, use_content, similarity_norm, training)
  length = q.shape[2]
  if half_span is None or (length is not None and length <= half_span + 1):
    return global_attention.global_attention(*common, recompute=recompute)
  return local_attention.local_attention(*common, half_span=half_span,
                                         block_size=block_size)

"""The position-sensitive axial-attention core (paper eq. 4), stateless.

For one axis of length L, output position o, span m (h = (m - 1) / 2):

    y_o = sum_{|p - o| <= h} softmax_p(q_o.k_p + q_o.rq[p-o] + k_p.rk[p-o])
                             (v_p + rv[p-o])

with a batch norm over the three similarity terms (statistics per (term,
head) over the (o, p) pairs inside the span). Two layouts compute it and
share one contract, `attention(q, k, v, tables, use_content,
similarity_norm, training)` -> list of output terms:

* global (`ops/global_attention.py`): one `[L, L]` similarity per
  (sequence, head), the similarity norm folded into the matmuls (batch
  statistics from Gram matrices); used when the span is global or covers
  the whole axis (`L <= h + 1`, known from the static shape).
* local (`ops/local_attention.py`): the axis is cut into blocks of
  queries that attend to the keys around them; linear in L. In training
  the similarity norm's batch statistics are sums over the valid pairs,
  added up over chunks first (one more pass over the similarities).

Bounded memory (`ops/chunking.py`): both layouts run on chunks of the
`batch` (batch * other-axis) sequences, as many per chunk as keep one
chunk's largest tensor within `memory_budget_mb`, one chunk at a time, in
the forward pass and (with `recompute`) in the backward pass. The
similarity norm's statistics are still over the whole batch: the affine is
computed first, from all sequences, and given to every chunk. What stays
unchunked: q, k, v and the outputs (the size of the layer's input and
output), and the batch-independent expanded tables (`[depth, L, L]` for
the global layout, `[depth, b, b + 2h]` for the local one); below one
sequence per chunk the budget is exceeded (the global layout's
`[heads, L, L]` at L = 2048, 8 heads, is 128 MiB).

The contract (both layouts):

  q, k: `[batch, heads, L, depth_qk]`; v: `[batch, heads, L, depth_v]`.
  tables: `(q_table, k_table, v_table)`, each `[2 * max_distance + 1,
    depth]` (row t is offset `t - max_distance`, larger offsets clipped) or
    None when that term is off.
  use_content: whether the `q.k` term is on.
  similarity_norm: the `layers.TermBatchNormalization` of the similarity
    terms present (content, r^q, r^k order), statistics per head (axis 1).
    Both layouts ask it for the affine (`affine_from_moments`) of moments
    they compute themselves, so a training call updates its moving
    statistics once. None on the folded inference path
    (`modeling/folding.py`): the terms' scales are already in q and k
    (but `content_scale`, per head, of the content term), and their
    shifts, constant along the softmax axis, cancel.
  training: Python bool; batch statistics (True) or moving ones (False).
  Returns: the list of retrieved terms, content then r^v, each
    `[batch, heads, L, depth_v]`, the layout of the inputs: the calling
    layer normalises and sums the terms there and moves only the sum back
    to its image layout (one transpose).

The layouts' own functions (`similarity_affine`, `moments`, `attend`)
take, in place of the tables, their expansion `operands =
relative_positions.pair_operands(tables, ...)`, built once per call here
and shared by every chunk.

This module holds no variables: the tables and the norm belong to the
calling layer (`layers.PositionSensitiveAxialAttention`).
"""

import tensorflow as tf

from axial_deeplab_tf.ops import chunking
from axial_deeplab_tf.ops import global_attention
from axial_deeplab_tf.ops import local_attention
from axial_deeplab_tf.ops import relative_positions
from axial_deeplab_tf.ops import shapes


def attention(q, k, v, tables, use_content, similarity_norm, training, *,
              half_span=None, block_size=None, recompute=False,
              memory_budget_mb=None, content_scale=None):
  """Eq. 4 along the length axis of `q`, `k`, `v`, in the layout that fits,
  over chunks of sequences that fit the memory budget.

  Args:
    q, k, v, tables, use_content, similarity_norm, training: the contract
      of this module (see its docstring).
    half_span: None for global attention, or Python int h (span `2h + 1`).
    block_size: Python int >= h, queries per block of the local layout;
      required when the local layout runs.
    recompute: in training, keep only each chunk's inputs for the backward
      pass and recompute its similarities and attention weights there
      (`tf.recompute_grad` per chunk): less peak memory for about one more
      forward of the attention per step. The moving-statistics update
      stays outside the recomputed part, so it runs once.
    memory_budget_mb: MiB of the largest tensor of one chunk; None for
      `chunking.DEFAULT_BUDGET_MB`. Applies in inference and in training
      with `recompute`; training without it runs all sequences at once
      (its backward pass would keep every chunk's tensors anyway).
    content_scale: folded path only (`similarity_norm` None): None or
      `[heads]` float32 factor of the content term.

  Returns:
    List of `[batch, heads, L, depth_v]` output terms (content, r^v).
  """
  batch, heads, size, depth_qk = shapes.dims(q)
  depth_v = v.shape[-1]
  recompute = bool(recompute and training)
  folded = similarity_norm is None
  if folded and training:
    raise ValueError('The folded attention (no similarity_norm) is '
                     'inference-only.')

  def chunk_for(per_sequence):
    # Training without recompute keeps every chunk's tensors for the
    # backward pass anyway: chunks would bound nothing and only add a loop
    # (measured 1.28x slower, +1.7 GB, on an Axial-ResNet-S step).
    if training and not recompute:
      return None
    return chunking.sequences_per_chunk(memory_budget_mb, per_sequence)

  if folded:
    # The affine of the folded path: at most the content term's scale.
    if content_scale is not None and not use_content:
      raise ValueError('content_scale needs the content term.')
    affine = [] if content_scale is None else [content_scale]
    def unpack(affine):  # -> per-term scales (None: unscaled), no shift
      return list(affine) + [None] * (3 - len(affine)), None
  else:
    def unpack(affine):
      scales, shift = affine
      # The shift, one constant per head, cancels in the softmax: inference
      # leaves it out (a contraction column less in the global layout, a
      # pass over the tiles less in the local one); training keeps it, so
      # that the norm's beta stays connected to the loss (its gradient is
      # zero).
      return scales, shift if training else None
  is_global = half_span is None or (isinstance(size, int) and
                                    size <= half_span + 1)
  elementwise = is_global and global_attention.elementwise(depth_qk,
                                                           training)
  # The expanded tables: once per call, shared by every chunk (and by the
  # similarity statistics), differentiated once.
  operands = (relative_positions.pair_operands(tables, size,
                                               channel_major=elementwise)
              if is_global
              else relative_positions.pair_operands(tables, block_size,
                                                    half_span))
  present = [o is not None for o in operands]
  given = [o for o in operands if o is not None]

  def full(operands_given):
    operands_given = iter(operands_given)
    return tuple(next(operands_given) if p else None for p in present)

  if is_global:
    if not folded:
      affine = list(global_attention.similarity_affine(
          q, k, operands, use_content, similarity_norm, training))
    per_sequence = global_attention.sequence_bytes(size, heads, depth_v)
    chunk = chunk_for(per_sequence)

    def attend(q, k, v, *shared):
      scales, shift = unpack(shared[:len(affine)])
      return global_attention.attend(q, k, v, full(shared[len(affine):]),
                                     use_content, scales, shift, training)
  else:
    local = dict(half_span=half_span, block_size=block_size)
    per_sequence = local_attention.sequence_bytes(
        size, heads, depth_qk, depth_v, **local)
    chunk = chunk_for(per_sequence)
    if training:
      def moments(q, k, *operands_given):
        return local_attention.moments(q, k, full(operands_given),
                                       use_content, **local)
      zeros = [tf.zeros([similarity_norm.num_terms, heads], tf.float32)] * 2
      total, sum_squares = chunking.sum_sequences(
          moments, [q, k], given, chunk, zeros, recompute=recompute)
      pairs = local_attention.valid_pairs(size, **local)
      count = tf.cast(batch, tf.float32) * pairs
      affine = list(similarity_norm.affine_from_moments(
          tf.fill(shapes.dims(total), count), total, sum_squares,
          training=True))
    elif not folded:
      affine = list(similarity_norm.affine_from_moments(training=False))

    def attend(q, k, v, *shared):
      scales, shift = unpack(shared[:len(affine)])
      return local_attention.attend(q, k, v, full(shared[len(affine):]),
                                    use_content, scales, shift,
                                    training=training, **local)
  return chunking.map_sequences(
      attend, [q, k, v], affine + given, chunk,
      [v.dtype] * (1 + int(tables[2] is not None)), recompute=recompute)

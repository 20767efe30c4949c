"""The attention's sequences in chunks that fit a memory budget.

An axial-attention layer attends along one axis of `batch * other`
independent sequences; its transient tensors (similarities, attention
weights, key windows) are per sequence, so processing the sequences a
chunk at a time bounds them by the chunk, whatever the image size. A chunk
holds `sequences_per_chunk(budget_mb, sequence_bytes)` sequences, so that
its largest tensor stays within the budget.

`map_sequences` concatenates per-chunk outputs, `sum_sequences` adds
per-chunk sums (the similarity norm's moments). Both run one `tf.while_loop`
with `parallel_iterations=1`, so at most one chunk's tensors are live; with
`recompute=True` each chunk runs under `tf.recompute_grad`, so the backward
pass keeps only the chunk's inputs and recomputes its tensors, one chunk at
a time. The sequences are zero-padded to a whole number of chunks (a ragged
last chunk), chunks are fixed-size (static shapes, XLA-friendly), and the
padding is cut from concatenated outputs; with static sizes the chunk is
shrunk to the least padding for its number of chunks (`_balanced`). A
single chunk calls the function directly, without a loop; so do a few
chunks in XLA-compiled inference (`_unrolled`).
"""

import tensorflow as tf

from axial_deeplab_tf.ops import shapes

# Largest tensor of one chunk, in MiB, when the caller gives no budget.
# 16 keeps Axial-DeepLab-S inference at 1025x2049 under 3 GB resident
# (2.59 GB measured; 3.11 GB with 64; `benchmarks/memory_benchmark.py`,
# docs/benchmarks.md).
DEFAULT_BUDGET_MB = 16
# Under XLA, inference runs up to this many chunks as separate slices of
# the sequences (`_unrolled`) instead of a loop.
XLA_UNROLLED_CHUNKS = 8


def sequences_per_chunk(budget_mb, sequence_bytes):
  """Sequences per chunk: as many as fit `budget_mb`, at least one.

  Args:
    budget_mb: float MiB, or None for `DEFAULT_BUDGET_MB`.
    sequence_bytes: bytes of one sequence's largest tensor; a Python int
      (static shapes: the chunk size is then a Python int) or a scalar
      tensor.

  Returns:
    Python int or scalar int32 tensor, >= 1.
  """
  budget = (DEFAULT_BUDGET_MB if budget_mb is None else budget_mb) * 2**20
  if budget <= 0:
    raise ValueError(f'memory budget must be positive, got {budget_mb} MB.')
  if isinstance(sequence_bytes, int):
    return max(1, int(budget // sequence_bytes))
  per = tf.cast(sequence_bytes, tf.float64)
  return tf.maximum(1, tf.cast(tf.math.floor(budget / per), tf.int32))


def _balanced(sequences, chunk):
  """The chunk size with the same number of chunks but the least padding
  (`ceil(n / count)` for `count = ceil(n / chunk)` chunks), where `n` and
  `chunk` are static: 448 sequences in chunks of 167 run as 3 x 150 (2
  padding sequences computed) rather than 3 x 167 (53). No larger than
  `chunk`, so within the same budget; a dynamic size or chunk is kept."""
  total = sequences[0].shape[0]
  if not isinstance(chunk, int) or total is None or chunk >= total:
    return chunk
  count = -(-total // chunk)
  return -(-total // count)


def _is_single_chunk(sequences, chunk):
  if chunk is None:
    return True
  total = sequences[0].shape[0]
  return isinstance(chunk, int) and total is not None and chunk >= total


def _split(x, chunk, count):
  """`[n, ...]` -> TensorArray of `count` zero-padded `[chunk, ...]`."""
  sizes = shapes.dims(x)
  x = tf.pad(x, [[0, count * chunk - sizes[0]]] + [[0, 0]] * (len(sizes) - 1))
  x = tf.reshape(x, [count, chunk] + sizes[1:])
  element = tf.TensorShape([chunk if isinstance(chunk, int) else None])
  element = element.concatenate(x.shape[2:])
  return tf.TensorArray(x.dtype, size=count, element_shape=element,
                        infer_shape=False).unstack(x)


def _loop(fn, sequences, shared, chunk, initial, update, recompute):
  """Runs `fn` on each chunk: `update(i, accumulators, outputs)` from
  `initial(count)`; returns `(accumulators, total sequences)`."""
  body_fn = tf.recompute_grad(fn) if recompute else fn
  total = shapes.dims(sequences[0])[0]
  count = (total + chunk - 1) // chunk
  parts = [_split(x, chunk, count) for x in sequences]
  shared = [tf.convert_to_tensor(s) for s in shared]

  def body(i, accumulators):
    outputs = body_fn(*[p.read(i) for p in parts], *shared)
    return i + 1, update(i, accumulators, outputs)

  _, accumulators = tf.while_loop(
      lambda i, _: i < count, body, (tf.constant(0), initial(count)),
      parallel_iterations=1, maximum_iterations=count)
  return accumulators, total


def _unrolled(fn, sequences, shared, chunk):
  """`map_sequences` without a loop: under XLA, with static sizes and a
  few chunks (inference), `fn` on each chunk's slice of the sequences, the
  last one ragged (no padding), outputs concatenated. The loop's
  per-iteration reads and writes of its arrays, and its buffers, cost
  about 7% of an XLA-compiled Axial-ResNet-S forward at 224x224 (three
  chunks per stage-1 layer); XLA still schedules the slices one after
  the other (its memory-minimising schedule), so a chunk's tensors stay
  within the budget. None where it does not apply."""
  total = sequences[0].shape[0]
  if (not isinstance(chunk, int) or total is None or not shapes.in_xla()
      or -(-total // chunk) > XLA_UNROLLED_CHUNKS):
    return None
  pieces = [fn(*[x[start:start + chunk] for x in sequences], *shared)
            for start in range(0, total, chunk)]
  return [tf.concat(parts, 0) for parts in zip(*pieces)]


def map_sequences(fn, sequences, shared, chunk, dtypes, recompute=False):
  """`fn` over chunks of `sequences`, outputs concatenated on axis 0.

  Args:
    fn: `fn(*sequence_chunks, *shared)` -> list of tensors, each with the
      chunk's sequences on axis 0. Every differentiable input must be an
      argument (`tf.recompute_grad` differentiates arguments only).
    sequences: list of `[n, ...]` tensors, chunked together on axis 0.
    shared: list of tensors passed whole to every call.
    chunk: sequences per chunk (Python int or scalar tensor), or None
      for all of them in one call.
    dtypes: dtype of each output of `fn`.
    recompute: run each chunk under `tf.recompute_grad`.

  Returns:
    List of `[n, ...]` outputs.
  """
  static_shapes = []  # of the outputs past axis 0, recorded when traced
  chunk = _balanced(sequences, chunk)

  def recorded(*args):
    outputs = fn(*args)
    static_shapes[:] = [o.shape[1:] for o in outputs]
    return outputs

  if _is_single_chunk(sequences, chunk):
    results = list((tf.recompute_grad(recorded) if recompute else recorded)(
        *sequences, *shared))
  elif not recompute and (unrolled := _unrolled(recorded, sequences, shared,
                                                chunk)) is not None:
    results = unrolled
  else:
    def initial(count):
      return [tf.TensorArray(d, size=count, infer_shape=False)
              for d in dtypes]

    def update(i, arrays, outputs):
      return [a.write(i, o) for a, o in zip(arrays, outputs)]
    arrays, total = _loop(recorded, sequences, shared, chunk, initial,
                          update, recompute)
    results = []
    known = sequences[0].shape[0]
    count = None if known is None or not isinstance(chunk, int) else (
        (known + chunk - 1) // chunk)
    for array, static in zip(arrays, static_shapes):
      stacked = array.stack()  # [count, chunk, ...]
      stacked.set_shape(tf.TensorShape(
          [count, chunk if isinstance(chunk, int) else None]).concatenate(
              static))
      results.append(tf.reshape(stacked, [-1] + shapes.dims(stacked)[2:])
                     [:total])
  for result, static in zip(results, static_shapes):
    result.set_shape(tf.TensorShape([sequences[0].shape[0]]).concatenate(
        static))
  return results


def sum_sequences(fn, sequences, shared, chunk, zeros, recompute=False):
  """Sum over chunks of `fn`'s outputs.

  The padding sequences of the last chunk are zeros: `fn` must give zero
  for them (true of sums of products of the sequences).

  Args:
    fn, sequences, shared, chunk, recompute: as in `map_sequences`.
    zeros: list of zero tensors, one per output of `fn`, of its shapes.

  Returns:
    List of the summed outputs.
  """
  chunk = _balanced(sequences, chunk)
  if _is_single_chunk(sequences, chunk):
    return list((tf.recompute_grad(fn) if recompute else fn)(
        *sequences, *shared))
  def update(unused_i, sums, outputs):
    return [s + o for s, o in zip(sums, outputs)]
  sums, _ = _loop(fn, sequences, shared, chunk, lambda _: list(zeros),
                  update, recompute)
  return sums

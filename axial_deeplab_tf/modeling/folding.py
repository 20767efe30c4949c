"""Batch norms folded into the axial attention for inference.

In inference every batch norm of a `PositionSensitiveAxialAttention` is an
affine map with its moving statistics (`a = gamma / sqrt(var + eps)`,
`b = beta - mean * a`), so its function needs no normalisation pass:

* q/k/v: the projection `W x` followed by its batch norm is the projection
  `(W a) x + b`.
* similarity: `sum_t a_t s_t + sum_t b_t` per head over the terms
  `s = (q.k, q.rq, k.rk)`. The summed shift is constant along the softmax
  axis (keys), so it cancels. The scales go into q and k per head:
  `q' = a_rq q`, `k' = a_rk k` make the relative terms `q'.rq` and
  `k'.rk` with the tables as they are (they are shared by the heads, the
  scales are not, so they cannot go into the tables without a copy per
  head; a per-head table would multiply the expanded `[depth, L, L]`
  tables by the head count). The content term is then
  `c q'.k'` with `c = a_c / (a_rq a_rk)`; with one of the relative terms
  off, `c` goes into q or k too, and only with all three on the layer
  keeps `c` (`[heads]`, applied to q by the attention op).
* output: `a_1 C + a_2 R + b_1 + b_2` per channel, with
  `C = sum_p w_p v_p`, `R = sum_p w_p rv[p - o]`. The attention weights
  sum to one, so a bias of v passes through: `v' = (a_1 v + b_1 + b_2) /
  a_2` gives `a_2 (C' + R)`, one multiply by `a_2` per output channel
  (`a_1 v + b_1 + b_2` and no multiply without the r^v term).

Divisions by a scale need it non-zero: a batch-norm gamma of exactly zero
on a divided term raises `ValueError` (its term can be switched off
instead). The weights are computed in float64 and stored as float32.

`fold_model(model)` folds every attention layer of a built model in place
(`fold_attention`); the model is then inference-only
(folded layers refuse `training=True`) and computes the same function.
The serving export (`train/export.py`) folds by default.
"""

import numpy as np
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import attention

# A scale we divide by must be at least this large in magnitude.
_SMALLEST_DIVISOR = 1e-30


def _affine(gamma, beta, mean, variance, epsilon):
  """`(a, b)` of a batch norm in inference, float64."""
  gamma, beta, mean, variance = (np.asarray(x, np.float64) for x in
                                 (gamma, beta, mean, variance))
  scale = gamma / np.sqrt(variance + epsilon)
  return scale, beta - mean * scale


def _norm_affine(norm):
  """The inference affine of a Keras or `TermBatchNormalization` norm."""
  read = lambda v: v.numpy()  # pylint: disable=g-long-lambda
  return _affine(read(norm.gamma), read(norm.beta), read(norm.moving_mean),
                 read(norm.moving_variance), norm.epsilon)


def _divide(numerator, divisor, what, layer):
  if np.any(np.abs(divisor) < _SMALLEST_DIVISOR):
    raise ValueError(f'{layer.name}: cannot fold, the {what} batch-norm '
                     f'scale is zero for some channel.')
  return numerator / divisor


def folded_weights(layer):
  """The folded projection and scales of a built attention layer.

  Args:
    layer: a built `layers.attention.PositionSensitiveAxialAttention`.

  Returns:
    dict: 'kernel' `[channels, 2 kd + vd]`, 'bias' `[2 kd + vd]`,
    'content_scale' `[heads]` or None, 'output_scale' `[vd]` or None;
    float32 numpy arrays.
  """
  if not layer.built:
    raise ValueError(f'{layer.name}: build the layer before folding it.')
  heads, kd, vd = layer.num_heads, layer.key_depth, layer.value_depth
  kernel = np.asarray(layer.qkv_projection.kernel.numpy()[0, 0], np.float64)
  scale, bias = _norm_affine(layer.qkv_norm)
  kernel, bias = kernel * scale, bias

  names = [n for n, on in (('content', layer.use_content),
                           ('query', layer.use_query_rpe),
                           ('key', layer.use_key_rpe)) if on]
  term_scale = dict(zip(names, _norm_affine(layer.similarity_norm)[0]))
  ones = np.ones(heads)
  q_scale = term_scale.get('query', ones)
  k_scale = term_scale.get('key', ones)
  content_scale = None
  if 'content' in term_scale:
    content = _divide(term_scale['content'], q_scale * k_scale,
                      'r^q / r^k similarity', layer)
    if 'query' not in term_scale:
      q_scale = q_scale * content
    elif 'key' not in term_scale:
      k_scale = k_scale * content
    else:
      content_scale = content

  out_scale, out_shift = _norm_affine(layer.output_norm)  # [terms, h, d]
  shift = out_shift.sum(0).reshape(vd)
  v_scale, output_scale = out_scale[0].reshape(vd), None
  if layer.use_value_rpe:
    output_scale = out_scale[1].reshape(vd)
    v_scale = _divide(v_scale, output_scale, 'r^v output', layer)
    shift = shift / output_scale
  channel_scale = np.concatenate([np.repeat(q_scale, kd // heads),
                                  np.repeat(k_scale, kd // heads), v_scale])
  kernel = kernel * channel_scale
  bias = bias * channel_scale
  bias[2 * kd:] += shift
  cast = lambda x: None if x is None else x.astype(np.float32)  # pylint: disable=g-long-lambda
  return {'kernel': cast(kernel), 'bias': cast(bias),
          'content_scale': cast(content_scale),
          'output_scale': cast(output_scale)}


def fold_attention(layer):
  """Folds one built attention layer in place (see the module docstring).

  Switches the layer to its folded inference path, for good: it gets a
  1x1 convolution with bias `folded_projection` (named `qkv_folded`, its
  variables `<layer>/qkv_folded/kernel` and `.../bias`) that gives the
  q, k, v whose per-head scales make the similarity terms a plain sum,
  and the float32 weights `<layer>/folded_content_scale` (`[heads]`, or
  None) and `<layer>/folded_output_scale` (`[value_depth]`, or None) of
  `folded_weights`. The tables are used as they are; the batch norms stay
  (unused); the layer then refuses `training=True`.
  """
  weights = folded_weights(layer)
  channels, depth = weights['kernel'].shape
  projection = tf_keras.layers.Conv2D(depth, 1, name='qkv_folded')
  with tf.name_scope(layer.name):
    with tf.name_scope(projection.name):
      projection.build([None, None, None, channels])
    projection.set_weights([weights['kernel'].reshape(1, 1, channels, depth),
                            weights['bias']])
    def constant(name):
      value = weights[name]
      if value is None:
        return None
      weight = layer.add_weight(f'folded_{name}', value.shape,
                                trainable=False, initializer='zeros',
                                experimental_autocast=False)  # float32
      weight.assign(value)
      return weight
    layer.folded_content_scale = constant('content_scale')
    layer.folded_output_scale = constant('output_scale')
  layer.folded_projection = projection


def fold_model(model):
  """Folds every `PositionSensitiveAxialAttention` of a built model.

  The model is changed in place and becomes inference-only.

  Args:
    model: a built tf_keras model (or layer) with trained weights.

  Returns:
    The number of attention layers folded (already folded ones are left).
  """
  layers = [m for m in model.submodules
            if isinstance(m, attention.PositionSensitiveAxialAttention)
            and not m.folded]
  for layer in layers:
    fold_attention(layer)
  return len(layers)

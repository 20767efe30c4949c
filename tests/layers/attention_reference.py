"""Independent numpy reference of position-sensitive axial attention.

Written from eq. 4 of the paper with explicit loops over output positions
o and keys p in N(o) = {p : |p - o| <= (m - 1) / 2}:

    y_o = sum_p softmax_p(q_o.k_p + q_o.rq[p-o] + k_p.rk[p-o]) (v_p + rv[p-o])

with the three batch norms of the public implementations (qkv per channel; similarity
per (term, head) over all (sequence, o, p in N(o)); retrieval per (term,
channel)). Training mode uses batch statistics, inference the layer's
moving statistics.
"""

import numpy as np


def _bn(x, gamma, beta, mean, var, eps):
  return (x - mean) / np.sqrt(var + eps) * gamma + beta


def attention_1d_reference(x, weights, axis, num_heads, key_depth,
                           value_depth, span, max_distance, switches,
                           training, eps=1e-3, strides=1):
  """Reference of `PositionSensitiveAxialAttention`.

  Args:
    x: `[batch, height, width, channels]` float64.
    weights: dict with 'qkv_kernel' [C, 2kd+vd], 'qkv_gamma', 'qkv_beta',
      'qkv_mean', 'qkv_var' [2kd+vd]; 'query_rpe', 'key_rpe' [T, kd/N],
      'value_rpe' [T, vd/N] (absent when switched off); 'sim_gamma',
      'sim_beta', 'sim_mean', 'sim_var' [terms, N]; 'out_gamma',
      'out_beta', 'out_mean', 'out_var' [2 or 1, N, vd/N].
    axis: 'height' or 'width'.
    switches: dict use_content/use_query_rpe/use_key_rpe/use_value_rpe.

  Returns:
    `[batch, height', width', value_depth]`.
  """
  if axis == 'height':
    x = np.transpose(x, [0, 2, 1, 3])
  batch, other, length, _ = x.shape
  qkv = np.einsum('bolc,cd->bold', x, weights['qkv_kernel'])
  if training:
    mean, var = qkv.mean((0, 1, 2)), qkv.var((0, 1, 2))
  else:
    mean, var = weights['qkv_mean'], weights['qkv_var']
  qkv = _bn(qkv, weights['qkv_gamma'], weights['qkv_beta'], mean, var, eps)
  n, dk, dv = num_heads, key_depth // num_heads, value_depth // num_heads
  q = qkv[..., :key_depth].reshape(batch, other, length, n, dk)
  k = qkv[..., key_depth:2 * key_depth].reshape(batch, other, length, n, dk)
  v = qkv[..., 2 * key_depth:].reshape(batch, other, length, n, dv)
  half = length if span is None else (span - 1) // 2

  def rel(table, offset):
    return table[np.clip(offset, -max_distance, max_distance) + max_distance]

  term_names = [t for t in ('use_content', 'use_query_rpe', 'use_key_rpe')
                if switches[t]]
  # logits[term][(b, s, o)] = {p: [heads]} over p in N(o).
  neighbours = [[p for p in range(length) if abs(p - o) <= half]
                for o in range(length)]
  raw = np.zeros((len(term_names), batch, other, length, length, n))
  for b in range(batch):
    for s in range(other):
      for o in range(length):
        for p in neighbours[o]:
          for t, name in enumerate(term_names):
            for h in range(n):
              if name == 'use_content':
                val = q[b, s, o, h] @ k[b, s, p, h]
              elif name == 'use_query_rpe':
                val = q[b, s, o, h] @ rel(weights['query_rpe'], p - o)
              else:
                val = k[b, s, p, h] @ rel(weights['key_rpe'], p - o)
              raw[t, b, s, o, p, h] = val
  valid = np.zeros((length, length), bool)
  for o in range(length):
    valid[o, neighbours[o]] = True
  logits = np.zeros((batch, other, length, length, n))
  for t in range(len(term_names)):
    if training:
      vals = raw[t][:, :, valid]  # [b, s, pairs, n]
      mean, var = vals.mean((0, 1, 2)), vals.var((0, 1, 2))
    else:
      mean, var = weights['sim_mean'][t], weights['sim_var'][t]
    logits += _bn(raw[t], weights['sim_gamma'][t], weights['sim_beta'][t],
                  mean, var, eps)
  content = np.zeros((batch, other, length, n, dv))
  positional = np.zeros((batch, other, length, n, dv))
  for b in range(batch):
    for s in range(other):
      for o in range(length):
        ps = neighbours[o]
        for h in range(n):
          z = logits[b, s, o, ps, h]
          a = np.exp(z - z.max())
          a /= a.sum()
          for weight, p in zip(a, ps):
            content[b, s, o, h] += weight * v[b, s, p, h]
            if switches['use_value_rpe']:
              positional[b, s, o, h] += weight * rel(weights['value_rpe'],
                                                     p - o)
  outputs = [content] + ([positional] if switches['use_value_rpe'] else [])
  y = 0
  for t, out in enumerate(outputs):
    if training:
      mean, var = out.mean((0, 1, 2)), out.var((0, 1, 2))
    else:
      mean, var = weights['out_mean'][t], weights['out_var'][t]
    y = y + _bn(out, weights['out_gamma'][t], weights['out_beta'][t], mean,
                var, eps)
  y = y.reshape(batch, other, length, value_depth)[:, :, ::strides]
  if axis == 'height':
    y = np.transpose(y, [0, 2, 1, 3])
  return y


def layer_weights(layer):
  """Reads a built `PositionSensitiveAxialAttention`'s weights as numpy."""
  w = {
      'qkv_kernel': layer.qkv_projection.kernel.numpy()[0, 0],
      'qkv_gamma': layer.qkv_norm.gamma.numpy(),
      'qkv_beta': layer.qkv_norm.beta.numpy(),
      'qkv_mean': layer.qkv_norm.moving_mean.numpy(),
      'qkv_var': layer.qkv_norm.moving_variance.numpy(),
      'sim_gamma': layer.similarity_norm.gamma.numpy(),
      'sim_beta': layer.similarity_norm.beta.numpy(),
      'sim_mean': layer.similarity_norm.moving_mean.numpy(),
      'sim_var': layer.similarity_norm.moving_variance.numpy(),
      'out_gamma': layer.output_norm.gamma.numpy(),
      'out_beta': layer.output_norm.beta.numpy(),
      'out_mean': layer.output_norm.moving_mean.numpy(),
      'out_var': layer.output_norm.moving_variance.numpy(),
  }
  for name in ('query_rpe', 'key_rpe', 'value_rpe'):
    table = getattr(layer, name.split('_')[0] + '_table')
    if table is not None:
      w[name] = table.numpy()
  return {k: v.astype(np.float64) for k, v in w.items()}


def randomize_norms(layer, rng):
  """Gives every batch norm of the layer non-trivial parameters/statistics,
  so that inference-mode tests exercise them."""
  for norm in (layer.qkv_norm, layer.similarity_norm, layer.output_norm):
    for var, low, high in ((norm.gamma, 0.5, 1.5), (norm.beta, -0.5, 0.5),
                           (norm.moving_mean, -0.5, 0.5),
                           (norm.moving_variance, 0.5, 2.0)):
      var.assign(rng.uniform(low, high, var.shape).astype(np.float32))

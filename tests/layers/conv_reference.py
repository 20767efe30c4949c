"""Numpy references of the convolutional pieces of blocks and stems.

Written from the definitions (TF 'same' padding: output size
`ceil(in / stride)`, total padding `max((out - 1) * stride + k - in, 0)`,
the smaller half before; or PyTorch's `padding=p`: p on each side, output
size `floor((in + 2 p - k) / stride) + 1`), with explicit loops over
kernel offsets.
"""

import numpy as np


def _same_padding(size, kernel, stride, padding=None):
  if padding is not None:  # PyTorch's symmetric padding
    return (size + 2 * padding - kernel) // stride + 1, (padding, padding)
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, (total // 2, total - total // 2)


def conv2d(x, kernel, stride=1, padding=None):
  """`x [batch, H, W, C]`, `kernel [k, k, C, O]` -> `[batch, H', W', O]`;
  `padding` None for 'same', else pixels on each side."""
  k = kernel.shape[0]
  out_h, pad_h = _same_padding(x.shape[1], k, stride, padding)
  out_w, pad_w = _same_padding(x.shape[2], k, stride, padding)
  padded = np.pad(x, [(0, 0), pad_h, pad_w, (0, 0)])
  out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[-1]))
  for di in range(k):
    for dj in range(k):
      window = padded[:, di:di + stride * out_h:stride,
                      dj:dj + stride * out_w:stride]
      out += window @ kernel[di, dj]
  return out


def max_pool(x, size, stride, padding=None):
  """Max pool with 'same' padding, or `padding` pixels on each side
  (padding never wins the max)."""
  out_h, pad_h = _same_padding(x.shape[1], size, stride, padding)
  out_w, pad_w = _same_padding(x.shape[2], size, stride, padding)
  padded = np.pad(x, [(0, 0), pad_h, pad_w, (0, 0)],
                  constant_values=-np.inf)
  out = np.full((x.shape[0], out_h, out_w, x.shape[-1]), -np.inf)
  for di in range(size):
    for dj in range(size):
      out = np.maximum(out, padded[:, di:di + stride * out_h:stride,
                                   dj:dj + stride * out_w:stride])
  return out


def batch_norm(x, weights, training, eps=1e-3):
  """Batch norm over all but the last axis; `weights` as from `bn_weights`."""
  if training:
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
  else:
    mean, var = weights['mean'], weights['var']
  return (x - mean) / np.sqrt(var + eps) * weights['gamma'] + weights['beta']


def relu(x):
  return np.maximum(x, 0.0)


def bn_weights(norm):
  """A built `tf_keras.layers.BatchNormalization`'s weights, float64."""
  return {name: getattr(norm, attr).numpy().astype(np.float64)
          for name, attr in (('gamma', 'gamma'), ('beta', 'beta'),
                             ('mean', 'moving_mean'),
                             ('var', 'moving_variance'))}


def randomize_bn(norm, rng):
  """Non-trivial parameters and moving statistics for a built BN."""
  for var, low, high in ((norm.gamma, 0.5, 1.5), (norm.beta, -0.5, 0.5),
                         (norm.moving_mean, -0.5, 0.5),
                         (norm.moving_variance, 0.5, 2.0)):
    var.assign(rng.uniform(low, high, var.shape).astype(np.float32))

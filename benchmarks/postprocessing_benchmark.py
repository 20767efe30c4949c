"""Panoptic post-processing time per image (prints a table, asserts nothing).

Synthetic 19-class inputs (8 thing classes, Cityscapes-like) with a given
number of well-separated centers above threshold; every thing pixel's
offset points near one of them. Times `panoptic_postprocess` as a
tf.function, with and without XLA, after one warm-up call.

  python benchmarks/postprocessing_benchmark.py [--size 640] [--repeats 5]
"""

import argparse
import os
import platform
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from axial_deeplab_tf.data.encoding import PanopticEncoding  # pylint: disable=g-import-not-at-top
from axial_deeplab_tf.ops import panoptic_merge as pm  # pylint: disable=g-import-not-at-top

NUM_CLASSES = 19
THINGS = list(range(11, 19))
ENCODING = PanopticEncoding(NUM_CLASSES, THINGS, label_divisor=1000)


def synthetic_inputs(batch, size, num_centers, seed=0):
  """Logits [B, S, S, 19], heatmap [B, S, S, 1], offsets [B, S, S, 2]."""
  rng = np.random.default_rng(seed)
  side = int(np.ceil(np.sqrt(num_centers)))
  step = size // side
  coords = [(step // 2 + step * (i // side), step // 2 + step * (i % side))
            for i in range(num_centers)]
  heat = np.zeros((batch, size, size, 1), np.float32)
  for j, (y, x) in enumerate(coords):
    heat[:, y, x, 0] = 0.2 + 0.7 * (j + 1) / num_centers
  cy = np.array([c[0] for c in coords], np.float32)
  cx = np.array([c[1] for c in coords], np.float32)
  ys, xs = np.mgrid[:size, :size].astype(np.float32)
  nearest = np.argmin((ys[..., None] // step * step + step // 2 - cy) ** 2 +
                      (xs[..., None] // step * step + step // 2 - cx) ** 2,
                      axis=-1)
  off = np.stack([cy[nearest] - ys, cx[nearest] - xs], -1)
  off = np.broadcast_to(off, (batch, size, size, 2)).astype(np.float32)
  off = off + rng.normal(scale=1.0, size=off.shape).astype(np.float32)
  logits = rng.normal(size=(batch, size, size, NUM_CLASSES)).astype(
      np.float32)
  # Half the image is things (class by center), half stuff.
  thing_class = np.array(THINGS)[nearest % len(THINGS)]
  # Left half: random logits (mostly stuff); right half: the thing class of
  # each pixel's center wins by a margin of 6.
  right = np.zeros((size, size - size // 2, NUM_CLASSES), np.float32)
  np.put_along_axis(right, thing_class[:, size // 2:, None], 6.0, axis=-1)
  logits[:, :, size // 2:] += right
  return tf.constant(logits), tf.constant(heat), tf.constant(off)


def time_call(fn, args, repeats):
  out = fn(*args)  # warm-up (tracing / compilation)
  _ = out['panoptic'].numpy()
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
    _ = out['panoptic'].numpy()
  return (time.perf_counter() - start) / repeats


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--size', type=int, default=640)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--batch', type=int, default=1)
  args = parser.parse_args()
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} logical CPUs visible, '
        f'devices: {[d.device_type for d in tf.config.list_physical_devices()]}')
  print(f'TensorFlow {tf.__version__}; {args.size}x{args.size}, '
        f'batch {args.batch}, {NUM_CLASSES} classes, mean of {args.repeats}')
  print(f"{'centers':>8} {'top_k':>6} {'masks':>6} {'tf.function ms':>15} "
        f"{'XLA ms':>8}  (per image)")
  for num_centers, top_k in ((50, 200), (400, 400)):
    inputs = synthetic_inputs(args.batch, args.size, num_centers)
    for masks in (False, True):
      def run(l, h, o, masks=masks, top_k=top_k):
        return pm.panoptic_postprocess(
            l, h, o, ENCODING, pm.PostProcessingOptions(top_k=top_k),
            output_instance_masks=masks)
      graph = tf.function(run, autograph=False)
      xla = tf.function(run, autograph=False, jit_compile=True)
      t_graph = time_call(graph, inputs, args.repeats) / args.batch
      t_xla = time_call(xla, inputs, args.repeats) / args.batch
      found = int(tf.reduce_sum(tf.cast(
          graph(*inputs)['instance_valid'], tf.int32)).numpy()) // args.batch
      print(f'{num_centers:>8} {top_k:>6} {str(masks):>6} '
            f'{t_graph * 1e3:>15.1f} {t_xla * 1e3:>8.1f}  '
            f'({found} instances found)')


if __name__ == '__main__':
  main()

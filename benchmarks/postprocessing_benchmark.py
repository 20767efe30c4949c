"""Panoptic post-processing time per image (prints a table, asserts nothing).

Synthetic 19-class inputs (8 thing classes, Cityscapes-like) with a given
number of well-separated centers above threshold; every thing pixel's
offset points near one of them. Times, per image, after one warm-up call:

* served: the `PanopticPostProcessor` layer saved in a SavedModel with
  unknown batch, height and width (as the export traces it) and loaded
  back: what the exported model and `predict` run;
* tf.function: `panoptic_postprocess` in a tf.function;
* XLA: the same, compiled (`jit_compile=True`).

`--forward VARIANT` (e.g. axial_deeplab_s) also times that model's
inference forward pass at the same size, batch 1, in the same run (a
child of `memory_benchmark.py`, tf.function, first call then
`--forward-repeats` timed calls), and prints each post-processing time as a
share of it.

  python benchmarks/postprocessing_benchmark.py [--size 640] [--repeats 5]
  python benchmarks/postprocessing_benchmark.py --size 1025x2049 \\
      --forward axial_deeplab_s
"""

import argparse
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from axial_deeplab_tf.data.encoding import PanopticEncoding  # pylint: disable=g-import-not-at-top
from axial_deeplab_tf.modeling import post_processor  # pylint: disable=g-import-not-at-top
from axial_deeplab_tf.ops import panoptic_merge as pm  # pylint: disable=g-import-not-at-top
import memory_benchmark  # pylint: disable=g-import-not-at-top; this folder is sys.path[0]

NUM_CLASSES = 19
THINGS = list(range(11, 19))
ENCODING = PanopticEncoding(NUM_CLASSES, THINGS, label_divisor=1000)


def synthetic_inputs(batch, height, width, num_centers, seed=0):
  """Logits [B, H, W, 19], heatmap [B, H, W, 1], offsets [B, H, W, 2]."""
  rng = np.random.default_rng(seed)
  side = int(np.ceil(np.sqrt(num_centers)))
  step_y, step_x = height // side, width // side
  coords = [(step_y // 2 + step_y * (i // side),
             step_x // 2 + step_x * (i % side)) for i in range(num_centers)]
  heat = np.zeros((batch, height, width, 1), np.float32)
  for j, (y, x) in enumerate(coords):
    heat[:, y, x, 0] = 0.2 + 0.7 * (j + 1) / num_centers
  cy = np.array([c[0] for c in coords], np.float32)
  cx = np.array([c[1] for c in coords], np.float32)
  ys, xs = np.mgrid[:height, :width].astype(np.float32)
  # Each pixel's cell center, then the nearest center to that.
  nearest = np.argmin(
      (ys[..., None] // step_y * step_y + step_y // 2 - cy) ** 2 +
      (xs[..., None] // step_x * step_x + step_x // 2 - cx) ** 2, axis=-1)
  off = np.stack([cy[nearest] - ys, cx[nearest] - xs], -1)
  off = np.broadcast_to(off, (batch, height, width, 2)).astype(np.float32)
  off = off + rng.normal(scale=1.0, size=off.shape).astype(np.float32)
  logits = rng.normal(size=(batch, height, width, NUM_CLASSES)).astype(
      np.float32)
  # Half the image is things (class by center), half stuff.
  thing_class = np.array(THINGS)[nearest % len(THINGS)]
  # Left half: random logits (mostly stuff); right half: the thing class of
  # each pixel's center wins by a margin of 6.
  right = np.zeros((height, width - width // 2, NUM_CLASSES), np.float32)
  np.put_along_axis(right, thing_class[:, width // 2:, None], 6.0, axis=-1)
  logits[:, :, width // 2:] += right
  return tf.constant(logits), tf.constant(heat), tf.constant(off)


def time_call(fn, args, repeats):
  out = fn(*args)  # warm-up (tracing / compilation)
  _ = out['panoptic'].numpy()
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
    _ = out['panoptic'].numpy()
  return (time.perf_counter() - start) / repeats


def served_function(options, masks, folder):
  """The post-processing layer as a loaded SavedModel function (logits,
  heatmap, offsets) -> outputs, saved under `folder`."""
  layer = post_processor.PanopticPostProcessor(ENCODING, options, masks)
  module = tf.Module()
  module.serve = tf.function(
      lambda l, h, o: layer(dict(zip(post_processor.INPUT_KEYS, (l, h, o)))),
      input_signature=[tf.TensorSpec([None, None, None, c], tf.float32)
                       for c in (NUM_CLASSES, 1, 2)])
  path = os.path.join(folder, f'{options.top_k}_{masks}')
  tf.saved_model.save(module, path)
  return tf.saved_model.load(path).serve


def forward_seconds(variant, height, width, repeats):
  """Seconds of one inference forward pass of `variant` (a child of
  memory_benchmark.py, this checkout)."""
  here = os.path.dirname(os.path.abspath(__file__))
  r = memory_benchmark.child_result(
      [sys.executable, os.path.join(here, 'memory_benchmark.py'), '--child',
       f'infer:{variant}:{height}x{width}:1', '--repeats', str(repeats)],
      dict(PYTHONPATH=os.path.dirname(here)))
  if 'error' in r:
    print(f"forward pass failed: {r['error']}")
    return None
  print(f"{variant} forward {height}x{width}: first call "
        f"{r['first_s']:.1f} s, then {r['seconds']:.2f} s, "
        f"peak RSS {r['peak_gb']:.2f} GB", flush=True)
  return r['seconds']


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--size', default='640', help='S or HxW')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--batch', type=int, default=1)
  parser.add_argument('--forward', default=None,
                      help='also time this variant\'s forward pass')
  parser.add_argument('--forward-repeats', type=int, default=1)
  args = parser.parse_args()
  height, width = (int(v) for v in (args.size.split('x') * 2)[:2])
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} logical CPUs visible, load average '
        f'{os.getloadavg()[0]:.1f}, '
        f'devices: {[d.device_type for d in tf.config.list_physical_devices()]}')
  forward = None
  if args.forward:
    forward = forward_seconds(args.forward, height, width,
                              args.forward_repeats)
  print(f'TensorFlow {tf.__version__}; {height}x{width}, '
        f'batch {args.batch}, {NUM_CLASSES} classes, mean of {args.repeats}')
  kinds = ('served', 'tf.function', 'XLA')
  print(f"{'centers':>8} {'top_k':>6} {'masks':>6} "
        + ' '.join(f'{k + " ms":>14}' for k in kinds)
        + '  (per image' + (', then % of the forward)' if forward else ')'))
  with tempfile.TemporaryDirectory(prefix='postprocessing_') as folder:
    for num_centers, top_k in ((50, 200), (400, 400)):
      inputs = synthetic_inputs(args.batch, height, width, num_centers)
      options = pm.PostProcessingOptions(top_k=top_k)
      for masks in (False, True):
        def run(l, h, o, masks=masks, options=options):
          return pm.panoptic_postprocess(l, h, o, ENCODING, options,
                                         output_instance_masks=masks)
        functions = (served_function(options, masks, folder),
                     tf.function(run, autograph=False),
                     tf.function(run, autograph=False, jit_compile=True))
        seconds = [time_call(f, inputs, args.repeats) / args.batch
                   for f in functions]
        found = int(tf.reduce_sum(tf.cast(
            functions[1](*inputs)['instance_valid'], tf.int32)).numpy())
        share = ('  ' + ', '.join(f'{100 * t / forward:.2f}%' for t in seconds)
                 if forward else '')
        print(f'{num_centers:>8} {top_k:>6} {str(masks):>6} '
              + ' '.join(f'{t * 1e3:>14.1f}' for t in seconds)
              + f'  ({found // args.batch} instances found){share}',
              flush=True)
  print(f'load average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

"""Axial-DeepLab forward time and peak memory (prints a table, asserts
nothing).

Each (variant, size, mode) runs in its own subprocess so that its peak
resident memory (ru_maxrss) is its own. Inference mode, batch 1, float32,
after one warm-up call.

  python benchmarks/axial_deeplab_benchmark.py \
      [--variant axial_deeplab_s] [--sizes 513x513,1025x2049] [--repeats 2]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def measure(variant, height, width, mode, repeats):
  """Runs in the child: returns a dict of timings and peak memory."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import factory  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import statistics  # pylint: disable=g-import-not-at-top

  model = factory.build_axial_deeplab(variant, 19,
                                      thing_class_ids=range(11, 19))
  madds = statistics.count_madds(model, height, width)
  forward = tf.function(lambda x: model(x, training=False),
                        jit_compile=(mode == 'xla'))
  images = tf.random.stateless_normal([1, height, width, 3], (0, 0))
  start = time.perf_counter()
  forward(images)['semantic_logits'].numpy()
  first = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(repeats):
    forward(images)['semantic_logits'].numpy()
  seconds = (time.perf_counter() - start) / repeats
  return dict(seconds=seconds, first_call=first, madds=madds,
              peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss /
              1e6)


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--variant', default='axial_deeplab_s')
  parser.add_argument('--sizes', default='513x513,1025x2049')
  parser.add_argument('--modes', default='graph',
                      help='comma list of graph (tf.function) and xla')
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    variant, height, width, mode = args.child.split(':')
    print(json.dumps(measure(variant, int(height), int(width), mode,
                             args.repeats)))
    return
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores, python {platform.python_version()}')
  print('| variant | input | mode | M-Adds | forward s | GFLOP/s | '
        'peak RSS GB |\n|---|---|---|---|---|---|---|')
  for size in args.sizes.split(','):
    height, width = (int(v) for v in size.split('x'))
    for mode in args.modes.split(','):
      child = subprocess.run(
          [sys.executable, __file__, '--repeats', str(args.repeats),
           '--child', f'{args.variant}:{height}:{width}:{mode}'],
          capture_output=True, text=True, check=False)
      if child.returncode:
        print(f'| {args.variant} | {size} | {mode} | failed: '
              f'{child.stderr.strip().splitlines()[-1]} |||')
        continue
      r = json.loads(child.stdout.strip().splitlines()[-1])
      print(f"| {args.variant} | {size} | {mode} | {r['madds'] / 1e9:.1f}B | "
            f"{r['seconds']:.2f} | {2 * r['madds'] / r['seconds'] / 1e9:.1f} "
            f"| {r['peak_gb']:.2f} |", flush=True)


if __name__ == '__main__':
  main()

"""Speed and memory of the axial attention and of Axial-ResNet-S.

Prints tables, asserts nothing. Every configuration runs in its own child
process so that its peak resident memory (`ru_maxrss`) is its own.

(a) One `PositionSensitiveAxialAttention` layer (width axis) at a few
    sizes, global and local span: inference forward time, training-step
    time (forward + backward, tf.function) and peak RSS of the step, for
    ours and for the gather + einsum reference formulation
    (`reference_attention.py`) at the same size.
(b) Conv-stem Axial-ResNet-S classifier at 224x224, batch 8: eager,
    tf.function and XLA (jit_compile), forward (inference) and training
    step (SGD), GFLOP/s counting 2 x M-Adds for the forward and 3x that for
    the step, peak RSS.
(c) Throughput of the primitives that bound the attention on this machine
    (large matmul, attention-shaped batched matmuls, memory passes).

  python benchmarks/attention_benchmark.py [--quick] [--section layer|model]
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf
import tf_keras

from axial_deeplab_tf.layers import attention
from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.modeling import folding
from axial_deeplab_tf.modeling import statistics
import memory_benchmark  # this script's folder is sys.path[0]
import reference_attention
# pylint: enable=g-import-not-at-top,wrong-import-position

LAYER_CASES = [
    # name, [batch, height, width, channels], key_depth, span
    ('56x56 global', [8, 56, 56, 64], 32, None),
    ('28x28 global', [8, 28, 28, 128], 64, None),
    ('56x56 span 15', [8, 56, 56, 64], 32, 15),
    ('129x129 span 65', [2, 129, 129, 64], 32, 65),
]
QUICK_LAYER_CASES = [
    ('28x28 global', [2, 28, 28, 64], 32, None),
    ('33x33 span 9', [2, 33, 33, 64], 32, 9),
]


def _timed(fn, repeats):
  """Best (minimum) seconds of `fn()` over `repeats` calls after one
  warm-up: on a machine shared with other jobs the minimum is the least
  noisy estimate of what the code itself costs."""
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return min(times)


def _peak_rss_gb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _result(fn):
  """Runs `fn` (after a warm-up) and returns the numpy of its output."""
  out = fn()
  for t in tf.nest.flatten(out):
    t.numpy()
  return out


def run_layer(config):
  """Child: one layer configuration. Returns a dict of results."""
  shape, key_depth, span = config['shape'], config['key_depth'], config['span']
  cls = (reference_attention.ReferenceAxialAttention
         if config['impl'] == 'reference'
         else attention.PositionSensitiveAxialAttention)
  layer = cls('width', key_depth, 2 * key_depth, span=span)
  x = tf.random.normal(shape)
  layer(x)
  forward = tf.function(lambda: layer(x, training=False))

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      y = layer(x, training=True)
      loss = tf.reduce_mean(tf.square(y))
    grads = tape.gradient(loss, layer.trainable_variables)
    return [tf.convert_to_tensor(g) for g in grads]

  repeats = config['repeats']
  result = {}
  result['forward_s'] = _timed(lambda: _result(forward), repeats)
  result['forward_rss_gb'] = _peak_rss_gb()
  result['step_s'] = _timed(lambda: _result(step), repeats)
  result['step_rss_gb'] = _peak_rss_gb()
  return result


def run_model(config):
  """Child: one model configuration (mode x forward/step). Mode options
  (`mode+option+...`): bf16 (mixed_bfloat16), recompute (the attention's),
  fold (`modeling.folding.fold_model`, forward only). A variant named
  `axial_deeplab_*` is the Panoptic-DeepLab model (19 classes), forward
  only, without an M-Adds count."""
  size, batch = config['size'], config['batch']
  mode, *options = config['mode'].split('+')
  if 'bf16' in options:  # mixed_bfloat16 (oneDNN uses AMX/AVX512-BF16)
    tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  panoptic = config['variant'].startswith('axial_deeplab')
  if panoptic:
    model = factory.build_axial_deeplab(config['variant'])
    madds = None
  else:
    model = factory.build_classifier(
        config['variant'], recompute_attention='recompute' in options)
    madds = statistics.count_madds(model, size, size) * batch
  if 'fold' in options:
    folding.fold_model(model)
  images = tf.random.normal([batch, size, size, 3])
  labels = tf.random.uniform([batch], 0, 1000, tf.int32)
  optimizer = tf_keras.optimizers.SGD(0.01, momentum=0.9)
  loss_fn = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  rss_before = _peak_rss_gb()

  def forward():
    return model(images, training=False)

  def step():
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, model(images, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  fn = forward if config['what'] == 'forward' else step
  if mode != 'eager':
    fn = tf.function(fn, jit_compile=mode == 'xla')
  seconds = _timed(lambda: _result(fn), config['repeats'])
  flops = 2 * (madds or 0) * (1 if config['what'] == 'forward' else 3)
  return dict(seconds=seconds, gflops=flops / seconds / 1e9,
              rss_gb=_peak_rss_gb(), rss_before_gb=rss_before,
              madds=madds)


def run_ops(config):
  """Child: throughput of the primitive ops that bound the attention."""
  del config
  results = {}
  big = tf.random.normal([2048, 2048])
  f = tf.function(lambda: tf.matmul(big, big))
  results['fp32 matmul 2048^3 (GFLOP/s)'] = 2 * 2048**3 / _timed(
      lambda: f().numpy(), 5) / 1e9
  # Stage-1 attention shapes: 8 images x 56 rows x 8 heads, L = 56.
  rows, length = 8 * 56 * 8, 56
  for depth in (4, 8, 16):
    a = tf.random.normal([rows, length, depth])
    f = tf.function(lambda a=a: tf.matmul(a, a, transpose_b=True))
    results[f'[56x{depth}]x[{depth}x56] batched matmul, 3584 (GFLOP/s)'] = (
        2 * rows * length * length * depth / _timed(lambda: f().numpy(), 5)
        / 1e9)
  logits = tf.random.normal([length, rows, length])
  nbytes = logits.shape.num_elements() * 4
  f = tf.function(lambda: logits * 2.0)
  results['elementwise pass on [56, 3584, 56] (GB/s read+write)'] = (
      2 * nbytes / _timed(lambda: f().numpy(), 5) / 1e9)
  f = tf.function(lambda: tf.transpose(logits, [1, 0, 2]))
  results['row transpose (1,0,2) of it (GB/s)'] = (
      2 * nbytes / _timed(lambda: f().numpy(), 5) / 1e9)
  f = tf.function(lambda: tf.transpose(logits, [1, 2, 0]))
  results['element transpose (1,2,0) of it (GB/s)'] = (
      2 * nbytes / _timed(lambda: f().numpy(), 5) / 1e9)
  f = tf.function(lambda: tf.nn.softmax(logits))
  results['softmax over it (GB/s read+write)'] = (
      2 * nbytes / _timed(lambda: f().numpy(), 5) / 1e9)
  return results


def ops_table(args):
  del args
  print('\n(c) primitive throughput (what bounds the attention)')
  r = _child(dict(kind='ops'))
  for name, value in r.items():
    print(f'| {name:<56} | {_fmt(value, "8.1f"):>8} |')


def _child(config):
  """Runs one configuration in a fresh interpreter, returns its dict."""
  return memory_benchmark.child_result(
      [sys.executable, os.path.abspath(__file__), '--child',
       json.dumps(config)])


def _fmt(value, spec):
  return format(value, spec) if isinstance(value, (int, float)) else '-'


def layer_table(args):
  cases = QUICK_LAYER_CASES if args.quick else LAYER_CASES
  print('\n(a) one width-axis attention layer (value depth = 2 x key depth, '
        '8 heads, 509-row tables), tf.function')
  print(f"| {'case':<16} | {'impl':<9} | {'forward ms':>10} | "
        f"{'train step ms':>13} | {'step peak RSS GB':>16} |")
  print('|' + '|'.join('-' * w for w in (18, 11, 12, 15, 18)) + '|')
  for name, shape, key_depth, span in cases:
    for impl in ('ours', 'reference'):
      r = _child(dict(kind='layer', impl=impl, shape=shape,
                      key_depth=key_depth, span=span, repeats=args.repeats))
      if 'error' in r:
        print(f"| {name:<16} | {impl:<9} | error: {r['error']} |")
        continue
      print(f"| {name:<16} | {impl:<9} | {r['forward_s'] * 1e3:10.1f} | "
            f"{r['step_s'] * 1e3:13.1f} | {r['step_rss_gb']:16.2f} |",
            flush=True)


def model_table(args):
  size, batch = (64, 2) if args.quick else (args.size, args.batch)
  modes = args.modes.split(',')
  print(f'\n(b) {args.variant} classifier, {size}x{size}, batch {batch}, '
        'float32 (GFLOP/s: forward 2 x M-Adds, step 3x that)')
  print(f"| {'mode':<11} | {'pass':<7} | {'seconds':>8} | {'GFLOP/s':>8} | "
        f"{'peak RSS GB':>11} | {'RSS after build GB':>18} |")
  print('|' + '|'.join('-' * w for w in (13, 9, 10, 10, 13, 20)) + '|')
  for what in ('forward', 'step'):
    for mode in modes:
      r = _child(dict(kind='model', variant=args.variant, size=size,
                      batch=batch, mode=mode, what=what,
                      repeats=1 if mode == 'eager' else args.repeats))
      if 'error' in r:
        print(f"| {mode:<11} | {what:<7} | error: {r['error']} |")
        continue
      print(f"| {mode:<11} | {what:<7} | {r['seconds']:8.3f} | "
            f"{r['gflops']:8.1f} | {r['rss_gb']:11.2f} | "
            f"{r['rss_before_gb']:18.2f} |", flush=True)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true',
                      help='small sizes, for a smoke run')
  parser.add_argument('--section', choices=['layer', 'model', 'ops', 'all'],
                      default='all')
  parser.add_argument('--variant', default='axial_resnet_s')
  parser.add_argument('--size', type=int, default=224)
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--modes', default='eager,tf.function,xla',
                      help='comma-separated; append +bf16 to a mode for '
                      'mixed_bfloat16 and/or +recompute for '
                      'recompute_attention, e.g. tf.function+bf16+recompute')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    config = json.loads(args.child)
    run = dict(layer=run_layer, model=run_model, ops=run_ops)[config['kind']]
    memory_benchmark.print_result(run(config))
    return
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} CPUs, TF {tf.__version__}, '
        f'python {platform.python_version()}, load average '
        f'{os.getloadavg()[0]:.1f} (other jobs compete for the cores)')
  if args.section in ('layer', 'all'):
    layer_table(args)
  if args.section in ('model', 'all'):
    model_table(args)
  if args.section in ('ops', 'all'):
    ops_table(args)
  print(f'\nload average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

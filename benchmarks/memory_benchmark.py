"""Axial-DeepLab peak memory (and time) at paper resolution: prints a
table, asserts nothing.

Each case runs in a fresh child interpreter, so its peak resident memory
(ru_maxrss, GB = 10^6 kB) is its own; the peak includes TensorFlow and
the built model.
A case is `mode:variant:HxW:batch`:

* `infer`: the forward pass (`training=False`, tf.function, float32);
* `train`: one SGD step (tf.function; loss: the mean square of every
  output), with `recompute_attention` unless `--no-recompute`.

Seconds are those of the first call (tracing included) and, with
`--repeats N > 0`, the mean of N more calls. With `--checkouts A,B` every
case runs in each checkout (its `PYTHONPATH`), interleaved A, B, A, B, so
that machine noise hits both alike (e.g. A = a `git worktree` of main).

  python benchmarks/memory_benchmark.py                 # the issue's tables
  python benchmarks/memory_benchmark.py --cases infer:axial_deeplab_s:513x513:1 \\
      --checkouts /tmp/main,. --repeats 1
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

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = (
    # Bounded inference memory at paper resolution, and linear in pixels.
    'infer:axial_deeplab_s:513x513:1', 'infer:axial_deeplab_s:1025x2049:1',
    'infer:axial_deeplab_s:2049x4097:1', 'infer:axial_deeplab_l:1025x2049:1',
    # Training at the paper's crop.
    'train:axial_deeplab_s:1025x2049:1', 'train:axial_deeplab_m:1025x2049:1',
    'train:axial_deeplab_l:1025x2049:1', 'train:axial_deeplab_s:1025x2049:2',
    'train:axial_deeplab_s:1025x2049:4')


def _peak_gb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def measure(case, repeats, recompute, budget_mb):
  """Child: builds the model, runs the case; returns a dict."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import factory  # pylint: disable=g-import-not-at-top
  mode, variant, size, batch = case.split(':')
  height, width = (int(v) for v in size.split('x'))
  options = {}
  if mode == 'train' and recompute:
    options['recompute_attention'] = True
  if budget_mb is not None:
    options['attention_memory_budget_mb'] = budget_mb
  model = factory.build_axial_deeplab(variant, 19,
                                      thing_class_ids=range(11, 19),
                                      **options)
  images = tf.random.stateless_normal([int(batch), height, width, 3], (0, 0))
  built_gb = _peak_gb()
  if mode == 'infer':
    call = tf.function(lambda x: model(x, training=False)['semantic_logits'])
  else:
    optimizer = tf_keras.optimizers.SGD(0.01)

    @tf.function
    def call(x):
      with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        loss = tf.add_n([tf.reduce_mean(tf.square(v))
                         for v in outputs.values()])
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, model.trainable_variables))
      return loss
  start = time.perf_counter()
  call(images).numpy()
  first = time.perf_counter() - start
  seconds = None
  if repeats:
    start = time.perf_counter()
    for _ in range(repeats):
      call(images).numpy()
    seconds = (time.perf_counter() - start) / repeats
  return dict(first_s=first, seconds=seconds, built_gb=built_gb,
              peak_gb=_peak_gb())


def run_child(checkout, case, args):
  """One case in a fresh interpreter of `checkout`; its dict or an error."""
  command = [sys.executable, os.path.join(HERE, 'memory_benchmark.py'),
             '--child', case, '--repeats', str(args.repeats)]
  if args.no_recompute:
    command.append('--no-recompute')
  if args.budget_mb is not None:
    command += ['--budget-mb', str(args.budget_mb)]
  env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
  proc = subprocess.run(command, capture_output=True, text=True, env=env,
                        check=False)
  for line in proc.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[len('RESULT '):])
  lines = proc.stderr.strip().splitlines() or [f'exit {proc.returncode}']
  return dict(error=lines[-1][:120])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--cases', default=','.join(DEFAULT_CASES),
                      help='comma list of mode:variant:HxW:batch')
  parser.add_argument('--checkouts', default=os.path.dirname(HERE),
                      help='comma list of checkouts, run interleaved')
  parser.add_argument('--repeats', type=int, default=0,
                      help='timed calls after the first (0: first only)')
  parser.add_argument('--no-recompute', action='store_true',
                      help='train without recompute_attention')
  parser.add_argument('--budget-mb', type=float, default=None,
                      help='attention_memory_budget_mb (default: automatic)')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    result = measure(args.child, args.repeats, not args.no_recompute,
                     args.budget_mb)
    print('RESULT ' + json.dumps(result))
    return
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
  print('| case | checkout | first call s | call s | built GB | '
        'peak RSS GB |\n|---|---|---|---|---|---|')
  for case in args.cases.split(','):
    for checkout in args.checkouts.split(','):
      r = run_child(checkout, case, args)
      if 'error' in r:
        print(f"| {case} | {checkout} | failed: {r['error']} ||||",
              flush=True)
        continue
      seconds = '-' if r['seconds'] is None else f"{r['seconds']:.1f}"
      print(f"| {case} | {checkout} | {r['first_s']:.1f} | {seconds} | "
            f"{r['built_gb']:.2f} | {r['peak_gb']:.2f} |", flush=True)
  print(f'load average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

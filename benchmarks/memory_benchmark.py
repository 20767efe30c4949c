"""Axial-DeepLab peak memory (and time) at paper resolution: prints a
table, asserts nothing.

Each case runs in a fresh child interpreter, so its peak resident memory
(ru_maxrss, GB = 10^6 kB) is its own; the peak includes TensorFlow and
the built model.
A case is `mode:variant:HxW:batch`:

* `infer`: the forward pass (`training=False`, tf.function, float32);
* `train`: one SGD step (tf.function; loss: the mean square of every
  output), with what `--recompute` names (`RECOMPUTE`): `all` (default:
  `recompute_blocks`, `recompute_decoder` and `recompute_attention`),
  `attention` (`recompute_attention` only) or `none`.

Seconds are those of the first call (tracing included) and, with
`--repeats N > 0`, the mean of N more calls; `--xla` compiles the call
with XLA (`jit_compile`), `--madds` adds the model's M-Adds per image
(`modeling.statistics.count_madds`) and GFLOP/s (2 x M-Adds x batch per
call; x3 for a training step). With `--checkouts A,B` every
case runs in each checkout (its `PYTHONPATH`), interleaved A, B, A, B, so
that machine noise hits both alike (e.g. A = a `git worktree` of main).

  python benchmarks/memory_benchmark.py                 # the issue's tables
  python benchmarks/memory_benchmark.py --cases infer:axial_deeplab_s:513x513:1 \\
      --checkouts /tmp/main,. --repeats 1
  python benchmarks/memory_benchmark.py --cases infer:axial_deeplab_s:513x513:1 \\
      --repeats 2 --madds --xla

`child_result` (run a command in a fresh interpreter, read back the dict
it printed with `print_result`) and `peak_gb` are the child-process
machinery of the other benchmarks here too (`peer_benchmark.py`,
`postprocessing_benchmark.py`).
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
# The model options of each `--recompute` choice (training cases only).
RECOMPUTE = {
    'none': {},
    'attention': dict(recompute_attention=True),
    'all': dict(recompute_attention=True, recompute_blocks=True,
                decoder=dict(recompute_decoder=True)),
}
DEFAULT_CASES = (
    # Bounded inference memory at paper resolution, and linear in pixels.
    'infer:axial_deeplab_s:513x513:1', 'infer:axial_deeplab_s:1025x2049:1',
    'infer:axial_deeplab_s:2049x4097:1', 'infer:axial_deeplab_l:1025x2049:1',
    # Training at the paper's crop.
    'train:axial_deeplab_s:1025x2049:1', 'train:axial_deeplab_m:1025x2049:1',
    'train:axial_deeplab_l:1025x2049:1', 'train:axial_deeplab_s:1025x2049:2',
    'train:axial_deeplab_s:1025x2049:4')


def peak_gb():
  """Peak resident memory of this process so far, GB (10^9 bytes)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def print_result(result):
  """Child side: hands `result` (a JSON-able dict) back to the parent."""
  print('RESULT ' + json.dumps(result), flush=True)


def child_result(command, env=None):
  """Runs `command` (a fresh interpreter) to its end; returns the dict it
  printed with `print_result`, or dict(error=its last stderr line)."""
  proc = subprocess.run(command, capture_output=True, text=True,
                        env=dict(os.environ, **(env or {})), check=False)
  for line in proc.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[len('RESULT '):])
  lines = proc.stderr.strip().splitlines() or [f'exit {proc.returncode}']
  return dict(error=lines[-1][:120])


def measure(case, repeats, recompute, budget_mb, xla=False, madds=False):
  """Child: builds the model, runs the case; returns a dict."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import factory  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import statistics  # pylint: disable=g-import-not-at-top
  mode, variant, size, batch = case.split(':')
  height, width = (int(v) for v in size.split('x'))
  options = dict(RECOMPUTE[recompute]) if mode == 'train' else {}
  if budget_mb is not None:
    options['attention_memory_budget_mb'] = budget_mb
  model = factory.build_axial_deeplab(variant, 19,
                                      thing_class_ids=range(11, 19),
                                      **options)
  images = tf.random.stateless_normal([int(batch), height, width, 3], (0, 0))
  built_gb = peak_gb()
  if mode == 'infer':
    call = tf.function(lambda x: model(x, training=False)['semantic_logits'],
                       jit_compile=xla)
  else:
    optimizer = tf_keras.optimizers.SGD(0.01)

    @tf.function(jit_compile=xla)
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
  result = dict(first_s=first, seconds=seconds, built_gb=built_gb,
                peak_gb=peak_gb())
  if madds:  # after the timed calls: its tracing must not add to the peak
    result['madds'] = statistics.count_madds(model, height, width)
    if seconds:
      passes = int(batch) * (1 if mode == 'infer' else 3)
      result['gflops'] = 2 * result['madds'] * passes / seconds / 1e9
  return result


def run_child(checkout, case, args):
  """One case in a fresh interpreter of `checkout`; its dict or an error."""
  command = [sys.executable, os.path.join(HERE, 'memory_benchmark.py'),
             '--child', case, '--repeats', str(args.repeats)]
  for flag in ('xla', 'madds'):
    if getattr(args, flag, False):
      command.append('--' + flag)
  command += ['--recompute', getattr(args, 'recompute', 'all')]
  if getattr(args, 'budget_mb', None) is not None:
    command += ['--budget-mb', str(args.budget_mb)]
  return child_result(command, dict(PYTHONPATH=os.path.abspath(checkout)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--cases', default=','.join(DEFAULT_CASES),
                      help='comma list of mode:variant:HxW:batch')
  parser.add_argument('--checkouts', default=os.path.dirname(HERE),
                      help='comma list of checkouts, run interleaved')
  parser.add_argument('--repeats', type=int, default=0,
                      help='timed calls after the first (0: first only)')
  parser.add_argument('--recompute', choices=sorted(RECOMPUTE),
                      default='all', help='what training recomputes')
  parser.add_argument('--budget-mb', type=float, default=None,
                      help='attention_memory_budget_mb (default: automatic)')
  parser.add_argument('--xla', action='store_true',
                      help='compile each call with XLA (jit_compile)')
  parser.add_argument('--madds', action='store_true',
                      help='add M-Adds per image and GFLOP/s columns')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print_result(measure(args.child, args.repeats, args.recompute,
                         args.budget_mb, args.xla, args.madds))
    return
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
  extra = ' M-Adds | GFLOP/s |' if args.madds else ''
  print(f'| case | checkout | first call s | call s | built GB | '
        f'peak RSS GB |{extra}\n|---|---|---|---|---|---|'
        + '---|---|' * args.madds)
  for case in args.cases.split(','):
    for checkout in args.checkouts.split(','):
      r = run_child(checkout, case, args)
      if 'error' in r:
        print(f"| {case} | {checkout} | failed: {r['error']} ||||",
              flush=True)
        continue
      seconds = '-' if r['seconds'] is None else f"{r['seconds']:.1f}"
      extra = ''
      if args.madds:
        gflops = f"{r['gflops']:.1f}" if 'gflops' in r else '-'
        extra = f" {r['madds'] / 1e9:.1f}B | {gflops} |"
      print(f"| {case} | {checkout} | {r['first_s']:.1f} | {seconds} | "
            f"{r['built_gb']:.2f} | {r['peak_gb']:.2f} |{extra}", flush=True)
  print(f'load average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

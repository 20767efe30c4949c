"""Axial-ResNet-S, 224x224, batch 8: ours against deeplab2 and the PyTorch
reference, in one run (prints a table, asserts nothing).

Rows (each in a fresh child interpreter, `memory_benchmark.child_result`,
so that its peak resident memory is its own), interleaved ours, deeplab2,
ours, deeplab2, PyTorch within each pass and repeated `--rounds` times:

* ours: `factory.build_classifier('axial_resnet_s')`, tf.function and XLA
  (`jit_compile`); the training step also with `recompute_attention`
  (mode `+recompute`) and with `recompute_blocks` too (`+recompute+blocks`);
  the forward pass also with the attention's batch norms folded
  (`modeling.folding.fold_model`, mode `+folded`: what the serving export
  runs).
* deeplab2: `axial_resnet_instances.get_model('axial_resnet_s',
  classification_mode=True, output_stride=32)` plus global average
  pooling and a 1000-way dense layer (12,580,488 weights, 12,491,912
  trainable, as ours; the table's params column checks it), tf.function
  and XLA. Needs a deeplab2 checkout (`--deeplab2`; runs with
  `TF_USE_LEGACY_KERAS=1`).
* PyTorch: `axial50s` of the authors' repository (`--pytorch-repo`,
  `lib/models/axialnet.py`), eager, run by `--torch-python` (an
  interpreter with torch).
* matmul: a float32 `tf.matmul` of two 4096 x 4096 matrices (GFLOP/s),
  first and last, for the machine's rate.

Every framework runs with `--threads` intra-op threads (default: the
machine's CPUs). Forward: inference mode; step: SGD (momentum 0.9) on the
softmax cross-entropy of random labels. Seconds: the best of `--repeats`
calls after a first call (tracing/compilation, shown apart), the best
over rounds. GFLOP/s: 2 x our M-Adds (`modeling.statistics`) x batch per
forward, 3x that per step. "vs deeplab2": deeplab2's best time of that
pass (over its modes) / the row's time (> 1: faster). Bound by: one more
call under `tf.profiler` (PyTorch: `torch.profiler`); the op types with
the largest shares of the summed op time (XLA rows name HLO thunks). A
peer whose location is absent is skipped. `--only` (implementations)
and `--cases` (`pass:mode` rows, e.g. `step:tf.function+recompute+blocks`)
run a part of the table.

  python benchmarks/peer_benchmark.py --deeplab2 /path/to/deeplab2 \\
      --pytorch-repo /path/to/axial-deeplab --torch-python /venv/bin/python
"""

import argparse
import collections
import glob
import json
import os
import platform
import re
import sys
import tempfile
import time

import memory_benchmark  # this script's folder is sys.path[0]

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE, BATCH, CLASSES = 224, 8, 1000
# (impl, pass, mode), one round in this order.
CASES = (
    ('ours', 'forward', 'tf.function'), ('deeplab2', 'forward', 'tf.function'),
    ('ours', 'forward', 'xla'), ('deeplab2', 'forward', 'xla'),
    ('ours', 'forward', 'xla+folded'), ('pytorch', 'forward', 'eager'),
    ('ours', 'step', 'tf.function'), ('deeplab2', 'step', 'tf.function'),
    ('ours', 'step', 'xla'), ('deeplab2', 'step', 'xla'),
    ('ours', 'step', 'tf.function+recompute'),
    ('ours', 'step', 'tf.function+recompute+blocks'),
    ('pytorch', 'step', 'eager'),
)


def op_type(name):
  """The op type of a profiler event: `name:Type` (TF executor) -> Type,
  `aten::bmm` -> bmm, an XLA thunk `fusion.12.clone` -> fusion; None for
  the executor's and thread pool's bookkeeping events (a `ParallelFor` on
  a pool thread is a part of the op that issued it)."""
  if name.startswith(('ThreadpoolListener', 'ExecutorState', 'ParallelFor')):
    return None
  if ':' in name:
    return name.rsplit(':', 1)[1].strip()
  return re.sub(r'(\.\d+|\.clone)+$', '', name)


def self_durations(events):
  """(name, self duration) of the (name, start, duration) events of one
  thread, which nest (a loop or call op spans its body's ops): each
  event's duration less that of the events directly inside it."""
  out, stack = [], []  # stack: [name, end, self duration]
  for name, start, duration in sorted(events, key=lambda e: (e[1], -e[2])):
    while stack and stack[-1][1] <= start:
      out.append(tuple(stack.pop()[::2]))
    if stack:
      stack[-1][2] -= duration
    stack.append([name, start + duration, duration])
  out.extend(tuple(e[::2]) for e in reversed(stack))
  return out


def top_shares(durations, top=3):
  """[(op type, share of the summed time)] of the `top` largest, from
  (event name, self duration) pairs."""
  totals = collections.Counter()
  for name, duration in durations:
    kind = op_type(name)
    if kind is not None:
      totals[kind] += duration
  whole = sum(totals.values()) or 1
  return [(kind, t / whole) for kind, t in totals.most_common(top)]


def _tf_profile(fn, logdir):
  """(event name, duration) of every op event of one call of `fn`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.tsl.profiler.protobuf import xplane_pb2  # pylint: disable=g-import-not-at-top
  tf.profiler.experimental.start(logdir)
  _finish(fn())
  tf.profiler.experimental.stop()
  path = sorted(glob.glob(os.path.join(logdir, '**', '*.xplane.pb'),
                          recursive=True))[-1]
  space = xplane_pb2.XSpace()
  with open(path, 'rb') as f:
    space.ParseFromString(f.read())
  for plane in space.planes:
    if plane.name != '/host:CPU':
      continue
    for line in plane.lines:
      if line.name == 'python':  # the caller's nested spans
        continue
      yield from self_durations(
          (plane.event_metadata[e.metadata_id].name, e.offset_ps,
           e.duration_ps) for e in line.events)


def _finish(out):
  """Waits for a result (TF tensors or a torch tensor)."""
  for t in (out if isinstance(out, (list, tuple)) else [out]):
    t.numpy() if hasattr(t, 'numpy') else float(t)  # pylint: disable=expression-not-assigned


def _timed(fn, repeats):
  """(first call s, best of `repeats` more calls s)."""
  start = time.perf_counter()
  _finish(fn())
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    _finish(fn())
    times.append(time.perf_counter() - start)
  return first, min(times)


def _tf_case(config):
  """Child: ours or deeplab2 under TensorFlow."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(config['threads'])
  mode, *options = config['mode'].split('+')
  if config['impl'] == 'ours':
    import tf_keras  # pylint: disable=g-import-not-at-top
    from axial_deeplab_tf.modeling import factory  # pylint: disable=g-import-not-at-top
    model = factory.build_classifier(
        'axial_resnet_s', recompute_attention='recompute' in options,
        recompute_blocks='blocks' in options)
    keras = tf_keras
    call, variables = model, lambda: model.trainable_variables
  else:  # deeplab2, under TF_USE_LEGACY_KERAS=1 (tf.keras is tf_keras)
    from deeplab2.model.encoder import axial_resnet_instances  # pylint: disable=g-import-not-at-top
    keras = tf.keras
    encoder = axial_resnet_instances.get_model(
        'axial_resnet_s', classification_mode=True, output_stride=32)
    pool = keras.layers.GlobalAveragePooling2D()
    dense = keras.layers.Dense(CLASSES)

    def call(x, training):
      return dense(pool(encoder(x, training=training)['backbone_output']))

    def variables():
      return encoder.trainable_variables + dense.trainable_variables
  images = tf.random.stateless_normal([BATCH, SIZE, SIZE, 3], (0, 0))
  labels = tf.random.stateless_uniform([BATCH], (1, 0), 0, CLASSES, tf.int32)
  call(images[:1], training=False)  # builds the weights
  weights = (model.variables if config['impl'] == 'ours' else
             encoder.variables + dense.variables)
  params = sum(int(tf.size(v)) for v in weights)
  if 'folded' in options:  # ours, forward: the served model's attention
    from axial_deeplab_tf.modeling import folding  # pylint: disable=g-import-not-at-top
    folding.fold_model(model)  # (params: the model's, counted unfolded)
  optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
  loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

  def forward():
    return call(images, training=False)

  def step():
    with tf.GradientTape() as tape:
      loss = loss_fn(labels, call(images, training=True))
    grads = tape.gradient(loss, variables())
    optimizer.apply_gradients(zip(grads, variables()))
    return loss

  built = memory_benchmark.peak_gb()
  fn = tf.function(forward if config['pass'] == 'forward' else step,
                   jit_compile=mode == 'xla')
  first, best = _timed(fn, config['repeats'])
  peak = memory_benchmark.peak_gb()
  with tempfile.TemporaryDirectory() as logdir:
    shares = top_shares(_tf_profile(fn, logdir))
  return dict(first_s=first, seconds=best, peak_gb=peak, built_gb=built,
              params=params, shares=shares)


def _torch_case(config):
  """Child: the PyTorch reference axial50s."""
  import importlib  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  # lib/models as a package of its own: lib/__init__.py imports the data
  # pipeline (torchvision), which the model does not need.
  package = types.ModuleType('axial_models')
  package.__path__ = [os.path.join(config['repo'], 'lib', 'models')]
  sys.modules['axial_models'] = package
  axialnet = importlib.import_module('axial_models.axialnet')
  torch.manual_seed(0)
  torch.set_num_threads(config['threads'])
  model = axialnet.axial50s(num_classes=CLASSES)
  params = sum(p.numel() for p in model.parameters())
  images = torch.randn(BATCH, 3, SIZE, SIZE)
  labels = torch.randint(0, CLASSES, (BATCH,))
  optimizer = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
  loss_fn = torch.nn.CrossEntropyLoss()

  def forward():
    model.eval()
    with torch.no_grad():
      return model(images)

  def step():
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.detach()

  built = memory_benchmark.peak_gb()
  fn = forward if config['pass'] == 'forward' else step
  first, best = _timed(fn, config['repeats'])
  peak = memory_benchmark.peak_gb()
  with torch.profiler.profile(
      activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    fn()
  shares = top_shares((e.key, e.self_cpu_time_total)
                      for e in prof.key_averages())  # self times already
  return dict(first_s=first, seconds=best, peak_gb=peak, built_gb=built,
              params=params, shares=shares,
              threads=torch.get_num_threads())


def _matmul_case(config):
  """Child: float32 matmul rate, and our M-Adds per image."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import factory  # pylint: disable=g-import-not-at-top
  from axial_deeplab_tf.modeling import statistics  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(config['threads'])
  n = 4096
  a = tf.random.stateless_normal([n, n], (0, 0))
  fn = tf.function(lambda: tf.matmul(a, a))
  _, best = _timed(fn, config['repeats'] + 2)
  madds = statistics.count_madds(factory.build_classifier('axial_resnet_s'),
                                 SIZE, SIZE)
  return dict(gflops=2 * n**3 / best / 1e9, madds=madds)


def child_command(config, args):
  """(command, environment) of one case's child, or None to skip it."""
  script = os.path.join(HERE, 'peer_benchmark.py')
  python, env = sys.executable, dict(PYTHONPATH=os.path.abspath(args.ours))
  if config['impl'] == 'deeplab2':
    if not os.path.isdir(os.path.join(args.deeplab2, 'deeplab2')):
      return None
    env = dict(PYTHONPATH=os.path.abspath(args.deeplab2),
               TF_USE_LEGACY_KERAS='1')
  elif config['impl'] == 'pytorch':
    if not (os.path.isfile(os.path.join(args.pytorch_repo, 'lib', 'models',
                                        'axialnet.py'))
            and args.torch_python and os.path.isfile(args.torch_python)):
      return None
    python, config = args.torch_python, dict(
        config, repo=os.path.abspath(args.pytorch_repo))
    env = {}
  return [python, script, '--child', json.dumps(config)], env


def ratio_table(rows, madds, matmul_gflops):
  """Markdown table of the best row per (impl, pass, mode); times against
  deeplab2's best of the same pass."""
  best = {}
  for key, r in rows:  # an error only where every round failed
    old = best.get(key)
    if old is None or 'error' in old or (
        'error' not in r and r['seconds'] < old['seconds']):
      best[key] = r
  lines = ['| model | pass | mode | params | best s | first call s | '
           'vs deeplab2 best | GFLOP/s | % of matmul | peak RSS GB | '
           'built GB | bound by (share of op time) |',
           '|' + '---|' * 12]
  for key, r in best.items():
    impl, what, mode = key
    if 'error' in r:
      lines.append(f'| {impl} | {what} | {mode} | failed: {r["error"]} |')
      continue
    d2 = [v['seconds'] for (i, w, _), v in best.items()
          if i == 'deeplab2' and w == what and 'seconds' in v]
    versus = f'{min(d2) / r["seconds"]:.2f}x' if d2 else '-'
    gflops = (2 * madds * BATCH * (1 if what == 'forward' else 3)
              / r['seconds'] / 1e9) if madds else None
    share = (f'{100 * gflops / matmul_gflops:.0f}%'
             if gflops and matmul_gflops else '-')
    bound = ', '.join(f'{k} {100 * s:.0f}%' for k, s in r['shares'])
    gflops = f'{gflops:.1f}' if gflops else '-'
    lines.append(
        f'| {impl} | {what} | {mode} | {r["params"]:,} | {r["seconds"]:.3f} '
        f'| {r["first_s"]:.1f} | {versus} | {gflops} | {share} | '
        f'{r["peak_gb"]:.2f} | {r["built_gb"]:.2f} | {bound} |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--ours', default=os.path.dirname(HERE),
                      help='checkout of this project (its PYTHONPATH)')
  parser.add_argument('--deeplab2', default='../deeplab2',
                      help='deeplab2 checkout (holds deeplab2/)')
  parser.add_argument('--pytorch-repo', default='../axial-deeplab',
                      help='checkout of csrhddlam/axial-deeplab')
  parser.add_argument('--torch-python', default='',
                      help='python interpreter with torch installed '
                      '(default: none, PyTorch is skipped)')
  parser.add_argument('--threads', type=int, default=os.cpu_count())
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--rounds', type=int, default=1)
  parser.add_argument('--only', default='ours,deeplab2,pytorch',
                      help='comma list of the models to run')
  parser.add_argument('--cases', default='',
                      help='comma list of pass:mode to run (e.g. '
                      'step:tf.function+recompute+blocks); default: all')
  parser.add_argument('--child', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    config = json.loads(args.child)
    run = dict(ours=_tf_case, deeplab2=_tf_case, pytorch=_torch_case,
               matmul=_matmul_case)[config['impl']]
    memory_benchmark.print_result(run(config))
    return
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} CPUs, {args.threads} threads per framework, '
        f'load average {os.getloadavg()[0]:.1f}', flush=True)
  base = dict(threads=args.threads, repeats=args.repeats)
  matmul = [memory_benchmark.child_result(*child_command(
      dict(base, impl='matmul'), args))]
  rows = []
  for _ in range(args.rounds):
    for impl, what, mode in CASES:
      if impl not in args.only.split(',') or (
          args.cases and f'{what}:{mode}' not in args.cases.split(',')):
        continue
      config = dict(base, impl=impl, mode=mode, **{'pass': what})
      command = child_command(config, args)
      if command is None:
        print(f'skipped {impl}: not found', flush=True)
        continue
      r = memory_benchmark.child_result(*command)
      print(f'{impl} {what} {mode}: {json.dumps(r)}', flush=True)
      rows.append(((impl, what, mode), r))
  matmul.append(memory_benchmark.child_result(*child_command(
      dict(base, impl='matmul'), args)))
  rates = [m['gflops'] for m in matmul if 'gflops' in m]
  madds = next((m['madds'] for m in matmul if 'madds' in m), None)
  print(f'float32 matmul 4096^3: {", ".join(f"{g:.0f}" for g in rates)} '
        f'GFLOP/s (first, last); our M-Adds per image: '
        f'{madds / 1e9 if madds else float("nan"):.3f} G')
  print(ratio_table(rows, madds, max(rates) if rates else None))
  print(f'load average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

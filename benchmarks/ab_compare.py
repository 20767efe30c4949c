"""A/B speed and memory of two checkouts of this project, in one run.

Runs the same `attention_benchmark.py --child` configurations (one fresh
interpreter each, so peak RSS is the configuration's own) for checkout A
(`--baseline`, e.g. a `git worktree` of an older commit) and checkout B
(`--candidate`, default: this checkout), interleaved A, B, A, B, ... so
that machine noise hits both sides alike. Prints the best time and peak
RSS of each side and their ratio B / A (a layer case gives two rows: its
forward and its training step). `--match` keeps the cases whose name
contains a string. Asserts nothing.

  git worktree add /tmp/base <commit>
  python benchmarks/ab_compare.py --baseline=/tmp/base --rounds=3

`--cases=model` runs the Axial-ResNet-S forward and training step as
tf.function and under XLA (the modes of the peer comparison,
`peer_benchmark.py`). `--candidate_options=fold` adds `+fold` to B's
model modes (folded inference, `modeling/folding.py`); with
`--cases=fold` and the same checkout as A and B it measures the folding
alone:

  python benchmarks/ab_compare.py --baseline=. --cases=fold \
      --candidate_options=fold
"""

import argparse
import json
import os
import platform
import sys

import memory_benchmark  # this script's folder is sys.path[0]

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    'Axial-ResNet-S forward': dict(kind='model', variant='axial_resnet_s',
                                   size=224, batch=8, mode='tf.function',
                                   what='forward', repeats=3),
    'Axial-ResNet-S train step': dict(kind='model', variant='axial_resnet_s',
                                      size=224, batch=8, mode='tf.function',
                                      what='step', repeats=2),
    'layer 56x56 global': dict(kind='layer', impl='ours',
                               shape=[8, 56, 56, 64], key_depth=32,
                               span=None, repeats=3),
    'layer 129x129 span 65': dict(kind='layer', impl='ours',
                                  shape=[2, 129, 129, 64], key_depth=32,
                                  span=65, repeats=3),
}
# The issue-12 peer comparison's cases (`peer_benchmark.py`): forward and
# training step, tf.function and XLA.
MODEL = {
    'Axial-ResNet-S forward': CASES['Axial-ResNet-S forward'],
    'Axial-ResNet-S forward XLA': dict(CASES['Axial-ResNet-S forward'],
                                       mode='xla'),
    'Axial-ResNet-S train step': CASES['Axial-ResNet-S train step'],
    'Axial-ResNet-S train step XLA': dict(
        CASES['Axial-ResNet-S train step'], mode='xla'),
}
FOLD = {
    'Axial-ResNet-S forward': CASES['Axial-ResNet-S forward'],
    'Axial-DeepLab-S 513 forward': dict(kind='model',
                                        variant='axial_deeplab_s', size=513,
                                        batch=1, mode='tf.function',
                                        what='forward', repeats=2),
}
QUICK = {
    'Axial-ResNet-S forward (64 px)': dict(kind='model',
                                           variant='axial_resnet_s', size=64,
                                           batch=2, mode='tf.function',
                                           what='forward', repeats=2),
}


def run_child(checkout, config):
  """One configuration in a fresh interpreter of `checkout`; its dict."""
  script = os.path.join(checkout, 'benchmarks', 'attention_benchmark.py')
  result = memory_benchmark.child_result(
      [sys.executable, script, '--child', json.dumps(config)],
      dict(PYTHONPATH=checkout, TF_CPP_MIN_LOG_LEVEL='2'))
  if 'error' in result:
    raise RuntimeError(f"{checkout}: {config}: {result['error']}")
  return result


def seconds_and_rss(result):
  """{row suffix: (seconds, peak RSS GB)} of a model child result (one
  row) or a layer child result (its forward and its training step)."""
  if 'seconds' in result:
    return {'': (result['seconds'], result['rss_gb'])}
  return {' forward': (result['forward_s'], result['forward_rss_gb']),
          ' step': (result['step_s'], result['step_rss_gb'])}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--baseline', required=True,
                      help='checkout A (the reference)')
  parser.add_argument('--candidate', default=os.path.dirname(HERE),
                      help='checkout B (default: this one)')
  parser.add_argument('--rounds', type=int, default=2,
                      help='interleaved A/B runs per case; best kept')
  parser.add_argument('--quick', action='store_true',
                      help='one small case, for a smoke run')
  parser.add_argument('--cases', choices=['default', 'model', 'fold'],
                      default='default',
                      help='the case set (model: Axial-ResNet-S forward and '
                      'step, tf.function and XLA; fold: forward passes '
                      'only)')
  parser.add_argument('--match', default='',
                      help='run only the cases whose name contains this')
  parser.add_argument('--candidate_options', default='',
                      help="'+'-separated mode options added to B's model "
                      "cases, e.g. 'fold'")
  args = parser.parse_args()
  print(f'machine: {platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
  print(f'A = {args.baseline}\nB = {args.candidate}')
  print(f"| {'case':<28} | {'A s':>7} | {'B s':>7} | {'B/A time':>8} | "
        f"{'A GB':>5} | {'B GB':>5} | {'B/A mem':>7} |")
  print('|' + '|'.join('-' * w for w in (30, 9, 9, 10, 7, 7, 9)) + '|')
  cases = QUICK if args.quick else dict(default=CASES, model=MODEL,
                                        fold=FOLD)[args.cases]
  for name, config in cases.items():
    if args.match not in name:
      continue
    best = {}  # (row, side) -> (best s, best GB)
    for _ in range(args.rounds):
      for side, checkout in (('A', args.baseline), ('B', args.candidate)):
        side_config = config
        if side == 'B' and args.candidate_options and 'mode' in config:
          side_config = dict(config, mode=(f"{config['mode']}+"
                                           f'{args.candidate_options}'))
        rows = seconds_and_rss(run_child(checkout, side_config))
        for suffix, (s, gb) in rows.items():
          old = best.get((name + suffix, side), (float('inf'),) * 2)
          best[name + suffix, side] = (min(old[0], s), min(old[1], gb))
    for row in dict.fromkeys(r for r, _ in best):
      (sa, ga), (sb, gb) = best[row, 'A'], best[row, 'B']
      print(f'| {row:<28} | {sa:7.3f} | {sb:7.3f} | {sb / sa:8.3f} | '
            f'{ga:5.2f} | {gb:5.2f} | {gb / ga:7.3f} |', flush=True)
  print(f'load average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

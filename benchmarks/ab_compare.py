"""A/B speed and memory of two checkouts of this project, in one run.

Runs the same `attention_benchmark.py --child` configurations (one fresh
interpreter each, so peak RSS is the configuration's own) for checkout A
(`--baseline`, e.g. a `git worktree` of an older commit) and checkout B
(`--candidate`, default: this checkout), interleaved A, B, A, B, ... so
that machine noise hits both sides alike. Prints the best time and peak
RSS of each side and their ratio B / A. Asserts nothing.

  git worktree add /tmp/base <commit>
  python benchmarks/ab_compare.py --baseline=/tmp/base --rounds=3

`--candidate_options=fold` adds `+fold` to B's model modes (folded
inference, `modeling/folding.py`); with `--cases=fold` and the same
checkout as A and B it measures the folding alone:

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
    'layer 129x129 span 65': dict(kind='layer', impl='ours',
                                  shape=[2, 129, 129, 64], key_depth=32,
                                  span=65, repeats=3),
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
  """(seconds, peak RSS GB) of a model or layer child result."""
  if 'seconds' in result:
    return result['seconds'], result['rss_gb']
  return result['step_s'], result['step_rss_gb']


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
  parser.add_argument('--cases', choices=['default', 'fold'],
                      default='default',
                      help='the case set (fold: forward passes only)')
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
  cases = QUICK if args.quick else dict(default=CASES,
                                        fold=FOLD)[args.cases]
  for name, config in cases.items():
    best = {'A': (float('inf'), float('inf')), 'B': (float('inf'),
                                                     float('inf'))}
    for _ in range(args.rounds):
      for side, checkout in (('A', args.baseline), ('B', args.candidate)):
        side_config = config
        if side == 'B' and args.candidate_options and 'mode' in config:
          side_config = dict(config, mode=(f"{config['mode']}+"
                                           f'{args.candidate_options}'))
        s, gb = seconds_and_rss(run_child(checkout, side_config))
        best[side] = (min(best[side][0], s), min(best[side][1], gb))
    (sa, ga), (sb, gb) = best['A'], best['B']
    print(f'| {name:<28} | {sa:7.3f} | {sb:7.3f} | {sb / sa:8.3f} | '
          f'{ga:5.2f} | {gb:5.2f} | {gb / ga:7.3f} |', flush=True)
  print(f'load average at the end: {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
  main()

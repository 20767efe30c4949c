r"""Prints parameters and M-Adds of model variants beside the paper's.

M-Adds are counted as the paper counts them (see
`axial_deeplab_tf.modeling.statistics`).

Examples:
  python -m axial_deeplab_tf.tools.model_stats --variant axial_resnet_s \
      --input_size 224
  python -m axial_deeplab_tf.tools.model_stats --variant axial_deeplab_l \
      --input_size 1025x2049 --num_classes 19
  python -m axial_deeplab_tf.tools.model_stats --all
"""

import time

from absl import app
from absl import flags

from axial_deeplab_tf.modeling import factory
from axial_deeplab_tf.modeling import statistics
from axial_deeplab_tf.modeling.backbones import variants

FLAGS = flags.FLAGS
flags.DEFINE_string('variant', None, 'Variant name; see --list.')
flags.DEFINE_string('input_size', None,
                    'Input size, N or HxW. Default: 224 for ImageNet '
                    'variants, 1025x2049 for axial_deeplab_*.')
flags.DEFINE_integer('num_classes', None,
                     'Classes of the head. Default: 1000 for ImageNet '
                     'variants (a classifier), 19 for axial_deeplab_* (the '
                     'panoptic model).')
flags.DEFINE_bool('all', False, 'Every variant at its reference setting.')
flags.DEFINE_bool('list', False, 'List the variant names and exit.')

# The paper's numbers (Tables 1, 6, 7; PyTorch reference for 26-S):
# (parameters in millions, M-Adds in billions or None).
PAPER = {
    'resnet50': (25.6, 4.1),
    'axial_resnet_s': (12.4, 2.8),
    'full_axial_resnet_s': (12.5, 3.3),
    'axial_resnet_26s': (5.9, None),
    'axial_deeplab_s': (12.1, 220.8),
    'axial_deeplab_m': (25.9, 419.6),
    'axial_deeplab_l': (44.9, 687.4),
    'axial_deeplab_xl': (173.0, 2446.8),
}


def is_panoptic(variant):
  return variant.startswith('axial_deeplab')


def parse_size(text, variant):
  """'N' or 'HxW' (None: the variant's reference size) -> (h, w)."""
  if text is None:
    return (1025, 2049) if is_panoptic(variant) else (224, 224)
  parts = text.lower().split('x')
  try:
    sizes = [int(p) for p in parts]
  except ValueError:
    sizes = []
  if len(sizes) not in (1, 2) or min(sizes) < 1:
    raise ValueError(f'--input_size: expected N or HxW with positive ints, '
                     f'got {text!r}.')
  return (sizes[0], sizes[-1])


def model_statistics(variant, height, width, num_classes=None):
  """Builds the variant's model; returns (params, madds, seconds).

  ImageNet variants are counted as classifiers (default 1000 classes),
  `axial_deeplab_*` as the panoptic model (default 19 classes).
  """
  start = time.time()
  if is_panoptic(variant):
    model = factory.build_axial_deeplab(variant, num_classes or 19)
  else:
    model = factory.build_classifier(variant, num_classes or 1000)
  madds = statistics.count_madds(model, height, width)
  return statistics.count_params(model), madds, time.time() - start


def _percent(ours, paper):
  return '-' if paper is None else f'{100 * (ours / paper - 1):+.1f}%'


def format_row(variant, height, width, params, madds):
  paper_params, paper_madds = PAPER.get(variant, (None, None))
  return (f'| {variant} | {height}x{width} | {params / 1e6:.2f}M | '
          f'{paper_params or "-"}{"M" if paper_params else ""} | '
          f'{_percent(params / 1e6, paper_params)} | {madds / 1e9:.1f}B | '
          f'{paper_madds or "-"}{"B" if paper_madds else ""} | '
          f'{_percent(madds / 1e9, paper_madds)} |')


HEADER = ('| variant | input | params | paper | diff | M-Adds | paper | diff |'
          '\n|---|---|---|---|---|---|---|---|')


def main(argv):
  del argv
  if FLAGS.list:
    print('\n'.join(sorted(variants.VARIANTS)))
    return
  if FLAGS.all:
    names = list(variants.VARIANTS)
  elif FLAGS.variant:
    variants.get_variant(FLAGS.variant)
    names = [FLAGS.variant]
  else:
    raise app.UsageError('Give --variant NAME (see --list) or --all.')
  print(HEADER, flush=True)
  for name in names:
    height, width = parse_size(None if FLAGS.all else FLAGS.input_size, name)
    params, madds, _ = model_statistics(name, height, width,
                                        FLAGS.num_classes)
    print(format_row(name, height, width, params, madds), flush=True)


if __name__ == '__main__':
  app.run(main)

r"""Prints training examples/second of the panoptic input pipeline.

Writes a synthetic dataset of large JPEG images (default 640x640, up to 12
shapes each) to a temporary folder, then times `build_panoptic_dataset`
with 512x512 crops (random scale 0.5-2.0, crop, flip, all targets). Asserts
nothing; the numbers depend on the machine (report its CPU count).

  python benchmarks/input_pipeline_benchmark.py --batch_size=8
"""

import os
import tempfile
import time

from absl import app
from absl import flags

from axial_deeplab_tf import dataloaders
from axial_deeplab_tf.configs import panoptic as panoptic_config
from axial_deeplab_tf.dataloaders import synthetic

flags.DEFINE_integer('num_images', 64, 'Synthetic images to write.')
flags.DEFINE_integer('image_size', 640, 'Side of the synthetic images.')
flags.DEFINE_integer('max_things', 12, 'Shapes attempted per image.')
flags.DEFINE_integer('crop', 512, 'Training crop side.')
flags.DEFINE_integer('batch_size', 8, 'Batch size.')
flags.DEFINE_integer('warmup_batches', 3, 'Batches not timed.')
flags.DEFINE_integer('batches', 20, 'Timed batches.')
flags.DEFINE_string('data_dir', None,
                    'Existing TFRecord dir (train-*); default: synthetic.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  data_dir = FLAGS.data_dir
  if data_dir is None:
    data_dir = tempfile.mkdtemp(prefix='axial_bench_')
    start = time.time()
    synthetic.write_synthetic_dataset(
        data_dir, num_train=FLAGS.num_images, num_val=0, seed=0,
        num_shards=8, config=synthetic.SyntheticConfig(
            image_size=FLAGS.image_size, max_things=FLAGS.max_things,
            image_format='jpeg'))
    print(f'wrote {FLAGS.num_images} synthetic {FLAGS.image_size}px JPEG '
          f'images in {time.time() - start:.1f}s')
  config = panoptic_config.PanopticDataConfig(
      input_path=os.path.join(data_dir, 'train-*'),
      crop_size=[FLAGS.crop, FLAGS.crop], global_batch_size=FLAGS.batch_size,
      seed=0)
  iterator = iter(dataloaders.build_panoptic_dataset(config,
                                                 synthetic.ENCODING))
  for _ in range(FLAGS.warmup_batches):
    next(iterator)
  start = time.time()
  for _ in range(FLAGS.batches):
    batch = next(iterator)
  batch['image'].numpy()
  elapsed = time.time() - start
  examples = FLAGS.batches * FLAGS.batch_size
  print(f'cpus: {os.cpu_count()}; crop {FLAGS.crop}x{FLAGS.crop}, batch '
        f'{FLAGS.batch_size}: {examples / elapsed:.1f} training examples/s '
        f'({elapsed / FLAGS.batches * 1000:.0f} ms per batch)')


if __name__ == '__main__':
  app.run(main)

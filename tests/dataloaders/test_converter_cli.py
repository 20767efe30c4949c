"""The trainer/convert_*.py mains: --help lists every flag a main reads,
--num_shards is checked and its cap reported, and a dataset problem reaches
the user as one `ERROR:` line with exit status 1 and no traceback.

The mains run in this process (`run_main`: the script file as `__main__`,
through absl's app.run and its sys.exit, as `python trainer/<script>`
runs it), which saves a TensorFlow start per run."""

import glob
import os
import re
import runpy
import sys

from absl import app
from absl import flags
import pytest

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data.converters import flags_common
from axial_deeplab_tf.data.converters import shard_writer
import dl_folders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FLAGS = flags.FLAGS


def run_main(script, args):
  """Runs trainer/<script> with args here, as `python <script> <args>`.

  Returns:
    (exit status, names of the flags the script defined (its own and the
    shared ones of `flags_common`), names of those it read while running).
    These flags are deleted afterwards, so that the next main can define
    them again.
  """
  path = os.path.join(REPO, 'trainer', script)
  app.define_help_flags()  # once per process; not the script's
  was_parsed = FLAGS.is_parsed()
  read = set()
  original = flags.FlagValues.__getattr__

  def spy(self, name):
    read.add(name)
    return original(self, name)

  argv = sys.argv
  sys.argv = [path, *args]
  flags.FlagValues.__getattr__ = spy
  try:
    runpy.run_path(path, run_name='__main__')
    raise AssertionError(f'{script} returned without exiting')
  except SystemExit as e:
    status = e.code
  finally:
    flags.FlagValues.__getattr__ = original
    sys.argv = argv
    by_module = FLAGS.flags_by_module_dict()
    defined = {f.name for module in (path, flags_common.__name__)
               for f in by_module.get(module, [])}
    for name in defined:
      delattr(FLAGS, name)
    if not was_parsed:
      FLAGS.unparse_flags()
  return status, defined, read & defined


def _coco_args(root, out, *extra):
  return [f'--image_dir={root}/val2017',
          f'--panoptic_dir={root}/panoptic_val2017',
          f'--json_path={root}/panoptic_val2017.json',
          f'--output_dir={out}', '--split=val', '--noprogress',
          '--num_workers=2', *extra]


def _dataset_args(script, tmp_path, rng):
  """Arguments of a real conversion of a tiny dataset by `script`."""
  root, out = str(tmp_path / 'src'), str(tmp_path / 'out')
  if script == 'convert_coco_panoptic.py':
    dl_folders.write_coco(root, rng)
    return _coco_args(root, out)
  if script == 'convert_cityscapes_panoptic.py':
    dl_folders.write_cityscapes(root, rng)
    return [f'--image_dir={root}/leftImg8bit/val',
            f'--panoptic_dir={root}/gtFine/cityscapes_panoptic_val',
            f'--json_path={root}/gtFine/cityscapes_panoptic_val.json',
            f'--output_dir={out}', '--noprogress']
  if script == 'convert_folder.py':
    dl_folders.write_generic(root, rng)
  else:
    dl_folders.write_classification(root, rng)
  return [f'--root={root}', f'--output_dir={out}', '--noprogress']


@pytest.mark.parametrize('script', [
    'convert_coco_panoptic.py', 'convert_cityscapes_panoptic.py',
    'convert_folder.py', 'convert_classification_folder.py'])
def test_help_lists_every_flag_the_main_reads(tmp_path, rng, capsys, script):
  status, defined, read = run_main(script,
                                   _dataset_args(script, tmp_path, rng))
  assert status == 0, capsys.readouterr()
  capsys.readouterr()
  help_status, _, _ = run_main(script, ['--help'])
  listed = set(re.findall(r'^\s+--(?:\[no\])?(\w+):',
                          capsys.readouterr().out, re.M))
  assert help_status == 1  # absl's --help exit status
  # Every flag the main defines is read by the conversion, and listed.
  assert read == defined, sorted(defined - read)
  assert listed == defined, (sorted(defined - listed),
                             sorted(listed - defined))
  assert {'output_dir', 'num_shards', 'skip_invalid'} <= listed


def test_num_shards_capped_with_a_message_or_refused(tmp_path, rng, capsys):
  root, out = str(tmp_path / 'src'), str(tmp_path / 'out')
  dl_folders.write_coco(root, rng)  # 3 examples
  for bad in ('0', '-2'):
    status, _, _ = run_main('convert_coco_panoptic.py',
                            _coco_args(root, out, f'--num_shards={bad}'))
    err = capsys.readouterr().err
    assert status == 1
    assert f'ERROR: num_shards={bad}: expected a positive number of shards' \
        in err and 'Traceback' not in err
    assert not os.path.exists(out)
  status, _, _ = run_main('convert_coco_panoptic.py',
                          _coco_args(root, out, '--num_shards=8'))
  stdout = capsys.readouterr().out
  assert status == 0
  assert ('num_shards=8 capped to 3: a shard holds at least one example and '
          'there are 3.') in stdout
  assert sorted(os.listdir(out)) == ['classes.json'] + [
      f'val-0000{i}-of-00003.tfrecord' for i in range(3)]
  status, _, _ = run_main('make_synthetic_dataset.py',
                          [f'--output_dir={tmp_path}/syn', '--num_shards=0'])
  assert status == 1
  assert 'ERROR: num_shards=0' in capsys.readouterr().err
  # The library refuses the same way, before writing anything.
  with pytest.raises(encoding_lib.DatasetError, match='num_shards=0'):
    shard_writer.write_shards([1], lambda i: b'x', str(tmp_path / 'w'),
                              'train', 0, show_progress=False)
  assert not os.path.exists(tmp_path / 'w')


def test_cli_stops_with_one_error_line_then_skips(tmp_path, rng, capsys):
  root, out = str(tmp_path / 'src'), str(tmp_path / 'out')
  dl_folders.write_coco(root, rng)
  os.remove(os.path.join(root, 'panoptic_val2017', '000000000002.png'))
  # An exception other than SystemExit (a traceback) would fail run_main.
  status, _, _ = run_main('convert_coco_panoptic.py', _coco_args(root, out))
  err = capsys.readouterr().err
  assert status == 1
  error_lines = [l for l in err.splitlines() if 'ERROR' in l]
  assert error_lines == ['ERROR: 1 problem(s) found, nothing was written '
                         '(use --skip_invalid to skip the invalid examples):']
  assert '000000000002.png: file is missing' in err
  assert not glob.glob(f'{out}/*.tfrecord')
  status, _, _ = run_main('convert_coco_panoptic.py',
                          _coco_args(root, out, '--skip_invalid'))
  stdout = capsys.readouterr().out
  assert status == 0
  assert 'wrote 2 examples' in stdout and 'skipped 1 invalid' in stdout
  assert 'task.model.num_classes=4' in stdout

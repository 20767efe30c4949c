"""Validate-then-write driver shared by every converter.

A converter lists its items (one per output example), gives a `validate`
function returning the problems of one item (empty when it is fine) and a
`serialize` function returning its tf.Example bytes. `convert`:

0. checks num_shards, and that a classes.json already in output_dir (an
   earlier run, e.g. of another split) has the same classes;
1. validates every item in parallel threads (progress bar), before anything
   is written;
2. stops with `InvalidDatasetError` listing every problem ("<file>:
   <problem>"), or with skip_invalid drops the invalid items and lists them
   in the report;
3. writes the valid items into atomic shards (num_shards, capped to the
   number of examples, which the report says) and classes.json, and
   measures the converted size against the source files' size.

Every error a user can fix (a bad dataset, a bad argument) is an
`encoding_lib.DatasetError`; the trainer/convert_*.py mains print it as one
`ERROR:` message with exit status 1.
"""

import dataclasses
import os
from concurrent import futures
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import tqdm

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data.converters import shard_writer

Problem = Tuple[str, str]  # (file, what is wrong)


class InvalidDatasetError(encoding_lib.DatasetError):
  """Raised when validation finds problems and skip_invalid is off."""

  def __init__(self, problems: Sequence[Problem]):
    self.problems = list(problems)
    lines = [f'  {path}: {problem}' for path, problem in self.problems]
    super().__init__(
        f'{len(self.problems)} problem(s) found, nothing was written '
        '(use --skip_invalid to skip the invalid examples):\n'
        + '\n'.join(lines))


@dataclasses.dataclass
class ConversionReport:
  """What a conversion did.

  Attributes:
    num_written: examples written.
    num_skipped: invalid examples skipped (skip_invalid only).
    problems: every (file, problem) found.
    shards: final shard paths.
    source_bytes: bytes of the source files of the written examples.
    output_bytes: bytes of the written shards.
    config_values: the experiment overrides the dataset needs, as printed
      (`encoding_lib.overrides_text`).
    requested_shards: num_shards as asked (more than `shards` when there
      were fewer examples).
  """
  num_written: int = 0
  num_skipped: int = 0
  problems: List[Problem] = dataclasses.field(default_factory=list)
  shards: List[str] = dataclasses.field(default_factory=list)
  source_bytes: int = 0
  output_bytes: int = 0
  requested_shards: int = 0
  config_values: str = ''

  @property
  def size_ratio(self) -> float:
    return self.output_bytes / max(self.source_bytes, 1)

  def summary(self) -> str:
    lines = [f'wrote {self.num_written} examples in {len(self.shards)} '
             f'shard(s); skipped {self.num_skipped} invalid.',
             f'size: {self.output_bytes} bytes converted / '
             f'{self.source_bytes} bytes of source files = '
             f'{self.size_ratio:.3f}x']
    if self.requested_shards > len(self.shards):
      lines.append(f'num_shards={self.requested_shards} capped to '
                   f'{len(self.shards)}: a shard holds at least one example '
                   f'and there are {self.num_written}.')
    if self.problems:
      lines.append(f'{len(self.problems)} problem(s):')
      lines += [f'  {path}: {problem}' for path, problem in self.problems]
    if self.config_values:
      lines.append(self.config_values)
    return '\n'.join(lines)


def instance_count_problems(path: str, num_instances: int,
                            label_divisor: int) -> List[Problem]:
  """A problem when an image has too many instances for label_divisor:
  panoptic ids are class * label_divisor + instance number (1, 2, ... per
  image), so an image holds at most label_divisor - 1 instances."""
  if num_instances < label_divisor:
    return []
  return [(path, f'{num_instances} instances in one image; the label divisor '
           f'{label_divisor} allows at most {label_divisor - 1}')]


def file_size(path: str) -> int:
  try:
    return os.path.getsize(path)
  except OSError:
    return 0


def config_values(classes: Sequence[dict],
                  encoding: Optional[encoding_lib.PanopticEncoding]) -> str:
  """The overrides a dataset needs: its panoptic encoding's, or the class
  count of a classification dataset."""
  if encoding is not None:
    return encoding.config_overrides()
  return encoding_lib.overrides_text(
      {encoding_lib.CONFIG_KEYS['num_classes']: len(classes)})


def convert(items: Sequence,
            validate: Callable[[object], List[Problem]],
            serialize: Callable[[object], bytes],
            source_files: Callable[[object], Sequence[str]],
            output_dir: str,
            split: str,
            classes: Sequence[dict],
            num_shards: int = 8,
            num_workers: int = 4,
            skip_invalid: bool = False,
            early_problems: Sequence[Problem] = (),
            show_progress: bool = True,
            classes_extra: Optional[Dict] = None,
            encoding: Optional[encoding_lib.PanopticEncoding] = None
            ) -> ConversionReport:
  """Validates all items, then writes the valid ones (module docstring).

  Args:
    items: one per example.
    validate: item -> list of (file, problem); empty when valid.
    serialize: item -> serialized tf.Example.
    source_files: item -> its source file paths (for the size ratio).
    output_dir: where shards and classes.json go.
    split: shard name prefix, e.g. 'train'.
    classes: the class list for classes.json.
    num_shards: number of output shards (positive; capped to the number of
      valid items).
    num_workers: validation and writing threads.
    skip_invalid: skip invalid items instead of raising.
    early_problems: problems the converter found while listing items (e.g.
      an annotation whose image is not listed); they count like the others.
    show_progress: tqdm progress bars.
    classes_extra: extra top-level keys for classes.json.
    encoding: the panoptic encoding of the labels, recorded in classes.json
      and printed by the report's summary (panoptic datasets; without it
      the summary prints the number of classes).

  Returns:
    ConversionReport.

  Raises:
    InvalidDatasetError: problems found and skip_invalid is False.
    encoding_lib.DatasetError: num_shards is not positive, or output_dir
      holds a classes.json with other classes.
  """
  shard_writer.check_num_shards(num_shards)
  shard_writer.check_same_classes(output_dir, classes, encoding)
  with futures.ThreadPoolExecutor(max(1, num_workers)) as pool:
    results = list(tqdm.tqdm(pool.map(validate, items), total=len(items),
                             desc=f'validating {split}', unit='ex',
                             disable=not show_progress))
  problems = list(early_problems)
  valid = []
  for item, item_problems in zip(items, results):
    problems.extend(item_problems)
    if not item_problems:
      valid.append(item)
  if problems and not skip_invalid:
    raise InvalidDatasetError(problems)
  report = ConversionReport(problems=problems,
                            num_skipped=len(items) - len(valid),
                            requested_shards=num_shards,
                            config_values=config_values(classes, encoding))
  report.shards = shard_writer.write_shards(
      valid, serialize, output_dir, split, num_shards,
      num_workers=num_workers, show_progress=show_progress)
  shard_writer.write_classes(output_dir, classes, encoding,
                             extra=classes_extra)
  report.num_written = len(valid)
  report.source_bytes = sum(file_size(p) for item in valid
                            for p in source_files(item))
  report.output_bytes = sum(file_size(p) for p in report.shards)
  return report

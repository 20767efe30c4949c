"""The panoptic label encoding: one definition for every stage.

A panoptic id is `class_id * label_divisor + instance_id`. Pixels whose
class is `void_label` (or whose value is negative) are void. A pixel of a
thing class whose instance id is 0 is crowd. `PanopticEncoding` carries
these values from a dataset's metadata (`classes.json`, see
`to_metadata`) to the targets, the post-processor, the evaluators and the
export modules; nothing downstream has defaults of its own for them.

`split_panoptic` reads panoptic maps by these rules (the host-side
metrics' one parser of ground truth and predictions); `check_matches`
compares a dataset's encoding with a config's.
"""

import dataclasses
from typing import Any, Dict, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np

VOID_LABEL = 255
ENCODING_KEY = 'encoding'  # the top-level key of the metadata file
# PanopticEncoding field -> the experiment config key that sets it (quoted
# by converters and by `check_matches`).
CONFIG_KEYS = {
    'num_classes': 'task.model.num_classes',
    'thing_class_ids': 'task.model.thing_class_ids',
    'label_divisor': 'task.model.post_processing.label_divisor',
    'void_label': 'task.model.post_processing.void_label',
}


class DatasetError(ValueError):
  """A dataset's metadata is unreadable or disagrees with the config, or a
  converter's input is invalid: a user error, which the mains report as
  one `ERROR:` message."""


def validate_thing_class_ids(thing_class_ids: Sequence[int],
                             num_classes: int) -> List[int]:
  """The thing class ids as ints, checked to be distinct and in range.

  Raises:
    ValueError: naming `thing_class_ids` when an id lies outside
      `[0, num_classes)` or is repeated.
  """
  ids = [int(c) for c in thing_class_ids]
  bad = [c for c in ids if not 0 <= c < int(num_classes)]
  if bad:
    raise ValueError(f'thing_class_ids: expected ids in [0, num_classes='
                     f'{num_classes}), got out-of-range ids {bad}.')
  if len(set(ids)) != len(ids):
    raise ValueError(f'thing_class_ids: expected distinct ids, got {ids}.')
  return ids


@dataclasses.dataclass(frozen=True)
class PanopticEncoding:
  """How a dataset writes panoptic ids.

  Attributes:
    num_classes: K; real classes are `[0, K)`.
    thing_class_ids: the classes with instances (the rest are stuff);
      stored sorted.
    label_divisor: panoptic id = class * label_divisor + instance id
      (Cityscapes 1000, COCO 256); required, there is no default.
    void_label: class id of void pixels, outside `[0, K)`.
  """
  num_classes: int
  thing_class_ids: Tuple[int, ...]
  label_divisor: int
  void_label: int = VOID_LABEL

  def __post_init__(self):
    if int(self.num_classes) < 1:
      raise ValueError(f'num_classes: expected a positive int, got '
                       f'{self.num_classes}.')
    object.__setattr__(self, 'num_classes', int(self.num_classes))
    ids = validate_thing_class_ids(self.thing_class_ids, self.num_classes)
    object.__setattr__(self, 'thing_class_ids', tuple(sorted(ids)))
    if int(self.label_divisor) < 1:
      raise ValueError(f'label_divisor: expected >= 1, got '
                       f'{self.label_divisor}.')
    object.__setattr__(self, 'label_divisor', int(self.label_divisor))
    if 0 <= int(self.void_label) < self.num_classes:
      raise ValueError(f'void_label: expected a label outside the classes '
                       f'[0, {self.num_classes}), got {self.void_label}.')
    object.__setattr__(self, 'void_label', int(self.void_label))

  @property
  def stuff_class_ids(self) -> Tuple[int, ...]:
    return tuple(c for c in range(self.num_classes)
                 if c not in self.thing_class_ids)

  def is_thing_table(self) -> np.ndarray:
    """bool [num_classes]: True at the thing classes."""
    table = np.zeros(self.num_classes, bool)
    table[list(self.thing_class_ids)] = True
    return table

  def to_metadata(self) -> Dict[str, Any]:
    """The JSON-able dict a dataset's metadata file records."""
    return {'num_classes': self.num_classes,
            'thing_class_ids': list(self.thing_class_ids),
            'label_divisor': self.label_divisor,
            'void_label': self.void_label}

  def config_overrides(self) -> str:
    """The experiment overrides that configure this encoding, as printed
    by the converters: a header, then one 'key=value' per line (joined by
    commas they form a `--params_override`)."""
    return overrides_text({CONFIG_KEYS[k]: v
                           for k, v in self.to_metadata().items()})

  @classmethod
  def from_metadata(cls, metadata: Mapping[str, Any],
                    source: str) -> 'PanopticEncoding':
    """Reads `to_metadata`'s dict; errors name `source` (a file)."""
    keys = ('num_classes', 'thing_class_ids', 'label_divisor', 'void_label')
    missing = [k for k in keys if k not in metadata]
    if missing:
      raise DatasetError(f'{source}: "{ENCODING_KEY}" lacks {missing}.')
    try:
      return cls(**{k: metadata[k] for k in keys})
    except (TypeError, ValueError) as e:
      raise DatasetError(f'{source}: invalid "{ENCODING_KEY}": {e}') from e

  @classmethod
  def from_classes(cls, classes: Sequence[Mapping[str, Any]],
                   label_divisor: int,
                   void_label: int = VOID_LABEL) -> 'PanopticEncoding':
    """The encoding of a class list [{'id', 'isthing', ...}] with
    contiguous ids 0..K-1 (the metadata file's "classes")."""
    return cls(num_classes=len(classes),
               thing_class_ids=tuple(int(c['id']) for c in classes
                                     if c.get('isthing')),
               label_divisor=label_divisor, void_label=void_label)


def check_matches(dataset: PanopticEncoding, config: PanopticEncoding,
                  source: str) -> None:
  """Raises unless the dataset's and the config's encodings agree.

  Args:
    dataset: the encoding recorded with the data.
    config: the encoding the model, post-processing and metrics use.
    source: where `dataset` was read (named in the error).

  Raises:
    DatasetError: listing every differing field with both values and the
      override that makes the config match the data.
  """
  lines = []
  for field in dataclasses.fields(PanopticEncoding):
    want, have = getattr(dataset, field.name), getattr(config, field.name)
    if want != have:
      lines.append(f'  {field.name}: dataset {_show(want)}, config '
                   f'{_show(have)}; set {CONFIG_KEYS[field.name]}='
                   f'{_show(want)}')
  if lines:
    raise DatasetError(
        f'{source}: the dataset\'s panoptic encoding differs '
                     f'from the config\'s:\n' + '\n'.join(lines))


def overrides_text(values: Mapping[str, Any]) -> str:
  """Config key -> value as the converters print them: a header, then one
  'key=value' per line."""
  lines = [f'  {key}={_show(value)}' for key, value in values.items()]
  return '\n'.join(['config values for this dataset (--params_override, '
                    'joined by commas):'] + lines)


def _show(value) -> str:
  return str(list(value)).replace(' ', '') if isinstance(
      value, (tuple, list)) else str(value)


class PanopticIds(NamedTuple):
  """A panoptic map split by `split_panoptic` (all arrays of its shape)."""
  classes: np.ndarray    # int64 class id (meaningless where void)
  instances: np.ndarray  # int64 instance id
  void: np.ndarray       # bool
  crowd: np.ndarray      # bool: thing class with instance id 0 (not void)


def split_panoptic(values: Any, encoding: PanopticEncoding, name: str,
                   instance_zero_is_crowd: bool = True) -> PanopticIds:
  """Splits an int panoptic map by the encoding's rules.

  Args:
    values: int array of any shape.
    encoding: the `PanopticEncoding` the map was written with.
    name: the argument named in errors.
    instance_zero_is_crowd: mark thing pixels with instance id 0 as crowd
      (False: `crowd` is all False).

  Raises:
    ValueError: naming `name` when a non-void class lies outside
      `[0, num_classes)`.
  """
  values = np.asarray(values, np.int64)
  classes = values // encoding.label_divisor
  instances = values % encoding.label_divisor
  void = (values < 0) | (classes == encoding.void_label)
  bad = ~void & (classes >= encoding.num_classes)
  if bad.any():
    raise ValueError(
        f'{name}: class ids must lie in [0, {encoding.num_classes}) or be '
        f'void (void_label={encoding.void_label} or a negative value); found '
        f'classes {np.unique(classes[bad])[:10].tolist()} (label_divisor='
        f'{encoding.label_divisor}).')
  crowd = np.zeros(values.shape, bool)
  if instance_zero_is_crowd:
    safe = np.where(void, 0, classes)
    crowd = encoding.is_thing_table()[safe] & (instances == 0) & ~void
  return PanopticIds(classes, instances, void, crowd)

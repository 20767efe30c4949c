"""The panoptic label encoding: one definition for every stage.

A panoptic id is `class_id * label_divisor + instance_id`. Pixels whose
class is `void_label` (or negative) are void. A pixel of a thing class
whose instance id is 0 is crowd. `PanopticEncoding` carries these values
from a dataset's metadata to the targets, the post-processor, the
evaluators and the export modules; nothing downstream has defaults of its
own for them.
"""

import dataclasses
from typing import List, Sequence, Tuple

VOID_LABEL = 255


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
    thing_class_ids: the classes with instances (the rest are stuff).
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
    ids = validate_thing_class_ids(self.thing_class_ids, self.num_classes)
    object.__setattr__(self, 'thing_class_ids', tuple(ids))
    if int(self.label_divisor) < 1:
      raise ValueError(f'label_divisor: expected >= 1, got '
                       f'{self.label_divisor}.')
    if 0 <= int(self.void_label) < int(self.num_classes):
      raise ValueError(f'void_label: expected a label outside the classes '
                       f'[0, {self.num_classes}), got {self.void_label}.')

  @property
  def stuff_class_ids(self) -> Tuple[int, ...]:
    return tuple(c for c in range(self.num_classes)
                 if c not in self.thing_class_ids)

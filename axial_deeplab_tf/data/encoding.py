"""The panoptic label encoding: one definition for every stage.

A panoptic id is `class_id * label_divisor + instance_id`; pixels of
`void_label` (or of no class) are void; a thing-class segment whose
instance id is 0 is a crowd region.
"""

from typing import List, Sequence


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

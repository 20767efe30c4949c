"""Image-folder classification layout: one sub-folder per class.

  <root>/<class name>/<any name>.jpg|.jpeg|.png|.bmp|.gif|.webp

Classes are the sub-folder names, sorted, as labels 0..K-1 (or the order of
an explicit class_names list). JPEG and PNG bytes are stored unchanged;
other formats are re-encoded as PNG.
"""

import dataclasses
import os
from typing import List, Optional, Sequence

from axial_deeplab_tf.data import encoding as encoding_lib
from axial_deeplab_tf.data import schema
from axial_deeplab_tf.data.converters import driver
from axial_deeplab_tf.data.converters import file_checks

EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp')


@dataclasses.dataclass
class ImageItem:
  path: str
  label: int
  class_name: str


def list_items(root: str, class_names: Optional[Sequence[str]] = None):
  """Returns (items, class names, listing problems)."""
  if not os.path.isdir(root):
    raise encoding_lib.DatasetError(f'{root}: classification folder is missing')
  found = sorted(d for d in os.listdir(root)
                 if os.path.isdir(os.path.join(root, d)))
  names = list(class_names) if class_names else found
  problems = []
  for d in found:
    if d not in names:
      problems.append((os.path.join(root, d),
                       'class folder is not in the given class list'))
  items = []
  for label, name in enumerate(names):
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
      problems.append((folder, f'class folder for class {label} is missing'))
      continue
    files = sorted(f for f in os.listdir(folder)
                   if os.path.splitext(f)[1].lower() in EXTENSIONS)
    if not files:
      problems.append((folder, 'class folder has no images'))
    items += [ImageItem(os.path.join(folder, f), label, name) for f in files]
  return items, names, problems


def validate_item(item: ImageItem) -> List[driver.Problem]:
  _, problem = file_checks.load_array(item.path, 'RGB')
  return [(item.path, problem)] if problem else []


def serialize_item(item: ImageItem, root: str) -> bytes:
  return schema.make_classification_example(
      file_checks.image_bytes_for_example(item.path), item.label,
      text=item.class_name,
      source_id=os.path.relpath(item.path, root)).SerializeToString()


def convert_classification_folder(root: str, output_dir: str,
                                  split: str = 'train',
                                  class_names: Optional[Sequence[str]] = None,
                                  **convert_kwargs
                                  ) -> driver.ConversionReport:
  """Converts <root>/<class>/<image> into one classification split."""
  items, names, early = list_items(root, class_names)
  classes = [{'id': k, 'name': n} for k, n in enumerate(names)]
  return driver.convert(
      items, validate=validate_item,
      serialize=lambda item: serialize_item(item, root),
      source_files=lambda item: [item.path], output_dir=output_dir,
      split=split, classes=classes, early_problems=early,
      classes_extra={'dataset': 'classification_folder'}, **convert_kwargs)

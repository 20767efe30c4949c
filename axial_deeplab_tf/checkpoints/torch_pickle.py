"""Reads a PyTorch `.pth` file into numpy arrays, without importing torch.

`torch.save` writes one of two formats; `read_pth(path)` reads both and
returns the saved object with every tensor as a numpy array:

* zip (torch >= 1.6, the default): a zip archive `<name>/data.pkl` (the
  pickled object) plus one raw storage per file `<name>/data/<key>`
  (little-endian unless `<name>/byteorder` says 'big').
* legacy (`_use_new_zipfile_serialization=False`, older torch): a stream of
  pickles (magic number, protocol 1001, system info, the object, the list
  of storage keys) followed by each storage as an int64 element count and
  its raw bytes.

In both, the object pickle refers to storages by persistent id and
rebuilds tensors with `torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, ...)`. The unpickler here is restricted: it resolves only
those functions, the storage classes, `collections.OrderedDict` and
Python's plain containers; anything else (a pickled `nn.Module`, arbitrary
code) is refused with `TorchFileError`. Tensors are built with their
offsets and strides once all storages are read.
"""

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64,
    'HalfStorage': np.float16, 'BFloat16Storage': 'bfloat16',
    'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8,
    'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}


class TorchFileError(ValueError):
  """A file that is not a readable PyTorch checkpoint (truncated, corrupt,
  or holding more than tensors and containers)."""


class _StorageType:
  """Stands for `torch.<X>Storage` in the pickle."""

  def __init__(self, name):
    self.name = name
    self.dtype = _STORAGE_DTYPES[name]

  @property
  def itemsize(self):
    return 2 if self.dtype == 'bfloat16' else np.dtype(self.dtype).itemsize

  def decode(self, data, numel, big_endian=False):
    """Raw bytes -> 1-D numpy array of `numel` elements."""
    if len(data) != numel * self.itemsize:
      raise TorchFileError(f'a {self.name} of {numel} elements has '
                           f'{len(data)} bytes (truncated file?)')
    if self.dtype == 'bfloat16':  # the high half of a float32
      raw = np.frombuffer(data, '>u2' if big_endian else '<u2')
      return (raw.astype(np.uint32) << 16).view(np.float32)
    dtype = np.dtype(self.dtype).newbyteorder('>' if big_endian else '<')
    return np.frombuffer(data, dtype).astype(np.dtype(self.dtype))


class _Storage:
  """One storage; its array is filled in once its bytes are read."""

  def __init__(self, storage_type, numel):
    self.type = storage_type
    self.numel = numel
    self.array = None


class _Tensor:
  """A tensor to build once its storage is read."""

  def __init__(self, storage, offset, size, stride):
    self.storage, self.offset = storage, offset
    self.size, self.stride = tuple(size), tuple(stride)

  def build(self):
    flat = self.storage.array
    if flat is None:
      raise TorchFileError('a tensor refers to a storage that the file '
                           'does not hold (truncated file?)')
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size,
                                                         self.stride))
    if any(n == 0 for n in self.size):
      return np.zeros(self.size, flat.dtype)
    if self.offset < 0 or last >= flat.size:
      raise TorchFileError(f'a tensor of shape {list(self.size)} reaches '
                           f'past its storage of {flat.size} elements')
    return np.lib.stride_tricks.as_strided(
        flat[self.offset:], self.size,
        [s * flat.itemsize for s in self.stride]).copy()


def _rebuild_tensor_v2(storage, offset, size, stride, *unused):
  return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
  return data


_GLOBALS = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor_v2,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
  """Resolves only the globals a state dict needs; storages come from
  `load_storage(storage_type, key, numel, view)`."""

  def __init__(self, file, load_storage):
    super().__init__(file)
    self._load_storage = load_storage

  def find_class(self, module, name):
    if (module, name) in _GLOBALS:
      return _GLOBALS[(module, name)]
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _StorageType(name)
    raise TorchFileError(
        f'refusing to unpickle {module}.{name}: only tensors and '
        f'containers are read (a whole pickled model? save and import '
        f'its state_dict())')

  def persistent_load(self, pid):
    if not isinstance(pid, tuple) or not pid or pid[0] != 'storage':
      raise TorchFileError(f'unsupported persistent id {pid!r:.60}')
    storage_type, key, _, numel = pid[1:5]
    if not isinstance(storage_type, _StorageType):
      raise TorchFileError(f'unsupported storage type {storage_type!r:.60}')
    view = pid[5] if len(pid) > 5 else None
    return self._load_storage(storage_type, str(key), numel, view)


def _build(obj):
  """Replaces every `_Tensor` in nested containers by its array."""
  if isinstance(obj, _Tensor):
    return obj.build()
  if isinstance(obj, dict):
    return type(obj)((k, _build(v)) for k, v in obj.items())
  if isinstance(obj, (list, tuple)):
    return type(obj)(_build(v) for v in obj)
  return obj


def _read_zip(path):
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.endswith('/data.pkl') or
               n == 'data.pkl']
    if len(pickles) != 1:
      raise TorchFileError(f'expected one data.pkl in the zip archive, '
                           f'found {len(pickles)}')
    prefix = pickles[0][:-len('data.pkl')]
    big_endian = (f'{prefix}byteorder' in names and
                  archive.read(f'{prefix}byteorder').strip() == b'big')
    storages = {}

    def load_storage(storage_type, key, numel, unused_view):
      if key not in storages:
        entry = f'{prefix}data/{key}'
        if entry not in names:
          raise TorchFileError(f'storage {entry} is missing from the '
                               f'archive')
        storage = _Storage(storage_type, numel)
        storage.array = storage_type.decode(archive.read(entry), numel,
                                            big_endian)
        storages[key] = storage
      return storages[key]

    obj = _Unpickler(io.BytesIO(archive.read(pickles[0])),
                     load_storage).load()
  return _build(obj)


def _read_legacy(file):
  plain = _Unpickler(file, None)
  if plain.load() != _LEGACY_MAGIC:
    raise TorchFileError('not a PyTorch checkpoint (wrong magic number)')
  protocol = _Unpickler(file, None).load()
  if protocol != _LEGACY_PROTOCOL:
    raise TorchFileError(f'unsupported legacy protocol {protocol!r}')
  info = _Unpickler(file, None).load()
  big_endian = isinstance(info, dict) and not info.get('little_endian',
                                                       True)
  storages, views = {}, []

  def load_storage(storage_type, key, numel, view):
    if key not in storages:
      storages[key] = _Storage(storage_type, numel)
    if view is None:
      return storages[key]
    _, offset, size = view  # (view key, offset, view size)
    sub = _Storage(storage_type, size)
    views.append((sub, storages[key], offset))
    return sub

  obj = _Unpickler(file, load_storage).load()
  keys = _Unpickler(file, None).load()
  for key in keys:
    header = file.read(8)
    if len(header) != 8 or key not in storages:
      raise TorchFileError(f'storage {key} is missing (truncated file?)')
    storage = storages[key]
    numel = struct.unpack('<q', header)[0]
    storage.array = storage.type.decode(
        file.read(numel * storage.type.itemsize), numel, big_endian)
  for sub, base, offset in views:
    if base.array is not None:
      sub.array = base.array[offset:offset + sub.numel]
  return _build(obj)


def read_pth(path):
  """The object `torch.save` wrote to `path`, tensors as numpy arrays.

  Raises:
    TorchFileError: the file is truncated, corrupt, not a PyTorch file,
      or holds objects other than tensors and containers.
    OSError: the file cannot be opened.
  """
  with open(path, 'rb') as f:
    head = f.read(4)
    f.seek(0)
    try:
      if head == b'PK\x03\x04':
        return _read_zip(f)
      if head[:1] == b'\x80':  # a pickle's PROTO opcode
        return _read_legacy(f)
    except TorchFileError:
      raise
    except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError,
            struct.error, ValueError, KeyError, IndexError, TypeError) as e:
      raise TorchFileError(f'truncated or corrupt PyTorch file '
                           f'({type(e).__name__}: {e})') from None
  raise TorchFileError('not a PyTorch checkpoint (neither a zip archive '
                       'nor a pickle)')

"""Suite-wide pytest hooks.

`make test` runs two pytest-xdist workers with `--dist loadfile
--no-loadscope-reorder`: each test file goes whole to one worker, so a
module-scoped fixture (an exported SavedModel, an imported checkpoint, a
written dataset) is built once (the plain `load` distribution spread a
file's tests over both workers, and each built it again; `loadgroup`
cannot group with pytest 9, whose node ids xdist 3.8 cannot suffix), and
files go out in the order below.

Tests marked `slow` (half a minute or more on 2 cores: subprocess
trainings, exports, full-size model builds) come first, then the tests
that use a module-scoped fixture, then the rest: a long file handed out
last would run alone at the end while the other worker idles.
"""


def _shares_a_module_fixture(item):
  info = getattr(item, '_fixtureinfo', None)
  return bool(info) and any(
      definition.scope == 'module'
      for definitions in info.name2fixturedefs.values()
      for definition in definitions)


def pytest_collection_modifyitems(items):
  items.sort(key=lambda item: (item.get_closest_marker('slow') is None,
                               not _shares_a_module_fixture(item)))

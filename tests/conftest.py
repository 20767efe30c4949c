"""Suite-wide pytest hooks.

- Tests marked `slow` (half a minute or more on 2 cores: subprocess
  trainings, exports, full-size model builds) run first. pytest-xdist
  hands tests to its workers in collection order, so a long test
  collected last would run alone at the end while the other worker idles.
- Under `--dist loadgroup` (`make test`), the tests of a module that use
  one of its module-scoped fixtures (an exported SavedModel, an imported
  checkpoint, a written dataset) form one xdist group, so one worker
  builds that fixture once; the plain `load` distribution spreads them
  over both workers, and each worker built it again. xdist hands out
  the groups first (largest first), then the other tests in this order.
"""

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
  for item in items:
    info = getattr(item, '_fixtureinfo', None)
    shared = info and any(
        definition.scope == 'module'
        for definitions in info.name2fixturedefs.values()
        for definition in definitions)
    if shared:
      item.add_marker(pytest.mark.xdist_group(item.nodeid.split('::')[0]))
  items.sort(key=lambda item: item.get_closest_marker('slow') is None)

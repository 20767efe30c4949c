"""Suite-wide pytest hooks.

Tests marked `slow` (a minute or more on 2 cores: subprocess trainings,
exports, full-size model builds) run first. pytest-xdist hands tests to
its workers in collection order, so a long test collected last would run
alone at the end while the other worker idles.
"""


def pytest_collection_modifyitems(items):
  items.sort(key=lambda item: item.get_closest_marker('slow') is None)

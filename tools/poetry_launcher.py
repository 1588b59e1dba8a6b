"""Run poetry, falling back to the PEP 691/658 simple API when PyPI's per-version JSON API is unreachable.

Poetry's default PyPI source asks ``/pypi/<name>/<version>/json`` for every release it resolves or installs.
Some corporate proxies and registry mirrors serve only the standard simple index, and then ``poetry lock`` fails
with "Package ... not found" and ``poetry install`` with "Unable to find installation candidates". This launcher
keeps poetry's behaviour untouched where the JSON API answers and, only where it does not, reads the same
release (files, hashes, requires-python, dependencies from the PEP 658 metadata) from the simple index, which is
what poetry already does for any non-PyPI source.

Usage: ``python tools/poetry_launcher.py <poetry arguments>`` with poetry installed in that interpreter.
"""

from __future__ import annotations

import sys


def _patch() -> None:
    from poetry.repositories.exceptions import PackageNotFoundError
    from poetry.repositories.legacy_repository import LegacyRepository
    from poetry.repositories.pypi_repository import PyPiRepository

    json_release_info = PyPiRepository._get_release_info
    json_links = PyPiRepository.find_links_for_package

    def release_info(self, name, version):
        try:
            return json_release_info(self, name, version)
        except PackageNotFoundError:
            return LegacyRepository._get_release_info(self, name, version)

    def links(self, package):
        return json_links(self, package) or LegacyRepository.find_links_for_package(self, package)

    PyPiRepository._get_release_info = release_info
    PyPiRepository.find_links_for_package = links


if __name__ == "__main__":
    _patch()
    from poetry.console.application import main

    sys.exit(main())

"""recsys.packaging: what the flow's code package carries of the library."""

from __future__ import annotations

from pathlib import Path

from recsys.packaging import LIBRARY, ShipLibrary, library_files

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_and_the_prose_travel_under_the_package_name():
    files = dict((arcname, path) for path, arcname in library_files())
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "recsys").rglob("*.py")}
    assert on_disk <= set(files) and "recsys/report/prose/results.md" in files
    assert all(Path(path).read_bytes() == (ROOT / arcname).read_bytes() for arcname, path in files.items())


def test_caches_stay_behind(tmp_path):
    pkg = tmp_path / "lib"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"x")
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "stale.pyc").write_bytes(b"x")
    (pkg / "notes.md").write_text("prose\n")
    assert [arcname for _, arcname in library_files(pkg)] == ["lib/a.py", "lib/notes.md"]


def test_the_mutator_adds_them_as_content_beside_the_flow_file():
    from metaflow.packaging_sys import ContentType

    added = list(ShipLibrary.add_to_package(object.__new__(ShipLibrary)))
    assert {kind for *_, kind in added} == {ContentType.USER_CONTENT}
    assert [(path, arcname) for path, arcname, _ in added] == library_files(LIBRARY)

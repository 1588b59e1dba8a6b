"""Metaflow reads its configuration when first imported: give the flow tests one private local datastore and a
user name (CI has no USER) before any test imports it."""

import os
import tempfile

os.environ.setdefault("USERNAME", "tester")
os.environ["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = tempfile.mkdtemp(prefix="recsys-metaflow-")

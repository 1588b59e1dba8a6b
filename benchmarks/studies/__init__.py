"""The studies behind the decisions of the README and docs/: each measures one question once, on a preset, a dev
case or a finished run (``.venv/bin/python -m benchmarks.studies.<name> --help`` from the repository root)."""

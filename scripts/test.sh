#!/usr/bin/env bash
# The test suite: everything on the default SQLite store, then the suites that exercise the
# metadata store again on PostgreSQL (NODAL_TEST_STORE=postgres starts a private PostgreSQL
# server on loopback per test session; they skip, saying why, where Debian's postgresql is
# missing). Run `bash scripts/setup.sh --dev` first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python -m pytest -q
NODAL_TEST_STORE=postgres .venv/bin/python -m pytest -q \
  tests/test_core_calls.py tests/test_lifecycle.py tests/test_deployments.py tests/test_schedules.py \
  tests/test_dict_queue.py tests/test_data_stream.py tests/test_data_acceptance.py \
  tests/test_ephemeral_app_objects.py tests/test_volumes.py tests/test_volume_reload.py \
  tests/test_images.py tests/test_secrets.py tests/test_secret_keys.py tests/test_auth.py \
  tests/test_dashboard.py

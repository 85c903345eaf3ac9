"""Fixtures shared with tests/api/: a tiny real video and alice's earlier upload that must stay intact."""

from tests.api.conftest import tiny_avi  # noqa: F401
from tests.api.test_uploads import alice_with_a_video  # noqa: F401

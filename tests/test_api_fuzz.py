"""Schemathesis against /openapi.json: requests generated from the API's own schema, valid and
invalid alike, must never get a server error (5xx) nor a response that breaks the schema."""
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from ensemble import Ensemble  # noqa: E402
from standins import save_ink_members  # noqa: E402
from web import create_app  # noqa: E402


@pytest.fixture(scope="module")
def operations(tmp_path_factory):
    app = create_app(Ensemble(save_ink_members(tmp_path_factory.mktemp("ink")), device="cpu"),
                     max_file_bytes=256 * 1024, max_files=5)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


@pytest.mark.parametrize("label", ["POST /api/vote", "GET /api/members", "GET /api/health",
                                   "GET /api/distortion", "POST /api/distort", "POST /api/features"])
def test_generated_requests_never_get_a_server_error(operations, label):
    @given(case=operations[label].as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
    check()


def test_every_operation_is_fuzzed(operations):
    assert set(operations) == {"POST /api/vote", "GET /api/members", "GET /api/health",
                               "GET /api/distortion", "POST /api/distort", "POST /api/features"}

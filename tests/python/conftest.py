"""Tests of the Python bindings (`import svckit`, from build/python): the same fixtures as the
integration tests (real service binaries, a real RabbitMQ), loaded from tests/integration."""
import importlib.util
import os
import pathlib
import shutil
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "support"))
_spec = importlib.util.spec_from_file_location("svckit_integration_conftest",
                                               HERE.parent / "integration" / "conftest.py")
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

BIN_DIR = _integration.BIN_DIR
TEST_JWT_SECRET = _integration.TEST_JWT_SECRET
make_token = _integration.make_token
start_service = _integration.start_service  # the fixture

_build = pathlib.Path(os.environ.get("SVCKIT_BUILD_DIR", HERE.parents[1] / "build"))
PYTHON_DIR = pathlib.Path(os.environ.get("SVCKIT_PYTHON_DIR", _build / "python")).resolve()
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


@pytest.fixture(scope="session")
def broker():
    from rabbitmq_broker import Broker
    base = tempfile.mkdtemp(prefix="svckit-rabbitmq-")  # pytest's tmp dirs are closed to the rabbitmq user
    os.chmod(base, 0o755)
    b = Broker(base, 5687).start()
    yield b
    b.stop()
    shutil.rmtree(base, ignore_errors=True)


def python_env(**extra):
    """The environment of a Python child process that imports svckit from the build tree."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(PYTHON_DIR),
           "LOG_LEVEL": "warning"}
    env.update({k: str(v) for k, v in extra.items()})
    return env

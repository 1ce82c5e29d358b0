from tests.integrations.conftest import read_key  # noqa: F401

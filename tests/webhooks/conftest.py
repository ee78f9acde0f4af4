import pytest

from tests.campaigns.conftest import people, sync_worker  # noqa: F401 (the campaign events tests use them)
from tests.webhooks.receiver import start_receiver


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_TIMEOUT = 0.5
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()

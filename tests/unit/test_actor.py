"""Who is acting: a door names the actor for the work it runs, and the one before is back when it is done."""

import pytest

from billing.actor import acting, acting_as_job, current_actor, set_actor


def test_acting_nests_and_restores_and_a_late_name_ends_with_its_block():
    assert current_actor() is None
    with acting("job", "notifier"):
        assert current_actor() == {"type": "job", "id": "notifier"}
        with acting("stripe_event", "evt_1"):
            assert current_actor() == {"type": "stripe_event", "id": "evt_1"}
        assert current_actor() == {"type": "job", "id": "notifier"}
        with acting(None):
            set_actor("customer", "cus_1")  # a portal page, once its session is open
            assert current_actor() == {"type": "customer", "id": "cus_1"}
        assert current_actor() == {"type": "job", "id": "notifier"}
    assert current_actor() is None


def test_a_job_is_its_handlers_actor_even_when_the_handler_fails():
    @acting_as_job("invoice_worker")
    def handler(event, context):
        assert current_actor() == {"type": "job", "id": "invoice_worker"}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler({}, None)
    assert current_actor() is None


def test_an_unknown_kind_of_actor_is_refused():
    with pytest.raises(ValueError, match="ACTOR_TYPES"), acting("robot", "r2"):
        pass
    with pytest.raises(ValueError):
        set_actor("robot", "r2")

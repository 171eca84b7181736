"""The API includes each concern's router on the first request for it (billing.api.app): the static table of path
keys must name, for every path, every router with a route there, and no two routers may answer the same request
(then the order they were included in, which depends on which concern was asked for first, cannot matter)."""

from __future__ import annotations

import importlib
import re
from collections import defaultdict

from billing.api import app

SAMPLE = re.compile(r"<(\w+)>")


def routes_of(name: str) -> list[tuple[str, str]]:
    """(method, rule) of every route of router module ``name``."""
    router = importlib.import_module(name).router
    return [(method.upper(), key[0]) for key in router._routes for method in key[1]]


def test_the_path_key_table_names_every_router_of_every_path() -> None:
    found: dict[str, set[str]] = defaultdict(set)
    for name in app.ROUTERS:
        for _, rule in routes_of(name):
            key = app.path_key(rule)
            assert "<" not in key, f"{name}: {rule}: the path key of a route must be literal"
            found[key].add(name)
    assert {k: set(v) for k, v in app.BY_PATH_KEY.items()} == dict(found)
    for names in app.BY_PATH_KEY.values():
        assert list(names) == sorted(names, key=app.ROUTERS.index)  # listed in the resolver's order


def test_a_path_key_is_its_first_segment_and_the_second_under_v1() -> None:
    assert app.path_key("/v1/orders/ord_1/approve") == "/v1/orders"
    assert app.path_key("/v1/orders") == "/v1/orders"
    assert app.path_key("/pay/tok.en") == "/pay"
    assert app.path_key("/openapi.json") == "/openapi.json"
    assert app.path_key("/") == "/"
    assert app.BY_PATH_KEY.get(app.path_key("/v1/nothing_here/x")) is None  # 404 with no router imported


def test_no_two_routers_answer_the_same_request() -> None:
    everything = [(name, method, rule) for name in app.ROUTERS for method, rule in routes_of(name)]
    clashes = []
    for name, method, rule in everything:
        sample = SAMPLE.sub("x1", rule)
        for other, other_method, other_rule in everything:
            if other != name and other_method == method and app.resolver._compile_regex(other_rule).match(sample):
                clashes.append((method, rule, name, other_rule, other))
    assert clashes == []


def test_the_openapi_document_includes_every_router() -> None:
    import json

    app.openapi_document()
    assert app.included == set(app.ROUTERS)
    paths = json.loads(app.openapi_document())["paths"]
    described = [r for r in app.resolver._static_routes + app.resolver._dynamic_routes if r.include_in_schema]
    assert len(described) >= 90
    for route in described:
        assert route.method.lower() in paths[re.sub(r"<(\w+)>", r"{\1}", route.path)], route.path

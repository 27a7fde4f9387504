"""svckit.flags: the C++ flag engine from Python (the same answers and buckets as the services'),
and follow() keeping a FlagClient up to date from a real Configuration service."""
import json
import pathlib
import time

import pytest
import requests

import svckit
from conftest import make_token

ROOT = pathlib.Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": "Bearer " + make_token(sub="ops", roles=("admin",))}
ON_OFF = {"on": True, "off": False}


def test_a_flag_set_evaluates_as_flagd_does():
    flags = svckit.flags.FlagSet(json.loads((ROOT / "examples/flags/flags.json").read_text()))
    assert sorted(flags.keys()) == ["checkout-flow", "holiday-banner"] and "checkout-flow" in flags
    gold = flags.evaluate("checkout-flow", {"targetingKey": "ann", "plan": "gold"})
    assert gold == {"value": "one-page", "variant": "one-page", "reason": "TARGETING_MATCH", "error_code": None,
                    "error_details": None, "metadata": {}}
    assert flags.evaluate("checkout-flow")["reason"] == "DEFAULT"  # no targetingKey: nothing to split by
    assert flags.evaluate("holiday-banner") == {"value": None, "variant": None, "reason": "DISABLED",
                                                "error_code": None, "error_details": None, "metadata": {}}
    missing = flags.evaluate("nope")
    assert missing["reason"] == "ERROR" and missing["error_code"] == "FLAG_NOT_FOUND"
    # flagd-testbed's vectors: the same bucket the C++ services and flagd compute.
    suits = {"state": "ENABLED", "defaultVariant": "clubs",
             "variants": {s: s for s in ("clubs", "diamonds", "hearts", "spades")},
             "targeting": {"fractional": [[s, 25] for s in ("clubs", "diamonds", "hearts", "spades")]}}
    cards = svckit.flags.FlagSet({"flags": {"fractional-flag": suits}})
    assert [cards.evaluate("fractional-flag", {"targetingKey": k})["value"]
            for k in ("jack", "queen", "ten", "nine", "3")] == ["hearts", "spades", "clubs", "diamonds", "clubs"]


def test_bad_documents_and_contexts_are_refused_clearly():
    with pytest.raises(ValueError, match='"blue" is not one of its variants'):
        svckit.flags.FlagSet({"flags": {"f": {"state": "ENABLED", "variants": ON_OFF, "defaultVariant": "blue"}}})
    with pytest.raises(ValueError, match="not JSON"):
        svckit.flags.FlagSet("{nope")
    with pytest.raises(TypeError):
        svckit.flags.FlagSet({"flags": {"f": object()}})
    flags = svckit.flags.FlagSet({"flags": {"f": {"state": "ENABLED", "variants": ON_OFF, "defaultVariant": "on",
                                                  "targeting": {"==": [{"var": "x"}, 1]}}}})
    with pytest.raises(ValueError, match="finite"):
        flags.evaluate("f", {"x": float("nan")})
    assert flags.evaluate("f", [])["error_code"] == "INVALID_CONTEXT"


def test_a_client_answers_the_code_default_until_it_can():
    client = svckit.flags.FlagClient()
    assert client.boolean("f", True) is True and client.version == 0
    client.replace(svckit.flags.FlagSet({"flags": {"f": {"state": "ENABLED", "variants": {"a": "x", "b": "y"},
                                                         "defaultVariant": "a"}}}), 3)
    assert client.text("f", "fallback") == "x" and client.version == 3
    assert client.boolean("f", True) is True  # a string flag asked as a boolean: the default
    assert client.details("f", False)["error_code"] == "TYPE_MISMATCH"
    assert client.object("missing", {"k": 1}) == {"k": 1} and client.number("missing", 2.5) == 2.5
    client.replace(svckit.flags.FlagSet({"flags": {}}), 2)  # older: ignored
    assert client.text("f", "fallback") == "x"


def test_follow_keeps_a_client_up_to_date_from_the_configuration_service(start_service, tmp_path):
    config = start_service("configuration", DATA_DIR=tmp_path / "c",
                           CONFIG_FLAGS_FILE=ROOT / "examples/flags/flags.json")
    flags = svckit.flags.follow(config.url, token=make_token(sub="monolith", permissions=("flags:read",)),
                                poll_interval=0.2)
    assert flags.version == 1
    assert flags.text("checkout-flow", "classic", {"targetingKey": "ann", "plan": "gold"}) == "one-page"
    banner = {"state": "ENABLED", "variants": ON_OFF, "defaultVariant": "on"}
    assert requests.put(config.url + "/api/v1/flags/holiday-banner", json={"definition": banner}, headers=ADMIN,
                        timeout=5).status_code == 200
    deadline = time.monotonic() + 10
    while not flags.boolean("holiday-banner", False) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flags.boolean("holiday-banner", False) and flags.version == 2
    # No token: the service refuses (401), the client stays on defaults and says why.
    refused = svckit.flags.follow(config.url, poll_interval=60)
    assert refused.version == 0 and refused.boolean("holiday-banner", False) is False
    assert refused.follower.last_error == "GET /api/v1/flags answered 401"
    refused.follower.stopped.set()
    config.stop()
    time.sleep(0.5)  # polls fail now: the set held stays
    assert flags.boolean("holiday-banner", False) and flags.follower.last_error
    flags.follower.stopped.set()

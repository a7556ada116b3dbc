"""The assumptions loader's API: defaults, sources, overlays, dotted paths and messages.

Bad inputs through the command line are in tests/test_boundary.py; these tests call the
library directly.
"""

from __future__ import annotations

import pytest

from bizcase import assumptions
from bizcase.errors import AssumptionError
from tests.conftest import DEFAULT, TINY

TINY_TEXT = TINY.read_text(encoding="utf-8")


def load_text(text: str) -> assumptions.Case:
    return assumptions.loads(text.encode("utf-8"), "case.toml")


def problems_of(text: str) -> str:
    with pytest.raises(AssumptionError) as info:
        load_text(text)
    return str(info.value)


def test_defaults_fill_every_key_the_file_omits() -> None:
    case = load_text(TINY_TEXT)
    assert case.data["project"]["discounting"] == "end"
    assert case.data["funding_gap"]["discount_rate"] == 0.04
    assert case.data["debt"] == [] and case.data["grants"] == []
    assert case.file == "case.toml" and len(case.sha256) == 64


def test_sources_are_kept_by_dotted_path() -> None:
    text = TINY_TEXT.replace(
        "discount_rate = 0.10", 'discount_rate = 0.10\ndiscount_rate_source = "board memo"'
    )
    text = text.replace('name = "Beta"', 'name = "Beta"\nshare_source = "term sheet"')
    case = load_text(text)
    assert case.sources == {
        "project.discount_rate": "board memo",
        "partners.1.share": "term sheet",
    }


def test_every_problem_of_a_file_in_one_message() -> None:
    text = TINY_TEXT.replace("pue = 1.0", "pue = 0.5").replace("gpus = 1000", "gpus = -1")
    message = problems_of(text)
    assert message.startswith("case.toml: 2 problems:")
    assert "site.pue = 0.5: must be between 1 and 3" in message
    assert "site.gpus = -1: must be between 1 and 10,000,000" in message


def test_one_problem_is_one_line() -> None:
    message = problems_of(TINY_TEXT.replace("pue = 1.0", "pue = 0.5"))
    assert message == "case.toml: site.pue = 0.5: must be between 1 and 3 [ratio]"


def test_percent_hint_for_fractions() -> None:
    message = problems_of(TINY_TEXT.replace("availability = 1.0", "availability = 97"))
    assert "site.availability = 97" in message and "write 0.97 for 97 %" in message


def test_shares_compared_with_fsum_and_a_tolerance() -> None:
    ok = TINY_TEXT.replace("share = 0.6", "share = 0.6000000000001")
    assert load_text(ok).data["partners"][0]["share"] == 0.6000000000001
    message = problems_of(TINY_TEXT.replace("share = 0.6", "share = 0.61"))
    assert "partners.*.share = [0.61, 0.4]: shares sum to 1.01; they must sum to 1" in message


def test_duplicate_key_message_names_the_key_and_both_lines() -> None:
    text = TINY_TEXT.replace("pue = 1.0", "pue = 1.0\npue = 1.1")
    line = TINY_TEXT.splitlines().index("pue = 1.0") + 1
    message = problems_of(text)
    assert message == (
        f"case.toml: site.pue is defined twice (lines {line} and {line + 1}); "
        "TOML allows each key and table once"
    )


def test_duplicate_array_items_are_not_duplicate_keys() -> None:
    case = load_text(TINY_TEXT)
    assert [p["name"] for p in case.data["partners"]] == ["Alpha", "Beta"]


def test_scenario_overlay_and_values() -> None:
    case = load_text(TINY_TEXT + '\n[scenarios.low]\n"utilization.plateau" = 0.3\n')
    low = case.with_scenario("low")
    assert low.scenario == "low" and low.get("utilization.plateau") == 0.3
    assert case.get("utilization.plateau") == 0.5
    changed = low.with_values({"partners.0.share": 0.5, "partners.1.share": 0.5})
    assert changed.get("partners.1.share") == 0.5
    assert changed.overrides == {"partners.0.share": 0.5, "partners.1.share": 0.5}
    assert case.with_scenario("base") is case


def test_with_values_validates_the_whole_case() -> None:
    case = load_text(TINY_TEXT)
    with pytest.raises(AssumptionError, match=r"partners\.\*\.share .* sum to 1\.1"):
        case.with_values({"partners.0.share": 0.7})


def test_dotted_paths() -> None:
    case = load_text(TINY_TEXT)
    assert assumptions.get_path(case.data, "partners.1.name") == "Beta"
    with pytest.raises(KeyError):
        assumptions.get_path(case.data, "partners.7.name")
    assert assumptions.field_of("partners.1.share") is assumptions.ARRAYS["partners"]["share"]
    assert assumptions.field_of("project.nope") is None
    assert "revenue.price_decline" in assumptions.known_paths(case.data)
    assert assumptions.check_numeric_path(case.data, "revenue.price_decline") is None
    assert "timeline" in str(assumptions.check_numeric_path(case.data, "project.operating_years"))
    assert "did you mean" in str(assumptions.check_numeric_path(case.data, "revenue.price_declin"))
    assert assumptions.check_numeric_path(case.data, "project.name") == "is not a numeric input"


@pytest.mark.parametrize(
    "text, value",
    [
        ("0.25", 0.25),
        ("1_000", 1000),
        ("true", True),
        ('"x"', "x"),
        ("[1, 2]", [1, 2]),
        ("abc", "abc"),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    assert assumptions.parse_value(text) == value


def test_iter_fields_covers_every_schema_key() -> None:
    case = assumptions.load(DEFAULT)
    paths = {path for path, _, _ in assumptions.iter_fields(case.data)}
    for section, fields in assumptions.SECTIONS.items():
        assert {f"{section}.{key}" for key in fields} <= paths
    assert "partners.2.cost_of_equity" in paths


def test_every_field_documents_itself() -> None:
    for fields in [*assumptions.SECTIONS.values(), *assumptions.ARRAYS.values()]:
        for key, field in fields.items():
            assert field.doc, key
            assert field.kind in ("float", "int", "str", "bool", "floats", "strs"), key

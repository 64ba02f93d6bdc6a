"""Schema validation and reading of German CSV conventions."""

import pytest

from kit.errors import InputError
from kit.io import read_table
from kit.schemas import load_schema, schema_names, validate_table

HEADER = "year;key;label;cases;cleared;suspects\n"


def write(tmp_path, text, encoding="cp1252", name="pks.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_german_csv_is_typed(tmp_path):
    path = write(tmp_path, HEADER + "2022;000000;Straftaten insgesamt;1.234;800;7\n")
    df = validate_table(read_table(path), "pks")
    assert df["cases"].tolist() == [1234]
    assert df["label"].tolist() == ["Straftaten insgesamt"]


def test_utf8_bom_comma_separated(tmp_path):
    text = "year,key,label,cases,cleared,suspects\n2021,892000,Gewaltkriminalität,12,9,10\n"
    path = write(tmp_path, "\ufeff" + text, encoding="utf-8")
    df = validate_table(read_table(path), "pks")
    assert df.loc[0, "label"] == "Gewaltkriminalität"
    assert df.loc[0, "cases"] == 12


def test_errors_name_file_row_column_value(tmp_path):
    path = write(tmp_path, HEADER + "2022;000000;x;5;3;abc\n2022;892000;Gewalt;-5;3;2\n")
    with pytest.raises(InputError) as info:
        validate_table(read_table(path), "pks")
    found = {(p.row, p.column, str(p.value)) for p in info.value.problems}
    assert (2, "suspects", "abc") in found
    assert (3, "cases", "-5") in found
    assert "pks.csv" in str(info.value)


def test_missing_column_is_named(tmp_path):
    path = write(tmp_path, "year;key;label;cases;cleared\n2022;000000;x;5;3\n")
    with pytest.raises(InputError) as info:
        validate_table(read_table(path), "pks")
    assert info.value.problems[0].column == "suspects"


def test_duplicate_primary_key(tmp_path):
    path = write(tmp_path, HEADER + "2022;000000;x;5;3;1\n2022;000000;x;6;3;1\n")
    with pytest.raises(InputError) as info:
        validate_table(read_table(path), "pks")
    assert info.value.problems[0].row == 3


def test_double_encoded_text_is_rejected(tmp_path):
    text = HEADER + "2022;000000;GewaltkriminalitÃ¤t;5;3;1\n"
    path = write(tmp_path, text, encoding="utf-8")
    with pytest.raises(InputError, match="doppelt"):
        read_table(path)


def test_every_schema_loads():
    assert {"pks", "residents", "districts", "survey_sample"} <= set(schema_names())


def test_every_schema_file_loads():
    from kit.schemas import schema_names

    names = schema_names()
    assert {"districts", "residents", "pks", "bos", "survey_sample"} <= set(names)
    for name in names:
        assert load_schema(name)["name"] == name

"""The columnar reading of records: `records.normalise` written as one DuckDB query, so that a
day of a million usage events is typed in bulk from the response bodies instead of record by
record in Python.

`typed_query(record_type, records_sql)` reads the records (a query with one JSON column `r`, one
row per record as the API sent it) and returns every column of FIELDS[record_type], `raw` (the
record's own JSON text, not re-serialised by Python) and `_clean`. The query only decides the
shapes it knows to give exactly what `normalise` gives: strings, whole numbers within 64 bits,
finite numbers, booleans, epoch-millisecond and plain ISO-UTC timestamps, the documented key
variants. Any other value (a number sent as text, "NaN", a blank or padded id, an unknown
timestamp form, a missing identifying field...) makes `_clean` false: the caller then reads
those records with `normalise`, which either reads them too or refuses them with an error that
names the endpoint, the field and the record. `normalise` stays the reference; the tests hold
the two to the same answer record by record.

Text only: no DuckDB import (the warehouse runs the query).
"""

from __future__ import annotations

from .records import _DAY_FROM, _SPECS, _TOKEN_USAGE, FIELDS, REQUIRED, to_id, to_str

# Record types with a columnar reading (one table, no child rows).
COLUMNAR = ("usage_events", "ai_commits")

_PRINTABLE_START = "regexp_matches({s}, '^[!-~]')"  # a visible ASCII first character: not blank
_TRIMMED = "regexp_full_match({s}, '(?s)[!-~](.*[!-~])?')"  # visible ASCII at both ends
_EPOCH_MS = "regexp_full_match({s}, '-?[0-9]{{1,14}}')"
_ISO_UTC = (
    "regexp_full_match({s}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}"
    "(\\.[0-9]{{1,6}})?Z')"
)
_INT64_MAX = 2**63 - 1


def typed_query(record_type: str, records_sql: str) -> str:
    """DuckDB SQL: the typed columns of `record_type`, `raw` and `_clean`, one row per record of
    `records_sql` (a query with one JSON column `r`)."""
    if record_type not in COLUMNAR:
        raise ValueError(f"no columnar reading of {record_type!r}; use records.normalise")
    # Each record is parsed once into a struct of its known keys' JSON texts (a JSON null and
    # a missing key are both SQL NULL there); tokenUsage's keys likewise, from its text.
    top: list[str] = []
    nested: list[str] = []

    def key_of(key: str, within: list[str], struct: str) -> str:
        if key not in within:
            within.append(key)
        return f"{struct}.{_ident(key)}"

    def first_present(keys: tuple[str, ...]) -> str:
        """The value of the first of `keys` present in the record, as `records._first` reads
        it: a later key counts only when every key before it is absent (not merely null)."""
        found = [key_of(key, top, "v") for key in keys]
        if len(found) == 1:
            return found[0]
        branches = [f"WHEN {found[0]} IS NOT NULL THEN {found[0]}"]
        for i, value in enumerate(found[1:], start=1):
            absent = " AND ".join(f"NOT json_exists(r, {_path(key)})" for key in keys[:i])
            branches.append(f"WHEN {value} IS NOT NULL AND {absent} THEN {value}")
        return f"CASE {' '.join(branches)} END"

    values: dict[str, str] = {}  # column -> JSON text (SQL NULL when absent or null)
    for column, (sources, _parse) in _SPECS[record_type].items():
        if sources:
            values[column] = first_present(sources)
    if record_type == "usage_events":
        key_of("tokenUsage", top, "v")
        for column, (key, _parse) in _TOKEN_USAGE.items():
            inside = key_of(key, nested, "u")  # usage.get(key), else raw.get(key, raw.get(column))
            values[column] = f"coalesce({inside}, {first_present((key, column))})"

    # layer 1: the JSON values, their JSON types and (for strings) their text
    structs = f"r, json_transform(r, {_structure(top)}) AS v"
    if nested:
        structs = f'*, json_transform(v."tokenUsage", {_structure(nested)}) AS u FROM (SELECT {structs}'
    named = ", ".join(f"{value} AS {_ident(column + '__v')}" for column, value in values.items())
    layer0 = (
        f"SELECT r, {named}"
        + (', json_type(v."tokenUsage") AS usage__t' if nested else "")
        + f" FROM (SELECT {structs} FROM ({records_sql}){')' if nested else ''})"
    )
    layer1 = [
        "r",
        *(f'"{column}__v"' for column in values),
        *(f'json_type("{column}__v") AS "{column}__t"' for column in values),
        *(f'"{column}__v"->>\'$\' AS "{column}__s"' for column in values),
    ]
    if nested:
        layer1.append("usage__t")

    # layer 2: typed columns and what makes each clean
    typed: dict[str, str] = {}
    clean: list[str] = []
    for column, kind in FIELDS[record_type].items():
        if column == "day" and record_type in _DAY_FROM:
            typed[column] = f'CAST("{_DAY_FROM[record_type]}" AS DATE)'
            continue
        parse = _SPECS[record_type][column][1] if column in _SPECS[record_type] else None
        if column in _TOKEN_USAGE:
            parse = _TOKEN_USAGE[column][1]
        v, t, s = f'"{column}__v"', f'"{column}__t"', f'"{column}__s"'
        absent = f"({v} IS NULL OR {t} = 'NULL')"
        number = f"{t} IN ('BIGINT', 'UBIGINT')"
        if parse is to_id:
            typed[column] = (
                f"CASE WHEN {t} = 'VARCHAR' THEN nullif({s}, '') WHEN {number} THEN {v}::VARCHAR END"
            )
            clean.append(
                f"({absent} OR {number} OR ({t} = 'VARCHAR' AND ({s} = '' OR {_TRIMMED.format(s=s)})))"
            )
        elif parse is to_str:
            typed[column] = (
                f"CASE WHEN {t} = 'VARCHAR' THEN nullif({s}, '') WHEN {number} OR {t} = 'BOOLEAN' "
                f"THEN {v}::VARCHAR END"
            )
            clean.append(
                f"({absent} OR {number} OR {t} = 'BOOLEAN' OR ({t} = 'VARCHAR' AND ({s} = '' OR "
                f"{_PRINTABLE_START.format(s=s)})))"
            )
        elif kind == "int":
            typed[column] = f"CASE WHEN {number} THEN TRY_CAST({v} AS BIGINT) END"
            clean.append(f"({absent} OR ({number} AND TRY_CAST({v} AS HUGEINT) <= {_INT64_MAX}))")
        elif kind == "float":
            typed[column] = f"CASE WHEN {number} OR {t} = 'DOUBLE' THEN TRY_CAST({v} AS DOUBLE) END"
            clean.append(
                f"({absent} OR (({number} OR {t} = 'DOUBLE') AND isfinite(TRY_CAST({v} AS DOUBLE))))"
            )
        elif kind == "bool":
            typed[column] = f"CASE WHEN {t} = 'BOOLEAN' THEN {v}::BOOLEAN END"
            clean.append(f"({absent} OR {t} = 'BOOLEAN')")
        elif kind == "datetime":
            epoch = f"CASE WHEN {number} THEN {v}::BIGINT WHEN {_EPOCH_MS.format(s=s)} THEN {s}::BIGINT END"
            typed[column] = (
                f"CASE WHEN {t} = 'VARCHAR' AND {_ISO_UTC.format(s=s)} "
                f"THEN TRY_CAST(rtrim({s}, 'Z') AS TIMESTAMP) "
                f"WHEN {t} = 'VARCHAR' AND NOT {_EPOCH_MS.format(s=s)} THEN NULL "
                f"ELSE epoch_ms(TRY_CAST(({epoch}) AS BIGINT)) END"
            )
            clean.append(
                f"({absent} OR (({number} AND TRY_CAST({v} AS HUGEINT) BETWEEN -1e14 AND 1e14) OR "
                f"({t} = 'VARCHAR' AND ({_EPOCH_MS.format(s=s)} OR ({_ISO_UTC.format(s=s)} AND "
                f"TRY_CAST(rtrim({s}, 'Z') AS TIMESTAMP) IS NOT NULL)))))"
            )
        else:
            raise ValueError(f"{record_type}.{column}: no columnar reading of {kind!r} columns")
    if record_type == "usage_events":
        clean.append("(usage__t IS NULL OR usage__t = 'OBJECT')")
    for group in REQUIRED[record_type]:
        clean.append("(" + " OR ".join(f'"{column}" IS NOT NULL' for column in group) + ")")

    inner = ", ".join(layer1)
    typed_sql = ", ".join(f'{expr} AS "{column}"' for column, expr in typed.items() if column != "day")
    day = f', {typed["day"]} AS "day"' if "day" in typed else ""
    columns = ", ".join(f'"{column}"' for column in FIELDS[record_type])
    return (
        f"SELECT {columns}, r AS raw, {' AND '.join(clean)} AS _clean FROM ("
        f"SELECT *{day} FROM ("
        f"SELECT r, {typed_sql}, {', '.join(_layer_refs(values))}"
        + (", usage__t" if nested else "")
        + f" FROM (SELECT {inner} FROM ({layer0}))))"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path(key: str) -> str:
    """A JSON path to a top-level key, as SQL text."""
    return "'$." + _json_string(key).replace("'", "''") + "'"


def _structure(keys: list[str]) -> str:
    """json_transform's structure: each key's value as JSON text, as SQL text."""
    return "'{" + ", ".join(f'{_json_string(key)}: "JSON"' for key in keys).replace("'", "''") + "}'"


def _json_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _layer_refs(values: dict[str, str]) -> list[str]:
    return [f'"{column}__{part}"' for column in values for part in ("v", "t", "s")]

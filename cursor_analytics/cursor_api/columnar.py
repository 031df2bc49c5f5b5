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
    paths: list[str] = []

    def extract(key: str, within: str = "") -> str:
        path = f"{within}.{key}" if within else key
        if path not in paths:
            paths.append(path)
        return f"v[{paths.index(path) + 1}]"

    values: dict[str, str] = {}  # column -> JSON value (SQL NULL when no source key is present)
    for column, (sources, _parse) in _SPECS[record_type].items():
        if sources:
            found = [extract(key) for key in sources]
            values[column] = found[0] if len(found) == 1 else f"coalesce({', '.join(found)})"
    if record_type == "usage_events":
        usage = extract("tokenUsage")
        for column, (key, _parse) in _TOKEN_USAGE.items():
            nested = extract(key, "tokenUsage")
            flat = f"coalesce({extract(key)}, {extract(column)})"  # raw.get(key, raw.get(column))
            values[column] = f"CASE WHEN json_type({nested}) <> 'NULL' THEN {nested} ELSE {flat} END"

    # layer 1: the JSON values, their JSON types and (for strings) their text
    layer1 = [
        "r",
        *(f'{value} AS "{column}__v"' for column, value in values.items()),
        *(f'json_type({value}) AS "{column}__t"' for column, value in values.items()),
        *(f"({value})->>'$' AS \"{column}__s\"" for column, value in values.items()),
    ]
    if record_type == "usage_events":
        layer1.append(f"json_type({usage}) AS usage__t")
    json_paths = ", ".join(
        "'$." + ".".join('"' + part.replace('"', '\\"') + '"' for part in p.split(".")) + "'" for p in paths
    )

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
        clean.append("(usage__t IS NULL OR usage__t IN ('NULL', 'OBJECT'))")
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
        + (", usage__t" if record_type == "usage_events" else "")
        + f" FROM (SELECT {inner} FROM (SELECT r, json_extract(r, [{json_paths}]) AS v FROM ({records_sql})))))"
    )


def _layer_refs(values: dict[str, str]) -> list[str]:
    return [f'"{column}__{part}"' for column in values for part in ("v", "t", "s")]

"""Encryption at rest of the lake's personal columns (raw, validated, quarantine).

A resource with personal items (`Item.personal`) has those columns, and the columns that can
carry their values (the raw text of an unreadable row, columns no item claims, the values in
the quarantine's reasons), written with Parquet modular encryption (pyarrow): each column gets
its own data key (AES-256-GCM), and the data keys are wrapped by the master key
(`common.keys.master_key()`) through `LakeKms`, a KMS client built on `cryptography`. The footer
stays in plaintext, so the schema, row counts, the landing record and the other columns stay
readable by any tool (DuckDB included); the personal columns are ciphertext without the key.

The wrapped data keys are kept beside the data file, in `_KEY_MATERIAL_FOR_<file>.json`
(external key material): rotating the master key (`rewrap`) rewrites only that small file, never
the data. Each wrapped key names the master key that wrapped it by `key_id`, so a wrong key is
told apart from damage. A file is encrypted exactly when its key material is beside it.

DuckDB cannot decrypt what pyarrow encrypts, so every reader that needs the personal columns
goes through `dataset`/`read_table` here (pyarrow decrypts; DuckDB gets Arrow). Footer facts
(`pq.read_metadata(...).num_rows`, `.schema`, key-value metadata) need no key, but the column-
chunk metadata of an encrypted column (`row_group(i).column(j)`, statistics) must be read
through `parquet_file` here: without decryption properties pyarrow 26 aborts the process. Nothing here
logs or puts a key in a message; the key ids it names reveal nothing about the keys.
"""
from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from common.errors import KcdataError
from common.keys import MissingKey, decode_key, key_id, keys_file, master_key, read_keys_file
from common.settings import read_settings

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    import pyarrow.parquet.encryption as pe
    from duckdb import DuckDBPyConnection

KEY_MATERIAL_PREFIX = "_KEY_MATERIAL_FOR_"  # pyarrow's name for external key material files
MASTER_KEY_NAME = "kcdata-lake"  # the master key's name inside Parquet key material (not the key)
WRAP_FORMAT = "kcdata-aes256gcm"  # wrapped data key: <format>:<master key id>:<base64 nonce+ciphertext>
# While `kcdata keys rotate` runs, the keys file also holds the key being rotated to (NEXT) and,
# after the switch, the key rotated from (PREVIOUS): files wrapped by either still open.
MASTER_KEY_NEXT = "KCDATA_MASTER_KEY_NEXT"
MASTER_KEY_PREVIOUS = "KCDATA_MASTER_KEY_PREVIOUS"
# Columns beside the personal items that can carry personal values.
CARRIER_COLUMNS = ("_problem_text", "_problem_cells", "_reasons")
CARRIER_PREFIX = "_unmapped_"


class WrongKey(KcdataError):
    """The file's data keys were wrapped by another master key, or its key material is damaged."""


# --------------------------------------------------------------------------- which columns


def protected_columns(personal: Iterable[str], names: Iterable[str]) -> list[str]:
    """The columns of `names` to encrypt, given the codes of a resource's personal items: those
    items and the columns that can carry their values; none when the resource has none."""
    personal = set(personal)
    if not personal:
        return []
    return [n for n in names if n in personal or n in CARRIER_COLUMNS or n.startswith(CARRIER_PREFIX)]


class _PersonalItem(Protocol):
    """What `personal_codes` reads of a catalog item (the ground floor does not import the catalog)."""

    @property
    def code(self) -> str: ...

    @property
    def maybe_personal(self) -> bool: ...


class _Delivery(Protocol):
    """What `personal_codes` reads of a catalog resource."""

    @property
    def source_items(self) -> Sequence[_PersonalItem]: ...


def personal_codes(resource: _Delivery) -> list[str]:
    """Codes of the personal items a delivery carries (derived items are computed later, in dbt);
    an item whose sensitivity nobody declared yet is protected as if it were personal."""
    return [i.code for i in resource.source_items if i.maybe_personal]


def key_material_file(data_file: Path) -> Path:
    return data_file.with_name(f"{KEY_MATERIAL_PREFIX}{data_file.name}.json")


def is_encrypted(data_file: Path) -> bool:
    """Whether `data_file` was written with encrypted columns (its key material is beside it)."""
    return key_material_file(data_file).is_file()


# --------------------------------------------------------------------------- the KMS client


def _wrap(key: bytes, data_key: bytes, name: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, data_key, name.encode())
    return f"{WRAP_FORMAT}:{key_id(key)}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def _wrapper_id(wrapped: str) -> str:
    parts = wrapped.split(":")
    if len(parts) != 3 or parts[0] != WRAP_FORMAT:
        raise WrongKey("a data key is not wrapped the way kcdata wraps keys")
    return parts[1]


def _unwrap(keys: dict[str, bytes], wrapped: str, name: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    wrapper = _wrapper_id(wrapped)
    if wrapper not in keys:
        raise WrongKey(f"a data key was wrapped by master key {wrapper}; the configured key is {_ids(keys)}")
    raw = base64.b64decode(wrapped.split(":")[2])
    try:
        return AESGCM(keys[wrapper]).decrypt(raw[:12], raw[12:], name.encode())
    except InvalidTag:
        raise WrongKey(f"a data key wrapped by master key {wrapper} does not open: the key material is damaged") from None


def _ids(keys: dict[str, bytes]) -> str:
    return " or ".join(keys) or "none"


def _kms_client_class() -> type[pe.KmsClient]:
    import pyarrow.parquet.encryption as pe

    class LakeKms(pe.KmsClient):  # type: ignore[misc]  # pyarrow ships no types: its classes are Any
        """Wraps data keys with the current master key (AES-256-GCM, the key's name as associated
        data); unwraps with whichever configured master key the wrapped text names."""

        def __init__(self, wrapping: bytes | None, opening: dict[str, bytes]) -> None:
            super().__init__()
            self._wrapping, self._opening = wrapping, opening

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            if self._wrapping is None:
                raise MissingKey("no master key to wrap data keys with")
            return _wrap(self._wrapping, key_bytes, master_key_identifier)

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            return _unwrap(self._opening, wrapped_key, master_key_identifier)

    return LakeKms


def _factory(wrapping: bytes | None, opening: dict[str, bytes]) -> tuple[pe.CryptoFactory, pe.KmsConnectionConfig]:
    """A CryptoFactory for one operation. Each call makes its own, so no cached client or key
    outlives a rotation in a long-lived process (Airflow workers, the catalog web)."""
    import pyarrow.parquet.encryption as pe

    client = _kms_client_class()
    return pe.CryptoFactory(lambda _config: client(wrapping, opening)), pe.KmsConnectionConfig()


def opening_keys() -> dict[str, bytes]:
    """Master keys that may open the lake's files, by id: the current one and, while a rotation
    is under way (keys file only), the key rotated to or from."""
    keys = {}
    current = master_key()
    keys[key_id(current)] = current
    path = keys_file()
    if not read_settings().master_key and path is not None:
        values = read_keys_file(path)
        for name in (MASTER_KEY_NEXT, MASTER_KEY_PREVIOUS):
            extra = file_key(values, name)
            if extra is not None:
                keys.setdefault(key_id(extra), extra)
    return keys


def file_key(values: dict[str, str], name: str) -> bytes | None:
    """Key `name` from the keys file's `values` (32 bytes), None when absent."""
    return decode_key(values[name], f"{name} in the keys file {keys_file()}") if values.get(name) else None


# --------------------------------------------------------------------------- writing


def _leaf_paths(schema: pa.Schema, columns: Iterable[str]) -> list[str]:
    """Parquet column paths (leaves) of the top-level `columns`: what encryption keys name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    wanted = set(columns)
    sink = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), sink)
    parquet_schema = pq.ParquetFile(pa.BufferReader(sink.getvalue())).schema
    return [c.path for c in parquet_schema if c.path.split(".")[0] in wanted]


def encryption_properties(data_file: Path, schema: pa.Schema, columns: list[str]) -> pe.FileEncryptionProperties:
    """File encryption properties for `data_file` (its key material is written beside it now, so
    write into a staged folder): `columns` encrypted, footer plaintext, data keys wrapped."""
    import pyarrow.parquet.encryption as pe

    key = master_key()
    factory, connection = _factory(key, {})
    config = pe.EncryptionConfiguration(
        footer_key=MASTER_KEY_NAME,
        column_keys={MASTER_KEY_NAME: _leaf_paths(schema, columns)},
        encryption_algorithm="AES_GCM_V1",
        plaintext_footer=True,
        double_wrapping=False,
        internal_key_material=False,
        data_key_length_bits=256,
    )
    return factory.file_encryption_properties(connection, config, parquet_file_path=str(data_file))


@contextmanager
def parquet_writer(data_file: Path, schema: pa.Schema, protect: list[str], **options: object) -> Iterator[pq.ParquetWriter]:
    """A streaming ParquetWriter (zstd) with `protect` encrypted; plain Parquet when it is empty."""
    import pyarrow.parquet as pq

    options.setdefault("compression", "zstd")
    names = set(schema.names)  # once: `schema.names` builds a new list at every call (10,000 columns sent happen)
    present = [c for c in protect if c in names]
    if present:
        options["encryption_properties"] = encryption_properties(data_file, schema, present)
    with pq.ParquetWriter(data_file, schema, **options) as writer:
        yield writer


def copy_query(con: DuckDBPyConnection, sql: str, data_file: Path, protect: list[str], rows_per_batch: int = 122_880) -> None:
    """Write the result of `sql` on DuckDB connection `con` to `data_file`: DuckDB's COPY when
    nothing is to be encrypted, else streamed as Arrow batches through an encrypting writer."""
    from common.sqltext import literal

    if not protect:
        con.execute(f"COPY ({sql}) TO {literal(str(data_file))} (FORMAT parquet, COMPRESSION zstd)")
        return
    reader = con.sql(sql).to_arrow_reader(rows_per_batch)
    with parquet_writer(data_file, reader.schema, protect) as writer:
        for batch in reader:
            writer.write_batch(batch)


def require_master_key(what: str) -> None:
    """Fail before anything is written when the key to encrypt `what` is missing."""
    try:
        master_key()
    except MissingKey as exc:
        raise MissingKey(f"{what}: its personal items are encrypted in the lake, but {exc}") from None


# --------------------------------------------------------------------------- reading


def _material(data_file: Path) -> dict[str, dict[str, Any]]:
    """The key material beside `data_file`: key name in file -> its fields."""
    path = key_material_file(data_file)
    try:
        outer = json.loads(path.read_text())
        return {name: json.loads(text) for name, text in outer.items()}
    except FileNotFoundError:
        raise WrongKey(f"{data_file}: its key material ({path.name}) is missing, so its encrypted columns cannot be read") from None
    except (ValueError, AttributeError, TypeError):
        raise WrongKey(f"{data_file}: its key material ({path.name}) is damaged") from None


def wrapper_ids(data_file: Path) -> set[str]:
    """Ids of the master keys that wrapped the data keys of `data_file`."""
    try:
        return {_wrapper_id(entry["wrappedDEK"]) for entry in _material(data_file).values()}
    except (KeyError, TypeError, WrongKey):
        raise WrongKey(f"{data_file}: its key material ({key_material_file(data_file).name}) is damaged") from None


def decryption_properties(data_file: Path) -> pe.FileDecryptionProperties:
    """Decryption properties for an encrypted `data_file`, after checking the configured master
    key is the one that wrapped its data keys (a clear message instead of pyarrow's)."""
    import pyarrow.parquet.encryption as pe

    try:
        keys = opening_keys()
    except MissingKey as exc:
        raise MissingKey(f"{data_file}: its personal columns are encrypted, but {exc}") from None
    unknown = sorted(wrapper_ids(data_file) - set(keys))
    if unknown:  # a rotation may have re-wrapped it since the keys were read: read them again
        keys = opening_keys()
        unknown = sorted(wrapper_ids(data_file) - set(keys))
    if unknown:
        raise WrongKey(
            f"the data keys of {data_file} were wrapped by master key {', '.join(unknown)}; "
            f"the configured key is {key_id(master_key())}"
        )
    factory, connection = _factory(None, keys)
    return factory.file_decryption_properties(connection, pe.DecryptionConfiguration(), parquet_file_path=str(data_file))


def parquet_file(data_file: Path) -> pq.ParquetFile:
    """`data_file` opened for reading, decrypting when it is encrypted."""
    import pyarrow.parquet as pq

    props = decryption_properties(data_file) if is_encrypted(data_file) else None
    return pq.ParquetFile(str(data_file), decryption_properties=props)


def read_table(data_file: Path, columns: list[str] | None = None) -> pa.Table:
    """The whole of `data_file` (or `columns`), decrypted when needed; for small files."""
    return parquet_file(data_file).read(columns=columns)


def dataset(data_file: Path) -> ds.Dataset:
    """A lazy, re-scannable Arrow dataset over one file, decrypting when needed: DuckDB reads it
    streaming, with projection (`con.register(name, dataset(path))`)."""
    import pyarrow.dataset as ds

    if not is_encrypted(data_file):
        return ds.dataset(str(data_file), format="parquet")
    options = ds.ParquetFragmentScanOptions(decryption_properties=decryption_properties(data_file))
    return ds.dataset(str(data_file), format=ds.ParquetFileFormat(default_fragment_scan_options=options))


def duckdb_source(con: DuckDBPyConnection, data_file: Path, name: str) -> str:
    """A FROM-clause source for `data_file` on DuckDB connection `con`: `read_parquet` for a
    plain file; for an encrypted one, a decrypting dataset registered as `name`."""
    from common.sqltext import ident, literal

    if not is_encrypted(data_file):
        return f"read_parquet({literal(str(data_file))}, hive_partitioning = false)"
    con.register(name, dataset(data_file))
    return ident(name)


# --------------------------------------------------------------------------- rotation


def encrypted_files(zones: Iterable[Path], staged: bool = True) -> list[Path]:
    """Every encrypted data file under the lake zones `zones` (<zone>/<table>/<batch>/), with
    the batches still being staged (`.tmp-*`) unless `staged` is False."""
    found = []
    for zone in zones:
        for material in sorted(zone.glob(f"*/*/{KEY_MATERIAL_PREFIX}*.json")):
            if staged or not material.parent.name.startswith(".tmp-"):
                found.append(material.with_name(material.name[len(KEY_MATERIAL_PREFIX):-len(".json")]))
    return found


def rewrap(data_file: Path, opening: dict[str, bytes], new: bytes) -> bool:
    """Wrap the data keys of `data_file` with master key `new` (they are opened with `opening`,
    by id) without touching the data. The equivalent of pyarrow's `rotate_master_keys` for our
    single-wrapped key material, except that the file is replaced in one rename (written and
    fsynced beside it first), so a crash never leaves a data file without its keys. False when
    they were already wrapped by `new`."""
    material = _material(data_file)
    new_id = key_id(new)
    if all(_wrapper_id(entry["wrappedDEK"]) == new_id for entry in material.values()):
        return False
    keys = {**opening, new_id: new}
    for name, entry in material.items():
        if _wrapper_id(entry["wrappedDEK"]) != new_id:
            try:
                data_key = _unwrap(keys, entry["wrappedDEK"], entry.get("masterKeyID", MASTER_KEY_NAME))
            except WrongKey as exc:
                raise WrongKey(f"{data_file}: {exc}") from None
            entry["wrappedDEK"] = _wrap(new, data_key, entry.get("masterKeyID", MASTER_KEY_NAME))
            material[name] = entry
    outer = {name: json.dumps(entry, separators=(",", ":")) for name, entry in material.items()}
    path = key_material_file(data_file)
    tmp = path.with_name(path.name + ".rotating")
    with tmp.open("w") as fh:
        fh.write(json.dumps(outer, separators=(",", ":")))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True

"""SDF files as users download them: plain or gzipped (.sdf.gz), read whole, with one clear error for
a file that is not what its name says."""
from __future__ import annotations

import gzip
import os

from rdkit import Chem

SDF_SUFFIXES = (".sdf", ".sd", ".mol")


def is_sdf(path: str) -> bool:
    """An SDF by its name: .sdf, .sd, .mol, each optionally gzipped (.gz)."""
    name = path.lower()
    return name.removesuffix(".gz").endswith(SDF_SUFFIXES)


def read_sdf_text(path: str) -> str:
    """The file's text, decompressed when it ends in .gz; ValueError naming the file when it is not
    gzip data or not text."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no SDF file at {path}")
    try:
        if path.lower().endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} is not a readable gzip file ({exc})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = " (gzipped? name it .sdf.gz)" if data[:2] == b"\x1f\x8b" else ""
        raise ValueError(f"{path} is not a text SDF file{hint}") from exc


def read_sdf_records(path: str) -> list:
    """Every record of the file as an RDKit molecule with its hydrogens as written, None for a
    record RDKit cannot read; [] for a file with no records (RDKit would give one None)."""
    text = read_sdf_text(path)
    if not text.strip():
        return []
    supplier = Chem.SDMolSupplier()
    supplier.SetData(text, removeHs=False)
    return list(supplier)

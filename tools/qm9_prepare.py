#!/usr/bin/env python3
"""Turn the QM9 molecules shipped in the PyPI package `qm9pack` into an mtl dataset file.

The file layout (format version 1) is specified in experiments/qm9/DATA.md; this tool is its
reference writer, and read_mtlq() below is its reference reader.

    python3 tools/qm9_prepare.py --out data/qm9.mtlq
    python3 tools/qm9_prepare.py --out subset.mtlq --subset 1000 --seed 0
    python3 tools/qm9_prepare.py --check data/qm9.mtlq [--show 3]

Per molecule the file holds what PyTorch Geometric's QM9 dataset holds: atomic numbers,
positions, 11 node features, the bonds with their types and the 19 targets in PyG's units
and order. qm9pack has no bond orders, so they are rebuilt here: the molecule's SMILES graph
is laid onto the DFT geometry (see place_smiles_graph), with RDKit's geometry-only bond
perception as the fallback (see perceive_bonds_from_geometry).
"""

import argparse
import array
import csv
import importlib
import importlib.util
import math
import os
import struct
import sys
import time

PROG = "qm9_prepare"

# ---------------------------------------------------------------------------------------------
# File format, version 1 (experiments/qm9/DATA.md).

MAGIC = b"MTLQM9\0\0"
FORMAT_VERSION = 1
N_TARGETS = 19
N_NODE_FEATURES = 11
SECTION_NAMES = (
    "atom_offsets", "bond_offsets", "atomic_numbers", "positions",
    "node_features", "bonds", "targets", "mol_ids",
)
# magic, version, header size, n_molecules, n_atoms, n_bonds, n_targets, n_node_features,
# then (offset, length) per section, then the FNV-1a hash of every byte after the header.
HEADER_FORMAT = "<8sIIQQQII" + "QQ" * len(SECTION_NAMES) + "Q"
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)
assert HEADER_SIZE == 184

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF

# ---------------------------------------------------------------------------------------------
# Chemistry constants.

ELEMENTS = ("H", "C", "N", "O", "F")  # also the order of the one-hot node features
ATOMIC_NUMBER = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}

# Hartree -> eV, the CODATA 2018 value PyG's QM9 uses.
HARTREE_TO_EV = 27.211386246

# Isolated-atom energies of B3LYP/6-31G(2df,p) in Hartree, for U0, U, H, G: the QM9 "atomref"
# table (Ramakrishnan et al. 2014, figshare file 3195395).
ATOMREF_HARTREE = {
    "H": (-0.500273, -0.498857, -0.497912, -0.510927),
    "C": (-37.846772, -37.845355, -37.844411, -37.861317),
    "N": (-54.583861, -54.582445, -54.581501, -54.598897),
    "O": (-75.064579, -75.063163, -75.062219, -75.079532),
    "F": (-99.718730, -99.717314, -99.716370, -99.733544),
}

# The 19 targets in PyG's order: (name, unit, qm9pack column, factor). The four atomization
# energies have no column; they are computed from U0, U, H, G and ATOMREF_HARTREE.
TARGETS = (
    ("mu", "D", "Dipole_debye", 1.0),
    ("alpha", "a0^3", "Polarizability_bohr3", 1.0),
    ("homo", "eV", "HOMO_au", HARTREE_TO_EV),
    ("lumo", "eV", "LUMO_au", HARTREE_TO_EV),
    ("gap", "eV", "HOMO_LUMO_gap_au", HARTREE_TO_EV),
    ("r2", "a0^2", "R2_bohr2", 1.0),
    ("zpve", "eV", "ZPVE_au", HARTREE_TO_EV),
    ("U0", "eV", "InternalEnergy_0K_au", HARTREE_TO_EV),
    ("U", "eV", "InternalEnergy_298K_au", HARTREE_TO_EV),
    ("H", "eV", "Enthalphy_298K_au", HARTREE_TO_EV),
    ("G", "eV", "GibbsFreeEnergy_298K_au", HARTREE_TO_EV),
    ("cv", "cal/mol K", "Heatcapacity_Cv_cal_mol_K", 1.0),
    ("U0_atom", "eV", None, HARTREE_TO_EV),
    ("U_atom", "eV", None, HARTREE_TO_EV),
    ("H_atom", "eV", None, HARTREE_TO_EV),
    ("G_atom", "eV", None, HARTREE_TO_EV),
    ("A", "GHz", "RotA_GHz", 1.0),
    ("B", "GHz", "RotB_GHz", 1.0),
    ("C", "GHz", "RotC_GHz", 1.0),
)
assert len(TARGETS) == N_TARGETS
ATOMIZED_FROM = ("InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au",
                 "GibbsFreeEnergy_298K_au")

# Bond type codes, PyG's order.
BOND_SINGLE, BOND_DOUBLE, BOND_TRIPLE, BOND_AROMATIC = 0, 1, 2, 3
# Bond order used to score a placement of the SMILES graph (see place_smiles_graph).
BOND_ORDER = {BOND_SINGLE: 1.0, BOND_DOUBLE: 2.0, BOND_TRIPLE: 3.0, BOND_AROMATIC: 1.5}

# A SMILES bond may be placed on two atoms at most this many times the sum of their covalent
# radii apart. The longest bond QM9 needs is 1.29 times (a ring O-N bond); the shortest
# non-bonded heavy-atom pair is 1.24 times (bicyclo[1.1.1]pentane bridgeheads), which is why
# distance thresholds alone cannot give the connectivity.
PLACEMENT_BOUND = 1.35

QM9PACK_FILES = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
QM9PACK_COLUMNS = (
    "XYZ_file", "Index", "SMILES", "InChi", "N_atoms", "Stoichiometry", "Elements", "XYZ_Ang",
    "Mulliken_pop", "Harmonic_Freq_cmi", "RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye",
    "Polarizability_bohr3", "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au", "R2_bohr2", "ZPVE_au",
    "InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au",
    "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K",
)
QM9PACK_ROWS = 130831


class PrepareError(Exception):
    """A problem with the input, the arguments or a file; main() prints it on one line."""


# ---------------------------------------------------------------------------------------------
# Dependencies.


def require_module(name, pip_name):
    """Import a module or fail with the pip package that provides it."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise PrepareError(f"missing python package: cannot import {name} ({err}); "
                           f"install it with: python3 -m pip install {pip_name}") from None


def qm9pack_data_dir():
    """Where qm9pack keeps its CSV files, found without importing the package.

    Importing qm9pack imports pkg_resources, which setuptools >= 82 no longer ships."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise PrepareError("missing python package: qm9pack is not installed; "
                           "install it with: python3 -m pip install qm9pack")
    data_dir = os.path.join(list(spec.submodule_search_locations)[0], "data")
    for name in QM9PACK_FILES:
        if not os.path.isfile(os.path.join(data_dir, name)):
            raise PrepareError(f"qm9pack: data file missing: {os.path.join(data_dir, name)}")
    return data_dir


def qm9pack_version():
    from importlib import metadata
    try:
        return metadata.version("qm9pack")
    except metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# Reading qm9pack.


def read_qm9pack_rows(data_dir):
    """All rows of qm9pack's three CSV parts, in file order, as dicts of strings."""
    rows = []
    for name in QM9PACK_FILES:
        path = os.path.join(data_dir, name)
        with open(path, newline="", encoding="ascii") as f:
            reader = csv.reader(f)
            header = tuple(next(reader))
            if header != QM9PACK_COLUMNS:
                raise PrepareError(f"{path}:1: unexpected columns (expected "
                                   f"{','.join(QM9PACK_COLUMNS)}, got {','.join(header)})")
            for line, fields in enumerate(reader, start=2):
                if len(fields) != len(QM9PACK_COLUMNS):
                    raise PrepareError(f"{path}:{line}: wrong field count "
                                       f"(expected {len(QM9PACK_COLUMNS)}, got {len(fields)})")
                row = dict(zip(QM9PACK_COLUMNS, fields))
                row["_where"] = f"{name}:{line}"
                rows.append(row)
    check_row_order(rows)
    return rows


def check_row_order(rows):
    """The gdb index must increase strictly, so file order is gdb order."""
    previous = 0
    for row in rows:
        index = int(row["Index"])
        if index <= previous:
            raise PrepareError(f"qm9pack {row['_where']}: gdb index out of order "
                               f"(expected > {previous}, got {index})")
        if row["XYZ_file"] != f"dsgdb9nsd_{index:06d}.xyz":
            raise PrepareError(f"qm9pack {row['_where']}: XYZ_file does not match Index "
                               f"(expected dsgdb9nsd_{index:06d}.xyz, got {row['XYZ_file']})")
        previous = index


def parse_elements(row):
    """"['C','H','H']" -> ['C', 'H', 'H']."""
    text = row["Elements"].strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"Elements is not a list: {text[:40]}")
    symbols = [s.strip().strip("'\"") for s in text[1:-1].split(",")]
    for s in symbols:
        if s not in ATOMIC_NUMBER:
            raise ValueError(f"unknown element {s!r} (expected one of {', '.join(ELEMENTS)})")
    if len(symbols) != int(row["N_atoms"]):
        raise ValueError(f"atom count (expected N_atoms={row['N_atoms']}, got {len(symbols)})")
    return symbols


def parse_positions(row, n_atoms):
    """"[[x,y,z],...]" in Angstrom -> list of (x, y, z) floats."""
    text = row["XYZ_Ang"].replace("[", " ").replace("]", " ")
    values = [float(v) for v in text.split(",")]
    if len(values) != 3 * n_atoms:
        raise ValueError(f"coordinate count (expected {3 * n_atoms}, got {len(values)})")
    return [tuple(values[3 * i:3 * i + 3]) for i in range(n_atoms)]


def compute_targets(row, symbols):
    """The 19 targets in PyG's order and units, as float64."""
    out = []
    for name, _, column, factor in TARGETS:
        if column is None:
            k = ("U0_atom", "U_atom", "H_atom", "G_atom").index(name)
            total = float(row[ATOMIZED_FROM[k]])
            atoms = math.fsum(ATOMREF_HARTREE[s][k] for s in symbols)
            value = (total - atoms) * factor
        else:
            value = float(row[column]) * factor
        if not math.isfinite(value):
            raise ValueError(f"target {name} is not finite ({value})")
        out.append(value)
    return out


# ---------------------------------------------------------------------------------------------
# Bonds and node features.


def covalent_radius(chem, z):
    return chem.GetPeriodicTable().GetRcovalent(z)


def attach_hydrogens(z, pos, heavy, radii):
    """Bond each H to its nearest heavy atom (QM9 has no H2 and no bridging H).

    Returns (parent per H atom, H count per heavy atom), or None when an H is farther than
    PLACEMENT_BOUND allows from every heavy atom."""
    parent, count = {}, {i: 0 for i in heavy}
    for i, zi in enumerate(z):
        if zi != 1:
            continue
        if not heavy:
            return None
        j = min(heavy, key=lambda k: (math.dist(pos[i], pos[k]), k))
        if math.dist(pos[i], pos[j]) > PLACEMENT_BOUND * (radii[1] + radii[z[j]]):
            return None
        parent[i], count[j] = j, count[j] + 1
    return parent, count


def template_bfs_order(template):
    """Template atoms in breadth-first order, so each atom after a component's first has an
    already placed neighbour to constrain it."""
    order, seen = [], set()
    for start in range(template.GetNumAtoms()):
        if start in seen:
            continue
        queue = [start]
        seen.add(start)
        while queue:
            a = queue.pop(0)
            order.append(a)
            for nb in template.GetAtomWithIdx(a).GetNeighbors():
                if nb.GetIdx() not in seen:
                    seen.add(nb.GetIdx())
                    queue.append(nb.GetIdx())
    return order


def enumerate_placements(template, z, pos, heavy, h_count, radii):
    """Every one-to-one map of template atoms onto geometry heavy atoms that keeps element and
    hydrogen count and puts every template bond on a pair within PLACEMENT_BOUND."""
    t_z = [a.GetAtomicNum() for a in template.GetAtoms()]
    t_h = [a.GetTotalNumHs() for a in template.GetAtoms()]
    t_nbrs = [[nb.GetIdx() for nb in a.GetNeighbors()] for a in template.GetAtoms()]
    order = template_bfs_order(template)

    def close(x, y):
        return math.dist(pos[x], pos[y]) <= PLACEMENT_BOUND * (radii[z[x]] + radii[z[y]])

    found, placed, used = [], {}, set()

    def extend(k):
        if k == len(order):
            found.append(dict(placed))
            return
        a = order[k]
        for x in heavy:
            if x in used or z[x] != t_z[a] or h_count[x] != t_h[a]:
                continue
            if all(close(x, placed[b]) for b in t_nbrs[a] if b in placed):
                placed[a] = x
                used.add(x)
                extend(k + 1)
                del placed[a]
                used.discard(x)

    extend(0)
    return found


def place_smiles_graph(chem, smiles, z, pos, radii):
    """Lay the SMILES graph onto the geometry; None when it does not fit.

    qm9pack's SMILES lists heavy atoms in an order of its own, and in 418 molecules the
    geometry's heavy atoms come in another order, so the atoms are matched by search: element,
    hydrogen count and bond lengths must agree. Where several placements fit (symmetric
    molecules), the one with the smallest sum of bond order times bond length wins, so double
    bonds land on the shorter bonds; a tie keeps the first found, which is deterministic.
    Returns (template, placement: template atom -> geometry atom, parent: H atom -> heavy
    atom, number of distinct bond assignments that fit)."""
    template = chem.MolFromSmiles(smiles)
    if template is None or any(a.GetAtomicNum() == 1 for a in template.GetAtoms()):
        return None
    heavy = [i for i, zi in enumerate(z) if zi != 1]
    if sorted(a.GetAtomicNum() for a in template.GetAtoms()) != sorted(z[i] for i in heavy):
        return None
    attached = attach_hydrogens(z, pos, heavy, radii)
    if attached is None:
        return None
    placements = enumerate_placements(template, z, pos, heavy, attached[1], radii)
    if not placements:
        return None

    best, best_score, assignments = None, None, set()
    for placement in placements:
        score, assignment = 0.0, []
        for b in template.GetBonds():
            x, y = placement[b.GetBeginAtomIdx()], placement[b.GetEndAtomIdx()]
            code = rdkit_bond_code(chem, b)
            score += BOND_ORDER[code] * math.dist(pos[x], pos[y])
            assignment.append((min(x, y), max(x, y), code))
        assignments.add(tuple(sorted(assignment)))
        if best_score is None or score < best_score:
            best, best_score = placement, score
    return template, best, attached[0], len(assignments)


def rdkit_bond_code(chem, bond):
    bt = chem.BondType
    codes = {bt.SINGLE: BOND_SINGLE, bt.DOUBLE: BOND_DOUBLE, bt.TRIPLE: BOND_TRIPLE,
             bt.AROMATIC: BOND_AROMATIC}
    if bond.GetBondType() not in codes:
        raise ValueError(f"unsupported bond type {bond.GetBondType()}")
    return codes[bond.GetBondType()]


def hybridization_flags(chem, atom):
    h = atom.GetHybridization()
    ht = chem.HybridizationType
    return (int(h == ht.SP), int(h == ht.SP2), int(h == ht.SP3))


def node_features(symbol, aromatic, hybrid, num_hs):
    """PyG's 11 QM9 node features: one-hot H C N O F, Z, aromatic, sp, sp2, sp3, num_hs."""
    onehot = [int(symbol == e) for e in ELEMENTS]
    return tuple(onehot + [ATOMIC_NUMBER[symbol], int(aromatic)] + list(hybrid) + [num_hs])


def bonds_from_placement(chem, symbols, template, placement, parent):
    """Node features and bonds of a molecule whose SMILES graph was placed."""
    n = len(symbols)
    bonds = []
    for b in template.GetBonds():
        x, y = placement[b.GetBeginAtomIdx()], placement[b.GetEndAtomIdx()]
        bonds.append((min(x, y), max(x, y), rdkit_bond_code(chem, b)))
    for h, x in parent.items():
        bonds.append((min(h, x), max(h, x), BOND_SINGLE))

    num_hs = [0] * n
    for h, x in parent.items():
        num_hs[x] += 1
    feats = [node_features(s, False, (0, 0, 0), 0) for s in symbols]
    for t, x in placement.items():
        atom = template.GetAtomWithIdx(t)
        feats[x] = node_features(symbols[x], atom.GetIsAromatic(),
                                 hybridization_flags(chem, atom), num_hs[x])
    return feats, sorted(bonds)


def perceive_bonds_from_geometry(chem, symbols, pos):
    """Fallback: RDKit's bond perception from coordinates alone (extended Hueckel connectivity,
    then bond orders for a neutral molecule), sanitized."""
    from rdkit.Chem import rdDetermineBonds
    from rdkit.Geometry import Point3D

    mol = chem.RWMol()
    for s in symbols:
        mol.AddAtom(chem.Atom(ATOMIC_NUMBER[s]))
    conf = chem.Conformer(len(symbols))
    for i, p in enumerate(pos):
        conf.SetAtomPosition(i, Point3D(*p))
    mol.AddConformer(conf, assignId=True)
    rdDetermineBonds.DetermineBonds(mol, useHueckel=True, charge=0)
    chem.SanitizeMol(mol)

    bonds = sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                    max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()), rdkit_bond_code(chem, b))
                   for b in mol.GetBonds())
    feats = []
    for atom in mol.GetAtoms():
        num_hs = sum(1 for nb in atom.GetNeighbors() if nb.GetAtomicNum() == 1)
        if atom.GetAtomicNum() == 1 and atom.GetDegree() != 1:
            raise ValueError(f"hydrogen {atom.GetIdx()} has {atom.GetDegree()} bonds")
        hybrid = hybridization_flags(chem, atom) if atom.GetAtomicNum() != 1 else (0, 0, 0)
        feats.append(node_features(atom.GetSymbol(), atom.GetIsAromatic(), hybrid, num_hs))
    return feats, bonds


class Molecule:
    __slots__ = ("mol_id", "z", "pos", "feats", "bonds", "targets", "method", "n_assignments")


def build_molecule(chem, row, radii):
    """One qm9pack row -> Molecule; raises ValueError with the reason it cannot be used."""
    symbols = parse_elements(row)
    pos = parse_positions(row, len(symbols))
    z = [ATOMIC_NUMBER[s] for s in symbols]
    if len(z) > 255:
        raise ValueError(f"too many atoms for uint8 bond indices ({len(z)})")

    m = Molecule()
    m.mol_id, m.z, m.pos = int(row["Index"]), z, pos
    m.targets = compute_targets(row, symbols)
    placed = place_smiles_graph(chem, row["SMILES"], z, pos, radii)
    if placed is not None:
        template, placement, parent, m.n_assignments = placed
        m.feats, m.bonds = bonds_from_placement(chem, symbols, template, placement, parent)
        m.method = "smiles"
    else:
        try:
            m.feats, m.bonds = perceive_bonds_from_geometry(chem, symbols, pos)
        except Exception as err:  # RDKit raises several types; any of them means "drop"
            raise ValueError(f"SMILES graph does not fit the geometry and RDKit's geometric "
                             f"bond perception failed: {err}") from None
        m.method, m.n_assignments = "geometry", 1
    return m


# ---------------------------------------------------------------------------------------------
# Writing.


def align8(n):
    return (n + 7) & ~7


def fnv1a64(data, h=FNV64_OFFSET):
    for byte in data:
        h = ((h ^ byte) * FNV64_PRIME) & MASK64
    return h


def section_payloads(mols):
    """The eight sections' bytes, little-endian, in SECTION_NAMES order."""
    import numpy as np

    n_atoms = np.array([len(m.z) for m in mols], dtype=np.uint64)
    n_bonds = np.array([len(m.bonds) for m in mols], dtype=np.uint64)
    zero = np.zeros(1, dtype=np.uint64)
    atom_offsets = np.concatenate([zero, np.cumsum(n_atoms, dtype=np.uint64)])
    bond_offsets = np.concatenate([zero, np.cumsum(n_bonds, dtype=np.uint64)])

    z = np.array([zi for m in mols for zi in m.z], dtype=np.uint8)
    pos = np.array([p for m in mols for p in m.pos], dtype=np.float64).astype("<f4")
    feats = np.array([f for m in mols for f in m.feats], dtype=np.uint8)
    bonds = np.array([b for m in mols for b in m.bonds], dtype=np.uint8).reshape(-1, 3)
    targets = np.array([m.targets for m in mols], dtype=np.float64).astype("<f4")
    ids = np.array([m.mol_id for m in mols], dtype="<u4")
    return [atom_offsets.astype("<u8").tobytes(), bond_offsets.astype("<u8").tobytes(),
            z.tobytes(), pos.tobytes(), feats.tobytes(), bonds.tobytes(), targets.tobytes(),
            ids.tobytes()]


def write_mtlq(path, mols):
    """Write mols to path (via a temporary file, so a failed run leaves no partial file).

    Returns the hash of the data after the header."""
    payloads = section_payloads(mols)
    body, table = bytearray(), []
    for data in payloads:
        # Pad before each section, not after the last, so the last section ends the file.
        body += b"\0" * (align8(HEADER_SIZE + len(body)) - HEADER_SIZE - len(body))
        table += [HEADER_SIZE + len(body), len(data)]
        body += data

    digest = fnv1a64(body)
    n_atoms = sum(len(m.z) for m in mols)
    n_bonds = sum(len(m.bonds) for m in mols)
    header = struct.pack(HEADER_FORMAT, MAGIC, FORMAT_VERSION, HEADER_SIZE, len(mols), n_atoms,
                         n_bonds, N_TARGETS, N_NODE_FEATURES, *table, digest)

    tmp = f"{path}.tmp{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(body)
        os.replace(tmp, path)
    except OSError as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise PrepareError(f"{path}: cannot write: {err.strerror}") from None
    return digest


# ---------------------------------------------------------------------------------------------
# Reading: the reference reader a C reader is compared with. Standard library only.


def _array(typecode, data):
    out = array.array(typecode)
    out.frombytes(data)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def _fail(path, what):
    raise PrepareError(f"{path}: {what}")


def read_header(path, blob):
    if len(blob) < HEADER_SIZE:
        _fail(path, f"file too short for the header (expected >= {HEADER_SIZE} bytes, "
                    f"got {len(blob)})")
    fields = struct.unpack_from(HEADER_FORMAT, blob, 0)
    magic, version, header_size, n_mols, n_atoms, n_bonds, n_targets, n_feats = fields[:8]
    if magic != MAGIC:
        _fail(path, f"bad magic (expected {MAGIC!r}, got {magic!r})")
    if version != FORMAT_VERSION:
        _fail(path, f"unsupported format version (expected {FORMAT_VERSION}, got {version})")
    for name, want, got in (("header size", HEADER_SIZE, header_size),
                            ("n_targets", N_TARGETS, n_targets),
                            ("n_node_features", N_NODE_FEATURES, n_feats)):
        if want != got:
            _fail(path, f"bad {name} (expected {want}, got {got})")
    table = fields[8:8 + 2 * len(SECTION_NAMES)]
    sections = {name: (table[2 * k], table[2 * k + 1]) for k, name in enumerate(SECTION_NAMES)}
    return {"n_molecules": n_mols, "n_atoms": n_atoms, "n_bonds": n_bonds,
            "sections": sections, "hash": fields[-1]}


def check_section_table(path, blob, head):
    """Sections follow each other in order, each at the next multiple of 8, with the sizes the
    counts imply, and the last one ends the file."""
    n, a, b = head["n_molecules"], head["n_atoms"], head["n_bonds"]
    expected_len = {"atom_offsets": 8 * (n + 1), "bond_offsets": 8 * (n + 1),
                    "atomic_numbers": a, "positions": 12 * a,
                    "node_features": N_NODE_FEATURES * a, "bonds": 3 * b,
                    "targets": 4 * N_TARGETS * n, "mol_ids": 4 * n}
    at = HEADER_SIZE
    for name in SECTION_NAMES:
        offset, length = head["sections"][name]
        if offset != at:
            _fail(path, f"section {name}: bad offset (expected {at}, got {offset})")
        if length != expected_len[name]:
            _fail(path, f"section {name}: bad length (expected {expected_len[name]}, "
                        f"got {length})")
        if name != SECTION_NAMES[-1] and any(blob[offset + length:align8(offset + length)]):
            _fail(path, f"section {name}: non-zero padding")
        end = offset + length
        at = align8(end)
    if len(blob) != end:
        _fail(path, f"file size does not match the section table (expected {end} bytes, "
                    f"got {len(blob)}; truncated or trailing data)")


def check_offsets(path, name, offsets, total):
    if offsets[0] != 0 or offsets[-1] != total:
        _fail(path, f"section {name}: bad bounds (expected 0 .. {total}, "
                    f"got {offsets[0]} .. {offsets[-1]})")
    for i in range(len(offsets) - 1):
        if offsets[i + 1] < offsets[i]:
            _fail(path, f"section {name}: decreasing at molecule {i} "
                        f"({offsets[i]} then {offsets[i + 1]})")


def check_contents(path, d):
    for i, zi in enumerate(d["atomic_numbers"]):
        if zi not in (1, 6, 7, 8, 9):
            _fail(path, f"atom {i}: bad atomic number (expected 1, 6, 7, 8 or 9, got {zi})")
    bonds, ao, bo = d["bonds"], d["atom_offsets"], d["bond_offsets"]
    for m in range(d["n_molecules"]):
        n_atoms = ao[m + 1] - ao[m]
        for k in range(bo[m], bo[m + 1]):
            i, j, t = bonds[3 * k], bonds[3 * k + 1], bonds[3 * k + 2]
            if not (i < j < n_atoms) or t > BOND_AROMATIC:
                _fail(path, f"molecule {m} bond {k - bo[m]}: bad bond (expected i < j < "
                            f"{n_atoms} and type <= 3, got {i}, {j}, {t})")


def read_mtlq(path, validate_contents=True):
    """Load and validate a dataset file; returns a dict of counts and flat arrays."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as err:
        raise PrepareError(f"{path}: cannot read: {err.strerror}") from None
    head = read_header(path, blob)
    check_section_table(path, blob, head)
    digest = fnv1a64(memoryview(blob)[HEADER_SIZE:])
    if digest != head["hash"]:
        _fail(path, f"data hash mismatch (expected {head['hash']:016x}, got {digest:016x}; "
                    f"the file is corrupt)")

    def section(name):
        offset, length = head["sections"][name]
        return blob[offset:offset + length]

    d = dict(head)
    d["atom_offsets"] = _array("Q", section("atom_offsets"))
    d["bond_offsets"] = _array("Q", section("bond_offsets"))
    d["atomic_numbers"] = section("atomic_numbers")
    d["positions"] = _array("f", section("positions"))
    d["node_features"] = section("node_features")
    d["bonds"] = section("bonds")
    d["targets"] = _array("f", section("targets"))
    d["mol_ids"] = _array("I", section("mol_ids"))
    check_offsets(path, "atom_offsets", d["atom_offsets"], d["n_atoms"])
    check_offsets(path, "bond_offsets", d["bond_offsets"], d["n_bonds"])
    if validate_contents:
        check_contents(path, d)
    return d


# ---------------------------------------------------------------------------------------------
# Summaries.


def describe_molecule(d, m):
    """Lines describing molecule m of a loaded file, in DATA.md's table format."""
    a0, a1 = d["atom_offsets"][m], d["atom_offsets"][m + 1]
    b0, b1 = d["bond_offsets"][m], d["bond_offsets"][m + 1]
    lines = [f"molecule {m}: gdb id {d['mol_ids'][m]}, {a1 - a0} atoms, {b1 - b0} bonds"]
    t = d["targets"][N_TARGETS * m:N_TARGETS * (m + 1)]
    lines.append("  targets: " + " ".join(f"{TARGETS[k][0]}={t[k]:.9g}" for k in range(N_TARGETS)))
    for i in range(a1 - a0):
        a = a0 + i
        p = d["positions"][3 * a:3 * a + 3]
        f = list(d["node_features"][N_NODE_FEATURES * a:N_NODE_FEATURES * (a + 1)])
        lines.append(f"  atom {i}: z={d['atomic_numbers'][a]} "
                     f"pos=({p[0]:.9g}, {p[1]:.9g}, {p[2]:.9g}) x={f}")
    names = ("single", "double", "triple", "aromatic")
    bonds = d["bonds"]
    lines.append("  bonds: " + ", ".join(
        f"{bonds[3 * k]}-{bonds[3 * k + 1]} {names[bonds[3 * k + 2]]}" for k in range(b0, b1)))
    return lines


def print_check_summary(path, d, show):
    n = d["n_molecules"]
    print(f"{path}: format version {FORMAT_VERSION}, hash {d['hash']:016x}")
    print(f"  molecules {n}, atoms {d['n_atoms']}, bonds {d['n_bonds']}")
    if n == 0:
        return
    sizes = [d["atom_offsets"][m + 1] - d["atom_offsets"][m] for m in range(n)]
    print(f"  atoms per molecule: min {min(sizes)}, mean {sum(sizes) / n:.3f}, max {max(sizes)}")
    print(f"  gdb ids: {d['mol_ids'][0]} .. {d['mol_ids'][-1]}")
    elements = {s: d["atomic_numbers"].count(ATOMIC_NUMBER[s]) for s in ELEMENTS}
    print("  atoms by element: " + ", ".join(f"{s} {c}" for s, c in elements.items()))
    types = [d["bonds"][2::3].count(t) for t in range(4)]
    print(f"  bonds by type: single {types[0]}, double {types[1]}, triple {types[2]}, "
          f"aromatic {types[3]}")
    feats = d["node_features"]
    sums = [sum(feats[k::N_NODE_FEATURES]) for k in range(N_NODE_FEATURES)]
    print("  node feature column sums: " + " ".join(str(s) for s in sums))
    print(f"  {'target':<8} {'unit':<10} {'mean':>14} {'std':>14}")
    for k, (name, unit, _, _) in enumerate(TARGETS):
        values = d["targets"][k::N_TARGETS]
        mean = math.fsum(values) / n
        var = math.fsum((v - mean) ** 2 for v in values) / max(n - 1, 1)
        print(f"  {name:<8} {unit:<10} {mean:>14.6f} {math.sqrt(var):>14.6f}")
    for m in range(min(show, n)):
        print("\n".join(describe_molecule(d, m)))


# ---------------------------------------------------------------------------------------------
# Command line.


def choose_subset(n_rows, size, seed):
    """Row indices of a seeded subset, in original order.

    Recipe: keys = numpy.random.default_rng(seed).random(n_rows); the rows with the `size`
    smallest keys (stable argsort), sorted by row. Plain doubles from PCG64 are the most stable
    output numpy has across versions."""
    np = require_module("numpy", "numpy")
    keys = np.random.default_rng(seed).random(n_rows)
    chosen = np.argsort(keys, kind="stable")[:size]
    return sorted(int(i) for i in chosen)


def prepare(args):
    chem = require_module("rdkit.Chem", "rdkit")
    require_module("numpy", "numpy")
    from rdkit import RDLogger, rdBase
    RDLogger.DisableLog("rdApp.*")

    if os.path.isdir(args.out):
        raise PrepareError(f"--out: {args.out} is a directory (expected a file path)")
    start = time.monotonic()
    data_dir = qm9pack_data_dir()
    print(f"{PROG}: reading qm9pack {qm9pack_version()} from {data_dir}", flush=True)
    rows = read_qm9pack_rows(data_dir)
    if len(rows) != QM9PACK_ROWS:
        print(f"{PROG}: warning: qm9pack has {len(rows)} molecules (expected {QM9PACK_ROWS})")
    if args.subset is not None:
        if args.subset > len(rows):
            raise PrepareError(f"--subset: larger than the dataset (expected <= {len(rows)}, "
                               f"got {args.subset})")
        rows = [rows[i] for i in choose_subset(len(rows), args.subset, args.seed)]
    print(f"{PROG}: building {len(rows)} molecules with RDKit {rdBase.rdkitVersion}", flush=True)

    radii = {z: covalent_radius(chem, z) for z in ATOMIC_NUMBER.values()}
    mols, dropped = [], []
    for k, row in enumerate(rows):
        try:
            mols.append(build_molecule(chem, row, radii))
        except ValueError as err:
            dropped.append((row["Index"], row["_where"], str(err)))
        if (k + 1) % 10000 == 0:
            print(f"{PROG}: {k + 1}/{len(rows)} molecules ({time.monotonic() - start:.0f} s)",
                  flush=True)

    digest = write_mtlq(args.out, mols)
    print_prepare_summary(args.out, mols, dropped, digest, time.monotonic() - start)
    return 0


def print_prepare_summary(path, mols, dropped, digest, seconds):
    fallback = [m.mol_id for m in mols if m.method == "geometry"]
    multi = [m.mol_id for m in mols if m.n_assignments > 1]
    print(f"{PROG}: wrote {path}: {len(mols)} molecules kept, {len(dropped)} dropped, "
          f"{sum(len(m.z) for m in mols)} atoms, {sum(len(m.bonds) for m in mols)} bonds, "
          f"hash {digest:016x}, {seconds:.1f} s")
    print(f"{PROG}: bonds from the SMILES graph: {len(mols) - len(fallback)}; "
          f"from geometry (SMILES graph does not fit): {len(fallback)}"
          + (f" (gdb ids {', '.join(map(str, fallback))})" if fallback else ""))
    print(f"{PROG}: molecules whose SMILES graph fits the geometry with more than one bond-order "
          f"placement (resolved by bond lengths): {len(multi)}"
          + (f" (first gdb ids {', '.join(map(str, multi[:10]))})" if multi else ""))
    for mol_id, where, reason in dropped:
        print(f"{PROG}: dropped gdb id {mol_id} (qm9pack {where}): {reason}")


def check(args):
    d = read_mtlq(args.check)
    print_check_summary(args.check, d, args.show)
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line on stderr and exit status 2, instead of argparse's usage block."""
        self.exit(2, f"{PROG}: error: {message} (see --help)\n")


def parse_args(argv):
    p = _Parser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("--out", help="write the dataset file here (e.g. data/qm9.mtlq)")
    p.add_argument("--subset", type=int, help="keep N molecules chosen with --seed")
    p.add_argument("--seed", type=int, help="seed of the subset choice (default 0)")
    p.add_argument("--check", metavar="FILE", help="validate FILE and print a summary")
    p.add_argument("--show", type=int, default=0, metavar="K",
                   help="with --check: also print the first K molecules")
    args = p.parse_args(argv)

    def bad(message):
        p.error(message)

    if (args.out is None) == (args.check is None):
        bad("give exactly one of --out FILE and --check FILE")
    if args.check is not None and (args.subset is not None or args.seed is not None):
        bad("--subset and --seed go with --out, not --check")
    if args.out is not None and args.show:
        bad("--show goes with --check")
    if args.subset is not None and args.subset < 1:
        bad(f"--subset: must be positive (got {args.subset})")
    if args.seed is not None and args.subset is None:
        bad("--seed needs --subset")
    if args.show < 0:
        bad(f"--show: must not be negative (got {args.show})")
    if args.seed is None:
        args.seed = 0
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return check(args) if args.check is not None else prepare(args)
    except PrepareError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

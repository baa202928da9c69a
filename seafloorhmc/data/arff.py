"""The HMC benchmark datasets (CLUS ARFF, as distributed with C-HMCNN), read the way C-HMCNN reads them.

These feature-vector datasets (FunCat "FUN" trees, Gene Ontology "GO" DAGs, and the "others" such as
Diatoms) are where the max-constraint head and the rare-node loss have published numbers, so the
conventions below follow C-HMCNN's ``utils/parser.py`` exactly, to make results comparable:

* ``@ATTRIBUTE class hierarchical e1,e2,...`` declares the hierarchy.
  FUN/others: each entry ``a/b/c`` adds the nodes ``a``, ``a/b``, ``a/b/c`` (edges ``a``→``a/b``→
  ``a/b/c``) and single-component entries hang under a node ``root``. GO: each entry
  ``parent/child`` is one edge of a DAG whose top node is ``root``.
* Not evaluated (roots): FUN/others ``root``; GO ``root``, ``GO0003674``, ``GO0005575``,
  ``GO0008150``.
* Data rows: comma-separated features, ``?`` = missing (NaN), nominal ``{a,b}`` attributes
  one-hot encoded (an unknown value or ``?`` gives all zeros); the class field lists node ids
  joined by ``@``; anything after ``%`` is a comment. Labels are closed under ancestors only in
  :meth:`HMCDataset.targets`. A feature written as ``nan``/``inf``, or beyond what float32 holds
  (±3.4e38, e.g. ``1e308``), is an error naming file, line and column: the model works in float32,
  and such a value would overflow the standardisation and poison every row it is scaled with.
* Preprocessing (:class:`HMCPreprocessor`): mean imputation + standardisation fitted on train ∪
  valid (C-HMCNN: train ∪ valid for FUN/GO, train for "others", which have no valid split).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ..taxonomy import Taxonomy, TaxonomyError
from .errors import AnnotationFormatError

__all__ = ["ArffSplit", "HMCDataset", "HMCPreprocessor", "read_arff", "infer_is_go", "hierarchy_edges",
           "build_taxonomy", "ancestor_index", "closed_targets", "fit_preprocessor", "load_hmc_dataset", "MAX_FEATURE",
           "ROOT", "GO_TOP_TERMS"]

ROOT = "root"
GO_TOP_TERMS = ("GO0003674", "GO0005575", "GO0008150")  # molecular function, cellular component, process
NUMERIC_TYPES = ("numeric", "real", "integer")
SPLITS = ("train", "valid", "test")
_ATTRIBUTE = re.compile(r"@attribute\s+('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+)\s+(.*)$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------- one file
@dataclass(repr=False)
class ArffSplit:
    """One ARFF file: features, raw label ids per row (ancestors not added) and the hierarchy.

    ``X`` is float64 [n, d] with NaN for missing values; ``hierarchy`` the (parent, child) edges
    declared in the header, in declaration order.
    """

    path: Path
    X: np.ndarray
    labels: list[list[str]]
    feature_names: list[str]
    hierarchy: list[tuple[str, str]]
    is_go: bool
    relation: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return (f"ArffSplit({self.path.name}: {len(self)} rows, {self.X.shape[1]} features, "
                f"{len(self.hierarchy)} hierarchy edges, {'GO' if self.is_go else 'tree'})")

    def taxonomy(self) -> Taxonomy:
        """The declared hierarchy as a :class:`Taxonomy` with C-HMCNN's evaluation exclusions.

        Returns:
            The taxonomy.
        """
        return build_taxonomy(self.hierarchy, self.is_go, where=str(self.path))


def read_arff(path: str | Path, is_go: bool | None = None) -> ArffSplit:
    """Parse one HMC ARFF file; ``is_go=None`` infers GO from a hierarchy of ``root/...`` term pairs.

    Malformed headers, wrong field counts, bad or non-finite numbers and labels missing from the
    hierarchy are :class:`AnnotationFormatError` s naming the file and line.

    Args:
        path: The ARFF file.
        is_go: Whether the hierarchy is a GO DAG (None: infer it).

    Returns:
        The split's features, labels and hierarchy.

    Raises:
        AnnotationFormatError: Naming the file, line and column of the first problem.
    """
    path = Path(path)
    lines = _read_lines(path)
    header = _parse_header(path, lines)
    entries = header.hierarchy
    if is_go is None:
        is_go = infer_is_go(entries)
    try:
        edges = hierarchy_edges(entries, is_go)
    except TaxonomyError as err:
        raise AnnotationFormatError(str(err), path, header.hierarchy_line) from None
    nodes = {n for edge in edges for n in edge}
    X, labels = _parse_data(path, lines, header, nodes)
    return ArffSplit(path=path, X=X, labels=labels, feature_names=header.feature_names(),
                     hierarchy=edges, is_go=is_go, relation=header.relation)


def infer_is_go(entries: Sequence[str]) -> bool:
    """Whether a declared hierarchy is GO's: ``parent/child`` term pairs with ``root`` among the parents.

    Args:
        entries: The hierarchy's entries.

    Returns:
        True for a GO DAG.
    """
    pairs = [e.split("/") for e in entries]
    return bool(pairs) and all(len(p) == 2 for p in pairs) and any(p[0] == ROOT for p in pairs)


def hierarchy_edges(entries: Iterable[str], is_go: bool) -> list[tuple[str, str]]:
    """(parent, child) edges of the declared hierarchy, C-HMCNN's way (see the module docstring).

    Args:
        entries: The hierarchy's entries.
        is_go: Whether they are GO ``parent/child`` pairs.

    Returns:
        The edges, in declaration order.

    Raises:
        TaxonomyError: For an empty component, a GO entry that is not a pair, or no entries.
    """
    edges: dict[tuple[str, str], None] = {}
    for entry in entries:
        parts = entry.split("/")
        if any(not p for p in parts):
            raise TaxonomyError(f"hierarchy entry {entry!r} has an empty component")
        if is_go:
            if len(parts) != 2:
                raise TaxonomyError(f"GO hierarchy entry {entry!r} is not a parent/child pair")
            edges[(parts[0], parts[1])] = None
        elif len(parts) == 1:
            edges[(ROOT, parts[0])] = None
        else:
            for i in range(1, len(parts)):
                edges[("/".join(parts[:i]), "/".join(parts[:i + 1]))] = None
    if not edges:
        raise TaxonomyError("the class attribute declares an empty hierarchy")
    return list(edges)


def build_taxonomy(edges: Iterable[tuple[str, str]], is_go: bool, where: str = "hierarchy") -> Taxonomy:
    """A :class:`Taxonomy` of ``edges`` excluding C-HMCNN's roots from evaluation.

    Args:
        edges: (parent, child) pairs.
        is_go: Whether the GO top terms are excluded too.
        where: Names the source in errors.

    Returns:
        The taxonomy.

    Raises:
        AnnotationFormatError: If the edges do not form a DAG.
    """
    edges = list(edges)
    present = {n for edge in edges for n in edge}
    skip = (ROOT, *GO_TOP_TERMS) if is_go else (ROOT,)
    try:
        return Taxonomy.from_edges(edges, exclude_from_eval=[n for n in skip if n in present])
    except TaxonomyError as err:
        raise AnnotationFormatError(str(err), where) from None


@dataclass
class _Attribute:
    name: str
    kind: str  # "numeric" | "nominal" | "hierarchical"
    values: tuple[str, ...] = ()


@dataclass
class _Header:
    relation: str = ""
    attributes: list[_Attribute] = field(default_factory=list)
    hierarchy: list[str] = field(default_factory=list)
    hierarchy_line: int = 0
    data_line: int = 0

    @property
    def class_index(self) -> int:
        return next(i for i, a in enumerate(self.attributes) if a.kind == "hierarchical")

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for attr in self.attributes:
            if attr.kind == "numeric":
                names.append(attr.name)
            elif attr.kind == "nominal":
                names.extend(f"{attr.name}={v}" for v in attr.values)
        return names


def _read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AnnotationFormatError(f"cannot read ARFF file: {err.strerror or err}", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if not text.strip():
        raise AnnotationFormatError("the file is empty", path)
    return text.splitlines()


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_header(path: Path, lines: list[str]) -> _Header:
    header = _Header()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        keyword = line.split(None, 1)[0].lower()
        if keyword == "@relation":
            header.relation = _unquote(line[len("@relation"):])
        elif keyword == "@attribute":
            header.attributes.append(_parse_attribute(path, number, line, header))
        elif keyword == "@data":
            header.data_line = number
            break
        else:
            raise AnnotationFormatError(f"unexpected line before @DATA: {line[:60]!r}", path, number)
    if not header.data_line:
        raise AnnotationFormatError("no @DATA section", path)
    kinds = [a.kind for a in header.attributes]
    if kinds.count("hierarchical") != 1:
        raise AnnotationFormatError(
            f"expected exactly one 'hierarchical' class attribute, found {kinds.count('hierarchical')}", path)
    return header


def _parse_attribute(path: Path, number: int, line: str, header: _Header) -> _Attribute:
    match = _ATTRIBUTE.match(line)
    if not match:
        raise AnnotationFormatError(f"malformed @ATTRIBUTE line {line[:60]!r}", path, number)
    name, spec = _unquote(match.group(1)), match.group(2).strip()
    kind = spec.split(None, 1)[0].lower()
    if kind in NUMERIC_TYPES:
        return _Attribute(name, "numeric")
    if spec.startswith("{"):
        if not spec.endswith("}"):
            raise AnnotationFormatError(f"nominal attribute {name!r}: unclosed '{{'", path, number)
        values = tuple(_unquote(v) for v in spec[1:-1].split(","))
        return _Attribute(name, "nominal", values)
    if kind == "hierarchical":
        header.hierarchy = [e.strip() for e in spec[len("hierarchical"):].split(",") if e.strip()]
        header.hierarchy_line = number
        return _Attribute(name, "hierarchical")
    raise AnnotationFormatError(f"attribute {name!r} has unsupported type {spec.split()[0]!r} "
                                "(numeric, nominal {...} and hierarchical are supported)", path, number)


def _parse_data(path: Path, lines: list[str], header: _Header, nodes: set[str]) -> tuple[np.ndarray, list[list[str]]]:
    attrs = header.attributes
    class_at = header.class_index
    one_hot = {i: {v: k for k, v in enumerate(a.values)} for i, a in enumerate(attrs) if a.kind == "nominal"}
    width = len(header.feature_names())
    rows: list[np.ndarray] = []
    labels: list[list[str]] = []
    for number in range(header.data_line + 1, len(lines) + 1):
        line = lines[number - 1].split("%", 1)[0].strip()
        if not line:
            continue
        if line.startswith("{"):
            raise AnnotationFormatError("sparse ARFF rows are not supported", path, number)
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(attrs):
            raise AnnotationFormatError(f"row has {len(fields)} fields, expected {len(attrs)} (one per @ATTRIBUTE)",
                                        path, number)
        row = np.zeros(width)
        col = 0
        for i, (attr, text) in enumerate(zip(attrs, fields)):
            if attr.kind == "numeric":
                row[col] = _number(path, number, attr.name, text)
                col += 1
            elif attr.kind == "nominal":
                position = one_hot[i].get(_unquote(text))
                if position is not None:
                    row[col + position] = 1.0
                col += len(attr.values)
        rows.append(row)
        labels.append(_labels(path, number, fields[class_at], nodes))
    if not rows:
        raise AnnotationFormatError("no data rows after @DATA", path, header.data_line)
    return np.stack(rows), labels


#: The largest feature magnitude accepted: what float32, the model's precision, can hold.
MAX_FEATURE = float(np.finfo(np.float32).max)


def _number(path: Path, number: int, column: str, text: str) -> float:
    if text == "?":
        return np.nan
    try:
        value = float(text)
    except ValueError:
        raise AnnotationFormatError(f"{text!r} is not a number", path, number, column) from None
    if not np.isfinite(value):
        raise AnnotationFormatError(f"{text!r} is not a finite number (write a missing value as '?')", path,
                                    number, column)
    if abs(value) > MAX_FEATURE:
        raise AnnotationFormatError(f"{text!r} is beyond what float32 holds (±{MAX_FEATURE:.3g}); the model "
                                    "computes in float32", path, number, column)
    return value


def _labels(path: Path, number: int, text: str, nodes: set[str]) -> list[str]:
    labels = list(dict.fromkeys(t.strip() for t in text.split("@") if t.strip()))
    if not labels:
        raise AnnotationFormatError("row has no class labels", path, number, "class")
    for label in labels:
        if label not in nodes:
            raise AnnotationFormatError(f"label {label!r} is not in the declared hierarchy", path, number, "class")
    return labels


# ------------------------------------------------------------------------------- ancestor closure
def ancestor_index(taxonomy: Taxonomy) -> list[np.ndarray]:
    """For each node, the sorted indices of itself and all its ancestors (one pass, parents first).

    Args:
        taxonomy: The hierarchy.

    Returns:
        One index array per node.
    """
    closure: list[np.ndarray] = []
    for i in range(len(taxonomy)):
        parts = [np.array([i], dtype=np.int64), *(closure[p] for p in taxonomy.parents[i])]
        closure.append(np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0])
    return closure


def closed_targets(label_lists: Sequence[Sequence[str]], taxonomy: Taxonomy,
                   ancestors: list[np.ndarray] | None = None) -> np.ndarray:
    """Targets closed under ancestors: 1 on every listed node and on all its ancestors.

    Args:
        label_lists: Node ids per row.
        taxonomy: The hierarchy.
        ancestors: :func:`ancestor_index` of ``taxonomy`` (computed when None).

    Returns:
        float32 [n, N].
    """
    ancestors = ancestor_index(taxonomy) if ancestors is None else ancestors
    targets = np.zeros((len(label_lists), len(taxonomy)), dtype=np.float32)
    rows, cols = [], []
    for r, labels in enumerate(label_lists):
        if labels:
            idx = np.concatenate([ancestors[taxonomy.index[label]] for label in labels])
            cols.append(idx)
            rows.append(np.full(len(idx), r, dtype=np.int64))
    if cols:
        targets[np.concatenate(rows), np.concatenate(cols)] = 1.0
    return targets


# ----------------------------------------------------------------------------------- preprocessing
class HMCPreprocessor:
    """Mean imputation + standardisation of HMC features (scikit-learn ``SimpleImputer`` → ``StandardScaler``).

    ``impute="train"`` (default): missing values everywhere are filled with the means of the rows
    the preprocessor was fitted on. ``impute="per_split"``: C-HMCNN's behaviour — each array passed
    to :meth:`fit` or :meth:`transform` first has its NaNs filled with *its own* column means (so
    the test split is imputed with test statistics, a small leak), then the same pipeline runs.
    Columns that are entirely missing in the fitted rows become 0.

    Args:
        impute: ``train`` or ``per_split``.

    Raises:
        ValueError: For another mode.
    """

    IMPUTE_MODES = ("train", "per_split")

    def __init__(self, impute: str = "train") -> None:
        if impute not in self.IMPUTE_MODES:
            raise ValueError(f"impute must be one of {self.IMPUTE_MODES}, got {impute!r}")
        self.impute = impute
        self.pipeline = Pipeline([
            ("impute", SimpleImputer(strategy="mean", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ])

    def fit(self, X: np.ndarray | Sequence[np.ndarray]) -> HMCPreprocessor:
        """Fit on one array or on several stacked (e.g. ``[train.X, valid.X]``).

        Args:
            X: An array [n, d] or a list of them.

        Returns:
            This preprocessor.
        """
        parts = [X] if isinstance(X, np.ndarray) else list(X)
        self.pipeline.fit(np.vstack([self._own_means(np.asarray(p, dtype=np.float64)) for p in parts]))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Impute and standardise ``X``.

        Args:
            X: Features [n, d] (NaN = missing).

        Returns:
            float32 [n, d], ready for a model.
        """
        X = self._own_means(np.asarray(X, dtype=np.float64))
        return self.pipeline.transform(X).astype(np.float32)

    def _own_means(self, X: np.ndarray) -> np.ndarray:
        if self.impute != "per_split" or not np.isnan(X).any():
            return X
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN here
            means = np.nanmean(X, axis=0)
        X = X.copy()
        rows, cols = np.nonzero(np.isnan(X))
        X[rows, cols] = means[cols]
        return X


def fit_preprocessor(X: np.ndarray | Sequence[np.ndarray], impute: str = "train") -> HMCPreprocessor:
    """:class:`HMCPreprocessor` fitted on ``X`` (an array, or a list of arrays to stack).

    Args:
        X: The rows to fit on.
        impute: ``train`` or ``per_split``.

    Returns:
        The fitted preprocessor.
    """
    return HMCPreprocessor(impute).fit(X)


# --------------------------------------------------------------------------------- whole datasets
@dataclass(repr=False)
class HMCDataset:
    """A benchmark dataset: its taxonomy and train / valid (None for "others") / test splits."""

    name: str
    taxonomy: Taxonomy
    train: ArffSplit
    test: ArffSplit
    valid: ArffSplit | None = None
    is_go: bool = False
    _ancestors: list[np.ndarray] | None = field(default=None, init=False)
    _targets: dict[str, np.ndarray] = field(default_factory=dict, init=False)

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) if s is not None else "-" for s in (self.train, self.valid, self.test))
        return (f"HMCDataset({self.name}: {len(self.taxonomy)} nodes ({self.num_eval_nodes} evaluated), "
                f"{self.num_features} features, train/valid/test {sizes})")

    @property
    def num_features(self) -> int:
        """Feature columns (nominal attributes one-hot encoded)."""
        return self.train.X.shape[1]

    @property
    def num_eval_nodes(self) -> int:
        """Nodes scored (all but C-HMCNN's roots)."""
        return int(self.taxonomy.eval_mask.sum())

    def split(self, name: str) -> ArffSplit:
        """One split's file.

        Args:
            name: ``train``, ``valid`` or ``test``.

        Returns:
            The split.

        Raises:
            ValueError: For another name, or a split this dataset lacks.
        """
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        split = getattr(self, name)
        if split is None:
            raise ValueError(f"{self.name} has no {name} split")
        return split

    def targets(self, split: str) -> np.ndarray:
        """Ancestor-closed targets of ``split`` (cached).

        Args:
            split: ``train``, ``valid`` or ``test``.

        Returns:
            float32 [n, N].
        """
        if split not in self._targets:
            if self._ancestors is None:
                self._ancestors = ancestor_index(self.taxonomy)
            self._targets[split] = closed_targets(self.split(split).labels, self.taxonomy, self._ancestors)
        return self._targets[split]

    def fit_rows(self) -> list[np.ndarray]:
        """The feature rows C-HMCNN fits preprocessing on (and trains on): train ∪ valid.

        Returns:
            One array per split.
        """
        return [s.X for s in (self.train, self.valid) if s is not None]

    def preprocessor(self, impute: str = "train") -> HMCPreprocessor:
        """The preprocessor C-HMCNN fits (on :meth:`fit_rows`).

        Args:
            impute: ``train`` or ``per_split`` (see :class:`HMCPreprocessor`).

        Returns:
            The fitted preprocessor.
        """
        return fit_preprocessor(self.fit_rows(), impute)


def load_hmc_dataset(root: str | Path, name: str) -> HMCDataset:
    """Load e.g. ``"cellcycle_FUN"``, ``"cellcycle_GO"`` or ``"Diatoms_others"`` from C-HMCNN's layout.

    Looks (case-insensitively) for ``datasets_FUN/<name>/<name>.{train,valid,test}.arff``,
    ``datasets_GO/...`` or ``others/<Stem>_{train,trainvalid,test}.arff`` under ``root`` (or
    ``root/HMC_data``). All files must declare the same hierarchy and features.

    Args:
        root: The data folder.
        name: The dataset, e.g. ``cellcycle_FUN``.

    Returns:
        The dataset.

    Raises:
        AnnotationFormatError: If a split declares another hierarchy or other features.
    """
    stem, kind = _parse_name(name)
    is_go = kind == "go"
    files = _find_files(Path(root), stem, kind)
    splits = {split: read_arff(p, is_go=is_go) if p is not None else None for split, p in files.items()}
    reference, test = splits["train"], splits["test"]
    assert reference is not None and test is not None  # _find_files raises without train and test files
    for split in splits.values():
        if split is None or split is reference:
            continue
        if set(split.hierarchy) != set(reference.hierarchy):
            raise AnnotationFormatError(f"declares a different hierarchy from {reference.path}", split.path)
        if split.feature_names != reference.feature_names:
            raise AnnotationFormatError(f"declares different features from {reference.path}", split.path)
    train_file = reference.path.name  # spelled as on disk: "Diatoms_train.arff" → "Diatoms_others"
    canonical = f"{train_file[:len(stem)]}_{'others' if kind == 'others' else kind.upper()}"
    return HMCDataset(name=canonical, taxonomy=reference.taxonomy(), train=reference, valid=splits["valid"],
                      test=test, is_go=is_go)


def _parse_name(name: str) -> tuple[str, str]:
    match = re.fullmatch(r"(.+)_(fun|go|others)", str(name).strip(), re.IGNORECASE)
    if not match:
        raise ValueError(f"HMC dataset name {name!r} should look like 'cellcycle_FUN', 'cellcycle_GO' "
                         "or 'Diatoms_others'")
    return match.group(1), match.group(2).lower()


def _child(folder: Path, name: str) -> Path | None:
    """``folder/name`` matched case-insensitively, or None."""
    if not folder.is_dir():
        return None
    exact = folder / name
    if exact.exists():
        return exact
    return next((p for p in sorted(folder.iterdir()) if p.name.lower() == name.lower()), None)


def _find_files(root: Path, stem: str, kind: str) -> dict[str, Path | None]:
    bases = [root, root / "HMC_data"]
    looked: list[str] = []
    for base in bases:
        if kind == "others":
            found = _find_others(base, stem, looked)
        else:
            folder_name = f"datasets_{kind.upper()}"
            dataset = f"{stem}_{kind.upper()}"
            folder = _child(base, folder_name)
            folder = _child(folder, dataset) if folder is not None else None
            found = {s: _child(folder, f"{dataset}.{s}.arff") if folder else None for s in SPLITS}
            looked.append(str(base / folder_name / dataset / f"{dataset}.{{train,valid,test}}.arff"))
        if found["train"] is not None and found["test"] is not None:
            return found
    raise FileNotFoundError(f"HMC dataset {stem}_{kind}: train and test files not found; looked for "
                            + " and ".join(looked) + " (names matched case-insensitively)")


def _find_others(base: Path, stem: str, looked: list[str]) -> dict[str, Path | None]:
    folder = _child(base, "others")
    looked.append(str(base / "others" / f"{stem}[_tag]_{{train,trainvalid,test}}.arff"))
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder is not None else []

    def pick(split_words: str) -> Path | None:
        pattern = re.compile(rf"{re.escape(stem)}(_[a-z0-9]+)?_({split_words})\.arff", re.IGNORECASE)
        matches = [(m.group(1) is not None, p) for p in files if (m := pattern.fullmatch(p.name))]
        plain = [p for tagged, p in matches if not tagged]
        candidates = plain or [p for _, p in matches]
        if len(candidates) > 1:
            raise FileNotFoundError(f"several files match {stem} ({split_words}): "
                                    + ", ".join(p.name for p in candidates))
        return candidates[0] if candidates else None

    return {"train": pick("train|trainvalid"), "valid": None, "test": pick("test")}

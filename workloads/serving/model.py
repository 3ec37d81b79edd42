"""KServe ``Model`` serving a signed ONNX model with ONNX Runtime.

``load()`` verifies ``signature.json`` with the configured Ed25519 public key, refuses
a model signed for another name, reads every artifact once and checks the digest of
those bytes, then parses the model card and hands ONNX Runtime exactly the bytes that
were verified (no window to swap a file between check and load); it refuses a model
signed earlier than the one this server slot last served (anti-rollback,
:mod:`workloads.serving.rollback`). The card gives the feature order and categorical
codes, and the session is tuned: few intra-op threads without spinning (a batch-1
tabular model gains nothing from a thread pool, and spinning threads steal the cores
the HTTP loop needs), full graph optimisation, CUDA provider first when available.

Inputs are validated strictly before inference; every rejection is
:class:`kserve.errors.InvalidInput` (HTTP 400, gRPC INVALID_ARGUMENT) with one line
naming the field and what is allowed: input name, datatype (FP32 features or INT64
entity ids), shape ``[rows, n_features]``, row limit, non-numeric or non-finite
values, categorical codes outside the trained set.

Feature enrichment (optional): when built with a Feast repo, a request may carry only
entity ids (V2 input named after the entity key, INT64, shape ``[rows]`` or
``[rows, 1]``; V1 ``{"instances": [{"customer_id": 100001}, ...]}``); the model fetches
the feature service's online features and predicts on them.

Entity ids for the prediction log (erasure, PDPL): a request may name the customer each
row is about, one string per row (at most :data:`MAX_ENTITY_ID_CHARS` characters): V2
request ``"parameters": {"entity_ids": ["100001", ...]}`` (over gRPC, where parameters
are scalars, a string parameter holding that JSON array), V1 ``{"instances": [...],
"entity_ids": [...]}``. An entity-id lookup records its ids without being told. They go
into the prediction log only; a malformed list is 400 like any other bad input.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.serving import ENTITY_IDS_PARAMETER
from contracts.signing import VERIFY_KEY_PEM_ENV
from workloads.common.signing import (
    ArtifactVerificationError,
    SigningKeyError,
    VerifiedModel,
    load_public_key,
    public_key_from_pem,
    read_verified,
)
from workloads.serving._kserve import (
    InferOutput,
    InferRequest,
    InferResponse,
    InvalidInput,
    kserve,
)
from workloads.serving.metrics import PREDICTIONS
from workloads.serving.rollback import RollbackRefusedError, ServedState
from workloads.serving.session import select_providers, tuned_session_options

MODEL_FILE = "model.onnx"
CARD_FILE = "model_card.json"
REFERENCE_FILE = "reference_stats.json"
ENTITY_IDS = ENTITY_IDS_PARAMETER
"""Request parameter (V2) or body key (V1) with the row entity ids for the prediction log."""
MAX_ENTITY_ID_CHARS = 128


class ModelLoadError(RuntimeError):
    """The model cannot be loaded (missing, tampered, malformed); one-line message."""


@dataclass
class ServingOptions:
    """Runtime options of the model (the CLI flags map one to one)."""

    public_key: Path | bytes
    """A PEM file, or the PEM text itself (``$MLPLATFORM_VERIFY_KEY_PEM``)."""
    max_batch_rows: int = 1024
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    allow_spinning: bool = False
    execution_provider: str = "auto"
    feature_repo: Path | None = None
    feature_service: str | None = None
    prediction_logger: Any = None
    warmup: bool = True
    served_state: ServedState | None = None
    """Anti-rollback record of this server slot (None: not checked, e.g. tests of the model)."""
    served_slot: str = ""
    """Name of this server slot in messages and the record (default: the model name)."""
    allow_rollback: bool = False
    """Operator override: serve a model older than the recorded one, this start only."""


def _has_bool(values: Any) -> bool:
    if isinstance(values, bool):
        return True
    if isinstance(values, list):
        return any(_has_bool(value) for value in values)
    return False


def _finite_matrix(values: Any, where: str, *, maybe_bool: bool = True) -> np.ndarray:
    """Convert JSON-decoded numbers to float32; reject strings, booleans, ragged rows, NaN/inf.

    ``maybe_bool=False`` skips the per-value boolean scan; the HTTP path passes it when
    the raw body contains neither ``true`` nor ``false``.
    """
    if maybe_bool and _has_bool(values):
        raise InvalidInput(f"{where}: values must be numbers (booleans are not accepted)")
    try:
        arr = np.asarray(values)
    except ValueError:
        raise InvalidInput(f"{where}: rows must all have the same length") from None
    if arr.dtype == object:
        raise InvalidInput(f"{where}: rows must all have the same length and hold numbers only")
    if arr.dtype.kind not in "iuf":
        raise InvalidInput(
            f"{where}: values must be numbers, got {arr.dtype.kind!r}-typed data"
            " (strings and booleans are not accepted)"
        )
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise InvalidInput(f"{where}: NaN, infinity or values beyond float32 range are not allowed")
    return out


class OnnxModel(kserve.Model):
    """A signed ONNX model behind KServe's V1/V2 and gRPC protocols."""

    def __init__(self, name: str, model_dir: Path, options: ServingOptions) -> None:
        super().__init__(name)
        self.model_dir = Path(model_dir)
        self.options = options
        self.card: dict[str, Any] = {}
        self.features: list[str] = []
        self.version = ""
        self.input_name = "features"
        self.output_name = "probabilities"
        self.n_outputs = 2
        self.entity_key: str | None = None
        self._categorical: list[tuple[int, str, np.ndarray]] = []
        self._cat_cols: np.ndarray | None = None
        self._cat_lo = self._cat_hi = np.zeros(0, dtype=np.float32)
        self._session: Any = None
        self._store: Any = None
        self.providers: list[str] = []

    # Pickling (KServe's multi-worker path): ORT sessions and Feast stores do not
    # pickle, so they are dropped and rebuilt, re-verifying the signature.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_session"] = None
        state["_store"] = None
        # The rollback record was checked when this model loaded; a copy reloads the same
        # verified version and does not need it (an S3 client does not pickle).
        state["options"] = ServingOptions(
            **{**self.options.__dict__, "prediction_logger": None, "served_state": None}
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if state.get("ready"):
            self.ready = False
            self.load()

    # ---- loading -------------------------------------------------------------------
    def load(self) -> bool:
        """Verify, read the card, build the session; raise :class:`ModelLoadError`."""
        if not self.model_dir.is_dir():
            raise ModelLoadError(f"{self.model_dir}: model directory not found")
        verified = self._verified()
        self._read_card(self.model_dir / CARD_FILE, verified.contents[CARD_FILE])
        if self.version != verified.version or self.card.get("model_name") != verified.name:
            raise ModelLoadError(
                f"{self.model_dir / CARD_FILE}: names {self.card.get('model_name')!r} version"
                f" {self.version!r}, the signature {verified.name!r} version"
                f" {verified.version!r}; refusing"
            )
        self._open_session(verified.contents[MODEL_FILE])
        self._check_rollback(verified)
        if self.options.feature_repo is not None:
            self._load_feature_store()
        if self.options.warmup:
            for rows in (1, min(self.options.max_batch_rows, 256)):
                self._run(np.zeros((rows, len(self.features)), dtype=np.float32))
        self.ready = True
        return self.ready

    def _verified(self) -> VerifiedModel:
        """The signature, checked for this model's name, and the verified artifact bytes."""
        try:
            key = self.options.public_key
            public_key = (
                load_public_key(key)
                if isinstance(key, Path)
                else public_key_from_pem(key, f"${VERIFY_KEY_PEM_ENV}")
            )
            return read_verified(
                self.model_dir, public_key, required=[MODEL_FILE, CARD_FILE], model_name=self.name
            )
        except (SigningKeyError, ArtifactVerificationError) as exc:
            raise ModelLoadError(str(exc)) from None

    def _check_rollback(self, verified: VerifiedModel) -> None:
        """Refuse a model older than the slot's record; move the record forward."""
        state = self.options.served_state
        if state is None:
            return
        try:
            note = state.check_and_record(
                self.name,
                self.options.served_slot or self.name,
                verified.version,
                verified.created_at,
                allow_rollback=self.options.allow_rollback,
            )
        except RollbackRefusedError as exc:
            raise ModelLoadError(f"{self.model_dir}: {exc}") from None
        if note is not None:
            print(f"warning: {note}", file=sys.stderr, flush=True)

    def _read_card(self, card_path: Path, raw: bytes) -> None:
        """Feature order, tensor names, version and categorical codes from the card's bytes."""
        try:
            card = json.loads(raw.decode("utf-8"))
            self.features = [feature["name"] for feature in card["features"]]
            self.input_name = card["inputs"][0]["name"]
            self.output_name = card["outputs"][0]["name"]
            self.n_outputs = int(card["outputs"][0]["shape"][-1])
            self.version = str(card["model_version"])
            self._categorical = [
                (column, feature["name"], np.asarray(feature["categories"], dtype=np.float32))
                for column, feature in enumerate(card["features"])
                if feature.get("kind") == "categorical"
            ]
            code_sets = [codes for _, _, codes in self._categorical]
            contiguous = all(
                np.array_equal(codes, np.arange(codes[0], codes[0] + len(codes)))
                for codes in code_sets
            )
            if self._categorical and contiguous:
                self._cat_cols = np.asarray([column for column, _, _ in self._categorical])
                self._cat_lo = np.asarray([codes[0] for codes in code_sets], np.float32)
                self._cat_hi = np.asarray([codes[-1] for codes in code_sets], np.float32)
            self.entity_key = card.get("data", {}).get("entity_key")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{card_path}: malformed model card ({exc!r})") from None
        self.card = card

    def _open_session(self, model_bytes: bytes) -> None:
        """A tuned ONNX Runtime session whose input matches the card."""
        import onnxruntime as ort

        session_options = tuned_session_options(
            self.options.intra_op_threads,
            self.options.inter_op_threads,
            allow_spinning=self.options.allow_spinning,
        )
        try:
            self.providers = select_providers(self.options.execution_provider)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
        try:
            self._session = ort.InferenceSession(
                model_bytes, sess_options=session_options, providers=self.providers
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
            raise ModelLoadError(
                f"{self.model_dir / MODEL_FILE}: ONNX Runtime refused it ({exc})"
            ) from None
        inputs = self._session.get_inputs()
        if (
            len(inputs) != 1
            or inputs[0].name != self.input_name
            or inputs[0].shape[-1] != len(self.features)
        ):
            raise ModelLoadError(
                f"{self.model_dir / MODEL_FILE}: graph input does not match the model card"
                f" (want {self.input_name} [*, {len(self.features)}])"
            )

    def _load_feature_store(self) -> None:
        from feast import FeatureStore

        repo = self.options.feature_repo
        if repo is None or not (repo / "feature_store.yaml").is_file():
            raise ModelLoadError(f"{repo}: not a Feast repo (no feature_store.yaml)")
        service_name = self.options.feature_service or self.card["data"].get("feature_service")
        store = FeatureStore(repo_path=str(repo))
        try:
            service = store.get_feature_service(service_name)
        except Exception as exc:  # registry backends raise different not-found types
            raise ModelLoadError(f"feature service {service_name!r}: {exc}") from None
        names = [
            field.name
            for projection in service.feature_view_projections
            for field in projection.features
        ]
        if names != self.features:
            raise ModelLoadError(
                f"feature service {service_name!r} features {names} differ from the model's"
                f" {self.features}"
            )
        if not self.entity_key:
            raise ModelLoadError(f"{CARD_FILE}: data.entity_key missing; enrichment impossible")
        self._store = store
        self._service = service

    # ---- metadata --------------------------------------------------------------------
    def get_input_types(self) -> list[dict[str, Any]]:
        """V2 metadata of the inputs (feature matrix, and entity ids with enrichment)."""
        inputs = [{"name": self.input_name, "datatype": "FP32", "shape": [-1, len(self.features)]}]
        if self._store is not None and self.entity_key:
            inputs.append({"name": self.entity_key, "datatype": "INT64", "shape": [-1]})
        return inputs

    def get_output_types(self) -> list[dict[str, Any]]:
        """V2 metadata of the output."""
        return [{"name": self.output_name, "datatype": "FP32", "shape": [-1, self.n_outputs]}]

    @property
    def enrichment(self) -> bool:
        """Whether requests may carry entity ids instead of features."""
        return self._store is not None

    # ---- validation ------------------------------------------------------------------
    def _check_rows(self, rows: int, where: str) -> None:
        if rows < 1:
            raise InvalidInput(f"{where}: at least one row is required")
        if rows > self.options.max_batch_rows:
            raise InvalidInput(
                f"{where}: {rows} rows exceed the limit of {self.options.max_batch_rows}"
                " (--max_batch_rows)"
            )

    def validate_matrix(self, matrix: np.ndarray, where: str) -> np.ndarray:
        """Check a float32 feature matrix: shape, row limit, categorical codes."""
        n_features = len(self.features)
        if matrix.ndim != 2 or matrix.shape[1] != n_features:
            raise InvalidInput(
                f"{where}: shape must be [rows, {n_features}], got {list(matrix.shape)}"
            )
        self._check_rows(matrix.shape[0], where)
        if self._categorical and self._cat_cols is not None:
            # One vectorised pass when every code set is a contiguous integer range
            # (the common case); the per-column loop below only runs to name a failure.
            codes = matrix[:, self._cat_cols]
            in_range = (codes >= self._cat_lo) & (codes <= self._cat_hi)
            if (in_range & (codes == np.floor(codes))).all():
                return matrix
        for col, name, allowed in self._categorical:
            bad = ~np.isin(matrix[:, col], allowed)
            if bad.any():
                row = int(np.argmax(bad))
                raise InvalidInput(
                    f"{where}: feature {name} (column {col}) row {row} is {matrix[row, col]:g};"
                    f" allowed codes {[int(code) for code in allowed]}"
                )
        return matrix

    def matrix_from_v2(self, inputs: Any, *, maybe_bool: bool = True) -> np.ndarray | list[int]:
        """Validate a V2 JSON ``inputs`` list; return a feature matrix or entity ids."""
        if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
            raise InvalidInput("inputs: must be a list with exactly one tensor object")
        tensor = inputs[0]
        name = tensor.get("name")
        datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
        if not isinstance(shape, list) or not all(
            isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
        ):
            raise InvalidInput(
                f"inputs[0].shape: must be a list of non-negative integers, got {shape!r}"
            )
        if not isinstance(data, list):
            raise InvalidInput("inputs[0].data: must be a JSON array of numbers")
        if name == self.input_name:
            if datatype != "FP32":
                raise InvalidInput(f"inputs[0].datatype: must be FP32 for {name}, got {datatype!r}")
            if len(shape) != 2 or shape[1] != len(self.features):
                raise InvalidInput(
                    f"inputs[0].shape: must be [rows, {len(self.features)}], got {shape}"
                )
            self._check_rows(shape[0], "inputs[0].shape")
            arr = _finite_matrix(data, "inputs[0].data", maybe_bool=maybe_bool)
            if arr.size != shape[0] * shape[1]:
                raise InvalidInput(f"inputs[0].data: {arr.size} values do not fill shape {shape}")
            return self.validate_matrix(arr.reshape(shape), "inputs[0]")
        if self.enrichment and name == self.entity_key:
            if datatype != "INT64":
                raise InvalidInput(
                    f"inputs[0].datatype: must be INT64 for {name}, got {datatype!r}"
                )
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                raise InvalidInput(f"inputs[0].shape: must be [rows] or [rows, 1], got {shape}")
            return self._entity_ids(data, shape[0], "inputs[0]")
        allowed = [self.input_name] + ([self.entity_key] if self.enrichment else [])
        raise InvalidInput(f"inputs[0].name: must be one of {allowed}, got {name!r}")

    def _entity_ids(self, data: Any, rows: int, where: str) -> list[int]:
        flat = np.asarray(data, dtype=object).ravel() if isinstance(data, list) else None
        if flat is None or any(isinstance(v, bool) or not isinstance(v, int) for v in flat):
            raise InvalidInput(f"{where}: entity ids must be integers")
        self._check_rows(len(flat), where)
        if len(flat) != rows:
            raise InvalidInput(f"{where}: {len(flat)} ids do not match shape rows {rows}")
        return [int(v) for v in flat]

    def matrix_from_v1(self, body: Any, *, maybe_bool: bool = True) -> np.ndarray | list[int]:
        """Validate a V1 body ``{"instances": [...]}``; return a matrix or entity ids."""
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
            raise InvalidInput('body: must be {"instances": [...]} (KServe V1)')
        instances = body["instances"]
        self._check_rows(len(instances), "instances")
        if all(isinstance(instance, dict) for instance in instances):
            keys = set().union(*(instance.keys() for instance in instances))
            if self.enrichment and keys == {self.entity_key}:
                return self._entity_ids(
                    [instance[self.entity_key] for instance in instances],
                    len(instances),
                    "instances",
                )
            missing = [feature for feature in self.features if feature not in keys]
            extra = sorted(keys - set(self.features))
            if (
                missing
                or extra
                or any(len(instance) != len(self.features) for instance in instances)
            ):
                hint = f" or only {self.entity_key!r}" if self.enrichment else ""
                raise InvalidInput(
                    f"instances: objects must have exactly the keys {self.features}{hint};"
                    f" missing {missing}, unexpected {extra}"
                )
            values = [[instance[feature] for feature in self.features] for instance in instances]
            matrix = _finite_matrix(values, "instances", maybe_bool=maybe_bool)
            return self.validate_matrix(matrix, "instances")
        if all(isinstance(instance, list) for instance in instances):
            matrix = _finite_matrix(instances, "instances", maybe_bool=maybe_bool)
            return self.validate_matrix(matrix, "instances")
        raise InvalidInput("instances: each instance must be a list of numbers or an object")

    # ---- inference -------------------------------------------------------------------
    def enrich(self, ids: list[int]) -> np.ndarray:
        """Online features for entity ids, in model order; unknown ids are rejected."""
        result = self._store.get_online_features(
            features=self._service, entity_rows=[{self.entity_key: i} for i in ids]
        ).to_dict()
        columns = []
        for name in self.features:
            column = result[name]
            missing = [ids[row] for row, value in enumerate(column) if value is None]
            if missing:
                raise InvalidInput(
                    f"{self.entity_key} {missing[:5]}: no online features (unknown or not"
                    " materialised)"
                )
            columns.append(column)
        matrix = _finite_matrix(np.asarray(columns, dtype=np.float64).T, "online features")
        return self.validate_matrix(matrix, "online features")

    def _run(self, matrix: np.ndarray) -> np.ndarray:
        return self._session.run([self.output_name], {self.input_name: matrix})[0]

    def entity_ids(
        self, value: Any, parsed: np.ndarray | list[int], where: str
    ) -> list[str] | None:
        """Validated row entity ids of a request for the prediction log (None: not named).

        ``value`` is what the request sent (absent: None); an entity-id lookup (``parsed``
        a list of ids) names its rows itself.
        """
        rows = len(parsed) if isinstance(parsed, list) else int(parsed.shape[0])
        if value is None:
            return [str(i) for i in parsed] if isinstance(parsed, list) else None
        if isinstance(value, str):  # gRPC parameters are scalars: a JSON array in a string
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidInput(f"{where}: must be a JSON array of strings") from None
        if not isinstance(value, list):
            raise InvalidInput(f"{where}: must be a list of strings, one per row")
        if len(value) != rows:
            raise InvalidInput(f"{where}: {len(value)} ids for {rows} rows (one per row)")
        if not all(isinstance(v, str) and 0 < len(v) <= MAX_ENTITY_ID_CHARS for v in value):
            raise InvalidInput(
                f"{where}: ids must be non-empty strings of at most {MAX_ENTITY_ID_CHARS}"
                " characters"
            )
        return value

    def entity_ids_v2(
        self, request: dict[str, Any], parsed: np.ndarray | list[int]
    ) -> list[str] | None:
        """Row entity ids of a V2 JSON request (``parameters.entity_ids``)."""
        params = request.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise InvalidInput("parameters: must be a JSON object")
        value = params.get(ENTITY_IDS) if params else None
        return self.entity_ids(value, parsed, f"parameters.{ENTITY_IDS}")

    def entity_ids_v1(
        self, request: dict[str, Any], parsed: np.ndarray | list[int]
    ) -> list[str] | None:
        """Row entity ids of a V1 request (``entity_ids`` next to ``instances``)."""
        return self.entity_ids(request.get(ENTITY_IDS), parsed, ENTITY_IDS)

    def infer(self, matrix: np.ndarray, entity_ids: list[str] | None = None) -> np.ndarray:
        """Run a validated matrix; record the score distribution and the prediction log."""
        probabilities = self._run(matrix)
        PREDICTIONS.observe(self.name, probabilities[:, -1])
        logger = self.options.prediction_logger
        if logger is not None:
            logger.submit(matrix, probabilities, entity_ids)
        return probabilities

    def resolve(self, parsed: np.ndarray | list[int]) -> np.ndarray:
        """A parsed request (matrix or ids) to a validated feature matrix (sync)."""
        return self.enrich(parsed) if isinstance(parsed, list) else parsed

    async def resolve_async(self, parsed: np.ndarray | list[int]) -> np.ndarray:
        """Like :meth:`resolve`, with the online-store read off the event loop."""
        if isinstance(parsed, list):
            return await asyncio.to_thread(self.enrich, parsed)
        return parsed

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        """KServe entry point: V2 ``InferRequest`` (REST or gRPC) or V1 dict."""
        if isinstance(payload, InferRequest):
            if len(payload.inputs) != 1:
                raise InvalidInput("inputs: must hold exactly one tensor")
            tensor = payload.inputs[0]
            if tensor.name == self.input_name:
                if tensor.datatype != "FP32":
                    raise InvalidInput(f"inputs[0].datatype: must be FP32, got {tensor.datatype!r}")
                try:
                    arr = tensor.as_numpy()
                except (ValueError, TypeError) as exc:
                    raise InvalidInput(f"inputs[0]: data does not fit shape ({exc})") from None
                matrix = self.validate_matrix(_finite_matrix(arr, "inputs[0].data"), "inputs[0]")
                parsed: np.ndarray | list[int] = matrix
            elif self.enrichment and tensor.name == self.entity_key:
                try:
                    ids = tensor.as_numpy().astype(np.int64).ravel().tolist()
                except (ValueError, TypeError) as exc:
                    raise InvalidInput(f"inputs[0]: bad entity ids ({exc})") from None
                self._check_rows(len(ids), "inputs[0]")
                matrix, parsed = self.enrich(ids), ids
            else:
                raise InvalidInput(
                    f"inputs[0].name: must be {self.input_name!r}, got {tensor.name!r}"
                )
            row_ids = self.entity_ids(
                _parameter(payload.parameters, ENTITY_IDS),
                parsed,
                f"parameters.{ENTITY_IDS}",
            )
            probabilities = self.infer(matrix, row_ids)
            output = InferOutput(
                name=self.output_name, shape=list(probabilities.shape), datatype="FP32"
            )
            output.set_data_from_numpy(probabilities, binary_data=False)
            return InferResponse(
                response_id=payload.id or "",
                model_name=self.name,
                model_version=self.version,
                infer_outputs=[output],
                from_grpc=payload.from_grpc,
            )
        parsed = self.matrix_from_v1(payload)
        row_ids = self.entity_ids_v1(payload, parsed)
        return {"predictions": self.infer(self.resolve(parsed), row_ids).tolist()}


def _parameter(params: Any, key: str) -> Any:
    """One request parameter: REST gives a dict, gRPC a map of ``InferParameter``."""
    if not params or key not in params:
        return None
    value = params[key]
    if isinstance(value, dict | list | str | int | float | bool):
        return value
    choice = value.WhichOneof("parameter_choice")
    return getattr(value, choice) if choice else None

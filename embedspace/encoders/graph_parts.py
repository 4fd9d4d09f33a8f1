"""The nodes and initializers of an ONNX graph being written by hand, and the two helpers
that add them (``bert_graph`` and ``row_int8`` write their graphs with these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class GraphParts:
    """Collects ``onnx`` nodes and initializers; each node is named after its output."""

    nodes: list[Any] = field(default_factory=list)
    inits: list[Any] = field(default_factory=list)

    def const(self, name: str, value: np.ndarray) -> str:
        """Add ``value`` as an initializer called ``name``; return the name."""
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        """Add an ``op`` node reading ``inputs`` and writing ``output``; return ``output``."""
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def nodes_out(self, op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> list[str]:
        """Add an ``op`` node with several ``outputs`` (named after the first); return them."""
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs

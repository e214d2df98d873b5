"""Check an uploaded model file before any converter or runtime opens it.

An ONNX tensor can keep its bytes in a file beside the model (`data_location: EXTERNAL`, with a
`location` key that may be `../../etc/passwd`); OpenVINO and ONNX Runtime would read that file.
Such tensors hide not only in the top-level initializers but in sparse initializers, Constant
nodes, any tensor-valued attribute, the subgraphs of If / Loop / Scan, local functions and training
graphs, so every one of them is walked. This parses the protobuf in the calling process: the web
server should call it from a worker process, not from a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ModelFileError

if TYPE_CHECKING:
    import onnx

__all__ = ["OnnxInfo", "check_onnx"]

_DEFAULT_DOMAINS = ("", "ai.onnx")
_NAME_CHARS = 60  # names come from the file: shown shortened and escaped


@dataclass(frozen=True)
class OnnxInfo:
    """What the import needs from a checked ONNX model; an unknown dimension is -1."""

    input_name: str
    input_shape: tuple[int, ...]
    opset: int
    nodes: int  # nodes of the main graph, not counting those inside subgraphs


def check_onnx(path: Path, *, max_bytes: int) -> OnnxInfo:
    """Refuse an ONNX file that is too large, does not parse, refers to external data anywhere,
    or does not take exactly one input; describe its input otherwise."""
    import onnx

    path = Path(path)
    if not path.is_file():
        msg = f"{path.name} does not exist or is not a file; check the path"
        raise ModelFileError(msg)
    size = path.stat().st_size
    if size > max_bytes:
        msg = (
            f"{path.name} is {_bytes(size)}, more than the {_bytes(max_bytes)} allowed for a model file; "
            "choose a smaller model"
        )
        raise ModelFileError(msg)
    try:
        model = onnx.load(str(path), format="protobuf", load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, onnx's own errors, truncated files
        msg = (
            f"{path.name} is not a readable ONNX model ({type(exc).__name__}); export it again with "
            "torch.onnx.export"
        )
        raise ModelFileError(msg) from exc
    if not model.HasField("graph") or not model.graph.node:
        msg = f"{path.name} is not an ONNX model (it holds no graph); export it again with torch.onnx.export"
        raise ModelFileError(msg)
    for tensor, where in _all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0:
            msg = (
                f"{path.name} keeps weights in external files (in {where}); "
                "export it as one self-contained .onnx file"
            )
            raise ModelFileError(msg)
    opsets = [entry.version for entry in model.opset_import if entry.domain in _DEFAULT_DOMAINS]
    if not opsets:
        msg = f"{path.name} declares no ONNX operator set version; export it again with torch.onnx.export"
        raise ModelFileError(msg)
    graph = model.graph
    constants = {t.name for t in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    inputs = [value for value in graph.input if value.name not in constants]
    if len(inputs) != 1:
        names = ", ".join(_quote(value.name) for value in inputs[:5]) + (", ..." if len(inputs) > 5 else "")
        msg = (
            f"{path.name} has {len(inputs)} inputs{f' ({names})' if inputs else ''}; "
            "an image classifier takes one image tensor"
        )
        raise ModelFileError(msg)
    value = inputs[0]
    if not value.type.HasField("tensor_type"):
        msg = (
            f"{path.name} takes {_quote(value.name)}, which is not a tensor; "
            "an image classifier takes one image tensor"
        )
        raise ModelFileError(msg)
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else -1
        for d in value.type.tensor_type.shape.dim
    )
    return OnnxInfo(input_name=value.name, input_shape=dims, opset=max(opsets), nodes=len(graph.node))


def _all_tensors(model: onnx.ModelProto) -> Iterator[tuple[onnx.TensorProto, str]]:
    """Every tensor of every graph, subgraph, local function and training graph, with where it is.

    A work list rather than recursion: nesting depth is the file's choice.
    """
    graphs: list[tuple[onnx.GraphProto, str]] = [(model.graph, "")]
    graphs += [(info.initialization, " of training graph 'initialization'") for info in model.training_info]
    graphs += [(info.algorithm, " of training graph 'algorithm'") for info in model.training_info]
    for function in model.functions:
        scope = f" of function {_quote(f'{function.domain}.{function.name}')}"
        for attribute in function.attribute_proto:
            yield from _attribute_tensors(
                attribute, f"default attribute {_quote(attribute.name)}", scope, graphs
            )
        for index, node in enumerate(function.node):
            for attribute in node.attribute:
                yield from _attribute_tensors(attribute, _node_text(node, index), scope, graphs)
    while graphs:
        graph, scope = graphs.pop()
        for tensor in graph.initializer:
            yield tensor, f"initializer {_quote(tensor.name)}{scope}"
        for sparse in graph.sparse_initializer:
            yield sparse.values, f"the values of sparse initializer {_quote(sparse.values.name)}{scope}"
            yield sparse.indices, f"the indices of sparse initializer {_quote(sparse.values.name)}{scope}"
        for index, node in enumerate(graph.node):
            for attribute in node.attribute:
                yield from _attribute_tensors(attribute, _node_text(node, index), scope, graphs)


def _attribute_tensors(
    attribute: onnx.AttributeProto, owner: str, scope: str, graphs: list[tuple[onnx.GraphProto, str]]
) -> Iterator[tuple[onnx.TensorProto, str]]:
    """Tensors of one attribute; its subgraphs go on the work list. Fields are read whatever the
    declared attribute type says, since a file can declare one type and fill another field."""
    where = f"{owner}{scope}"
    if attribute.HasField("t"):
        yield attribute.t, where
    for tensor in attribute.tensors:
        yield tensor, where
    sparse = [attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []
    for item in [*sparse, *attribute.sparse_tensors]:
        yield item.values, where
        yield item.indices, where
    if attribute.HasField("g"):
        graphs.append((attribute.g, f" of subgraph {_quote(attribute.name)}{_of(owner)}{scope}"))
    for index, graph in enumerate(attribute.graphs):
        graphs.append((graph, f" of subgraph {_quote(f'{attribute.name}[{index}]')}{_of(owner)}{scope}"))


def _node_text(node: onnx.NodeProto, index: int) -> str:
    op = _short(node.op_type) or "unknown"
    return f"{op} node {_quote(node.name)}" if node.name else f"unnamed {op} node #{index}"


def _of(owner: str) -> str:
    return f" ({owner})"


def _quote(name: str) -> str:
    return repr(_short(name))


def _short(name: str) -> str:
    return name if len(name) <= _NAME_CHARS else name[: _NAME_CHARS - 1] + "…"


def _bytes(count: int) -> str:
    return f"{count / 2**20:,.1f} MiB" if count >= 2**20 else f"{count:,} bytes"
